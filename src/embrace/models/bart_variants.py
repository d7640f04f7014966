"""mBART, Marian and Pegasus: BART with other switches (see :class:`embrace.models.bart.BartConfig`).

| family  | LayerNorm                  | layernorm_embedding | positions          | decoder start          |
|---------|----------------------------|---------------------|--------------------|------------------------|
| BART    | after each block (post-LN) | yes                 | learned, offset 2  | ``</s>`` (2)           |
| mBART   | before (pre-LN) + final    | yes                 | learned, offset 2  | the language code      |
| Marian  | after (post-LN)            | no                  | sinusoidal         | ``<pad>``              |
| Pegasus | before (pre-LN) + final    | no                  | sinusoidal         | ``<pad>`` (0)          |

Marian may also give the decoder its own vocabulary (``share_encoder_decoder_embeddings=False``,
``decoder_vocab_size``); its LM head is then tied to ``model.decoder.embed_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from embrace.models.bart import (
    BartConfig,
    BartForConditionalGeneration,
    BartForQuestionAnswering,
    BartForSequenceClassification,
    BartModel,
)
from embrace.models.configuration import PretrainedConfig
from embrace.models.seq2seq import MissingDecoderStartError


# ---- mBART ----------------------------------------------------------------------------------------------------------
def mbart_shift_tokens_right(input_ids: torch.Tensor, pad_token_id: int | None) -> torch.Tensor:
    """mBART's decoder inputs: the ids shifted right, with the last non-pad token (the target language code,
    which mBART puts at the end of each row) wrapped around to the front. ``-100`` becomes ``pad_token_id``.
    Assumes right padding, as the reference does."""
    if pad_token_id is None:
        raise MissingDecoderStartError("pad_token_id is not set: mBART needs it to find each row's language code")
    shifted = input_ids.clone().masked_fill_(input_ids == -100, pad_token_id)
    last = (shifted.ne(pad_token_id).sum(dim=1) - 1).clamp(min=0).unsqueeze(-1)
    start = shifted.gather(1, last).squeeze(-1)
    shifted[:, 1:] = shifted[:, :-1].clone()
    shifted[:, 0] = start
    return shifted


@dataclass(kw_only=True)
class MBartConfig(BartConfig):
    model_type: ClassVar[str] = "mbart"
    normalize_before: ClassVar[bool] = True
    default_num_labels: ClassVar[int] = 2

    vocab_size: int = 50265
    decoder_start_token_id: int | None = None


class MBartModel(BartModel):
    config_class: ClassVar[type[PretrainedConfig]] = MBartConfig

    def decoder_inputs_from_input_ids(self, input_ids: torch.Tensor | None) -> torch.Tensor:
        if input_ids is None:
            raise ValueError("pass decoder_input_ids (or decoder_inputs_embeds, or labels), or input_ids to shift")
        return mbart_shift_tokens_right(input_ids, self.config.pad_token_id)


class MBartForConditionalGeneration(BartForConditionalGeneration):
    """mBART / mBART-50 translation. Labels become decoder inputs with :func:`mbart_shift_tokens_right`; for
    generation set ``forced_bos_token_id`` to the target language code (mBART-50) or ``decoder_start_token_id``."""

    config_class: ClassVar[type[PretrainedConfig]] = MBartConfig
    base_class: ClassVar[type[BartModel]] = MBartModel

    def decoder_inputs_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return mbart_shift_tokens_right(labels, self.config.pad_token_id)


class MBartForSequenceClassification(BartForSequenceClassification):
    config_class: ClassVar[type[PretrainedConfig]] = MBartConfig
    base_class: ClassVar[type[BartModel]] = MBartModel


class MBartForQuestionAnswering(BartForQuestionAnswering):
    """mBART + the span head; the decoder reads the source shifted with :func:`mbart_shift_tokens_right`."""

    config_class: ClassVar[type[PretrainedConfig]] = MBartConfig
    base_class: ClassVar[type[BartModel]] = MBartModel


# ---- Marian ---------------------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class MarianConfig(BartConfig):
    """Helsinki-NLP/opus-mt-* configs."""

    model_type: ClassVar[str] = "marian"
    has_layernorm_embedding: ClassVar[bool] = False
    sinusoidal_positions: ClassVar[bool] = True
    scale_given_embeds: ClassVar[bool] = True
    default_num_labels: ClassVar[int] = 2

    vocab_size: int = 58101
    decoder_vocab_size: int | None = None
    share_encoder_decoder_embeddings: bool = True
    decoder_start_token_id: int | None = 58100
    pad_token_id: int | None = 58100
    eos_token_id: int | list[int] | None = 0
    bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = 0

    def __post_init__(self) -> None:
        self.decoder_vocab_size = self.decoder_vocab_size or self.vocab_size
        super().__post_init__()

    @property
    def target_vocab_size(self) -> int:
        return self.decoder_vocab_size or self.vocab_size


class MarianModel(BartModel):
    config_class: ClassVar[type[PretrainedConfig]] = MarianConfig
    persistent_positions: ClassVar[bool] = False  # the reference does not save Marian's sin/cos tables

    def decoder_inputs_from_input_ids(self, input_ids: torch.Tensor | None) -> torch.Tensor:
        raise ValueError("Marian needs decoder_input_ids (or decoder_inputs_embeds, or labels on MarianMTModel)")


class MarianMTModel(BartForConditionalGeneration):
    """Marian translation models; decoding starts from ``<pad>``."""

    config_class: ClassVar[type[PretrainedConfig]] = MarianConfig
    base_class: ClassVar[type[BartModel]] = MarianModel


# ---- Pegasus --------------------------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class PegasusConfig(BartConfig):
    """google/pegasus-* configs."""

    model_type: ClassVar[str] = "pegasus"
    normalize_before: ClassVar[bool] = True
    has_layernorm_embedding: ClassVar[bool] = False
    sinusoidal_positions: ClassVar[bool] = True
    scale_given_embeds: ClassVar[bool] = True
    default_num_labels: ClassVar[int] = 2

    vocab_size: int = 50265
    decoder_start_token_id: int | None = 0
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1
    bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = 1


class PegasusModel(BartModel):
    config_class: ClassVar[type[PretrainedConfig]] = PegasusConfig

    def decoder_inputs_from_input_ids(self, input_ids: torch.Tensor | None) -> torch.Tensor:
        raise ValueError("Pegasus needs decoder_input_ids (or decoder_inputs_embeds, or labels on "
                         "PegasusForConditionalGeneration)")


class PegasusForConditionalGeneration(BartForConditionalGeneration):
    """Pegasus summarisation models; decoding starts from ``<pad>`` (0)."""

    config_class: ClassVar[type[PretrainedConfig]] = PegasusConfig
    base_class: ClassVar[type[BartModel]] = PegasusModel
