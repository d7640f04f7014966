"""Model outputs: dataclasses that also behave like the reference's ``ModelOutput``.

``out.logits``, ``out["logits"]`` and ``out[0]`` all work; integer indexing and ``to_tuple()`` skip ``None`` fields,
so ``loss, logits = model(..., labels=y)[:2]`` works as in transformers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch


class ModelOutput:
    """Mixin for output dataclasses: attribute, key and index access."""

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(v for _, v in self.items())

    def keys(self) -> list[str]:
        return [k for k, _ in self.items()]

    def values(self) -> list[Any]:
        return [v for _, v in self.items()]

    def items(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if getattr(self, f.name) is not None]  # type: ignore[arg-type]

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.items())


Hidden = tuple[torch.Tensor, ...] | None


@dataclass
class BaseModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor
    hidden_states: Hidden = None
    attentions: Hidden = None


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: torch.Tensor
    pooler_output: torch.Tensor | None = None
    hidden_states: Hidden = None
    attentions: Hidden = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: Hidden = None
    attentions: Hidden = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: Hidden = None
    attentions: Hidden = None


TokenClassifierOutput = SequenceClassifierOutput


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    hidden_states: Hidden = None
    attentions: Hidden = None


# ---- encoder-decoder (seq2seq) outputs ---------------------------------------------------------------------------
# ``past_key_values`` is an :class:`embrace.models.cache.EncoderDecoderCache` (typed ``Any`` to keep this module free
# of cache imports).


@dataclass
class Seq2SeqModelOutput(ModelOutput):
    """A seq2seq body: the decoder's last hidden state plus the encoder's, as the reference names them."""

    last_hidden_state: torch.Tensor
    past_key_values: Any = None
    decoder_hidden_states: Hidden = None
    decoder_attentions: Hidden = None
    cross_attentions: Hidden = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Hidden = None
    encoder_attentions: Hidden = None


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    """A seq2seq LM: ``logits`` (batch, target_len, vocab), the loss when ``labels`` were given, and the cache."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: Hidden = None
    decoder_attentions: Hidden = None
    cross_attentions: Hidden = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Hidden = None
    encoder_attentions: Hidden = None


@dataclass
class BaseModelOutputWithPastAndCrossAttentions(ModelOutput):
    """A decoder stack: last hidden state, its cache, and (on request) per-layer states and attentions."""

    last_hidden_state: torch.Tensor
    past_key_values: Any = None
    hidden_states: Hidden = None
    attentions: Hidden = None
    cross_attentions: Hidden = None


@dataclass
class Seq2SeqSequenceClassifierOutput(Seq2SeqLMOutput):
    """A seq2seq classifier: ``logits`` (batch, num_labels) from the decoder state at the last eos token; the
    other fields (and their order) are the LM output's."""


@dataclass
class Seq2SeqQuestionAnsweringModelOutput(ModelOutput):
    """Extractive QA on a seq2seq body: ``start_logits``/``end_logits`` (batch, target_len) over decoder positions."""

    loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: Hidden = None
    decoder_attentions: Hidden = None
    cross_attentions: Hidden = None
    encoder_last_hidden_state: torch.Tensor | None = None
    encoder_hidden_states: Hidden = None
    encoder_attentions: Hidden = None
