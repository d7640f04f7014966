"""Pieces shared by the encoder-decoder families (T5, BART and its variants).

:func:`shift_tokens_right` builds decoder inputs from labels, :func:`seq2seq_loss` is the token cross entropy
with ``-100`` ignored, and :class:`Seq2SeqLMMixin` gives a ``*ForConditionalGeneration`` class ``generate()``,
``generation_config`` (from ``generation_config.json``), ``get_encoder``/``get_decoder`` and the common checks.
The task heads on a seq2seq body share :class:`ClassificationHead`, :func:`pool_last_eos` and :func:`span_logits`.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from embrace.errors import EmbraceError, InvalidConfigError
from embrace.models.generation_support import GenerationConfigMixin
from embrace.models.heads import question_answering_loss
from embrace.models.linear import Linear
from embrace.models.outputs import BaseModelOutput, Seq2SeqModelOutput

_ModelT = TypeVar("_ModelT")


class MissingDecoderStartError(InvalidConfigError):
    """Decoder inputs cannot be built: ``decoder_start_token_id`` (or ``pad_token_id``) is not set."""


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int | None, decoder_start_token_id: int | None
                       ) -> torch.Tensor:
    """Decoder inputs for ``labels`` (batch, seq): ``decoder_start_token_id`` then the labels shifted right by one,
    with ``-100`` replaced by ``pad_token_id`` (the reference's semantics)."""
    if decoder_start_token_id is None:
        raise MissingDecoderStartError(
            "decoder_start_token_id is not set: set config.decoder_start_token_id (T5 uses the pad id 0, BART the "
            "eos id 2) or pass decoder_input_ids yourself")
    if pad_token_id is None:
        raise MissingDecoderStartError("pad_token_id is not set: set config.pad_token_id so -100 labels can be "
                                       "replaced in the decoder inputs")
    shifted = labels.new_zeros(labels.shape)
    shifted[..., 1:] = labels[..., :-1].clone()
    shifted[..., 0] = decoder_start_token_id
    return shifted.masked_fill_(shifted == -100, pad_token_id)


def seq2seq_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross entropy of ``logits`` (batch, seq, vocab) against ``labels`` (batch, seq); -100 is ignored."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.to(logits.device).reshape(-1),
                           ignore_index=-100)


def as_encoder_output(encoder_outputs: Any) -> BaseModelOutput:
    """Accept a :class:`BaseModelOutput`, a tuple ``(last_hidden_state, ...)`` or a bare tensor."""
    if isinstance(encoder_outputs, BaseModelOutput):
        return encoder_outputs
    if isinstance(encoder_outputs, torch.Tensor):
        return BaseModelOutput(last_hidden_state=encoder_outputs)
    if isinstance(encoder_outputs, tuple | list) and encoder_outputs:
        return BaseModelOutput(last_hidden_state=encoder_outputs[0],
                               hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
                               attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None)
    if hasattr(encoder_outputs, "last_hidden_state"):
        return BaseModelOutput(last_hidden_state=encoder_outputs.last_hidden_state,
                               hidden_states=getattr(encoder_outputs, "hidden_states", None),
                               attentions=getattr(encoder_outputs, "attentions", None))
    raise TypeError(f"encoder_outputs must be a BaseModelOutput or a tuple (last_hidden_state, ...), "
                    f"got {type(encoder_outputs).__name__}")


def decoder_inputs_from_labels(config: Any, labels: torch.Tensor | None, decoder_input_ids: torch.Tensor | None,
                               decoder_inputs_embeds: torch.Tensor | None = None) -> torch.Tensor | None:
    """``decoder_input_ids`` as given, or shifted from ``labels`` when only labels were passed."""
    if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
        return shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
    return decoder_input_ids


class Seq2SeqLMMixin(GenerationConfigMixin):
    """For ``*ForConditionalGeneration`` classes (mixed in before :class:`PreTrainedModel`).

    The class provides ``get_encoder()``/``get_decoder()``; the mixin adds ``generate()``, the generation config
    (read from ``generation_config.json`` next to the weights, else derived from config.json) and saving it.
    """

    config: Any

    @classmethod
    def from_pretrained(cls: Any, path_or_repo_id: str | os.PathLike[str], **kwargs: Any) -> Any:
        """As :meth:`PreTrainedModel.from_pretrained`, plus ``generation_config.json``."""
        hub = {k: kwargs[k] for k in ("revision", "cache_dir", "token", "local_files_only") if k in kwargs}
        model = super().from_pretrained(path_or_repo_id, **kwargs)  # type: ignore[misc]
        model.load_generation_config(path_or_repo_id, **hub)
        return model

    def save_pretrained(self, save_directory: str | os.PathLike[str], **kwargs: Any) -> None:
        super().save_pretrained(save_directory, **kwargs)  # type: ignore[misc]
        self.save_generation_config(save_directory)

    def generate(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 generation_config: Any = None, **kwargs: Any) -> Any:
        """Encode ``input_ids`` once and decode from ``decoder_start_token_id``; returns the decoder sequences.
        See :func:`embrace.generation.generate.generate` for the arguments."""
        from embrace.generation.generate import generate

        return generate(self, input_ids, attention_mask=attention_mask, generation_config=generation_config,
                        **kwargs)

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)


# ---- task heads on a seq2seq body ----------------------------------------------------------------------------------
class EosPoolingError(EmbraceError, ValueError):
    """Sequence classification pools the last ``</s>``; the inputs lack one or have different counts."""


class ClassificationHead(nn.Module):
    """dropout -> dense -> tanh -> dropout -> out_proj over a pooled (last eos) decoder state (BART's and T5's)."""

    def __init__(self, width: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.dense = Linear(width, width)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = Linear(width, num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(hidden)))))


def pool_last_eos(hidden: torch.Tensor, input_ids: torch.Tensor | None, eos_token_id: int | list[int] | None,
                  model_name: str) -> torch.Tensor:
    """The decoder state (batch, width) at each row's last ``eos`` of ``input_ids`` (batch, seq); every row must
    hold the same number of eos tokens, as the reference requires."""
    if input_ids is None:
        raise ValueError(f"{model_name} pools the eos token, so it needs input_ids (not inputs_embeds)")
    if eos_token_id is None:
        raise EosPoolingError("config.eos_token_id is not set: sequence classification pools the eos token")
    eos_mask = input_ids.eq(eos_token_id if isinstance(eos_token_id, int) else eos_token_id[0]).to(hidden.device)
    counts = eos_mask.sum(1)
    if bool((counts == 0).any()):
        raise EosPoolingError("every row of input_ids must contain the eos token (the tokenizer adds it)")
    if bool((counts != counts[0]).any()):
        raise EosPoolingError("all rows of input_ids must contain the same number of eos tokens")
    return hidden[eos_mask, :].view(hidden.shape[0], -1, hidden.shape[-1])[:, -1, :]


def span_logits(qa_outputs: nn.Module, hidden: torch.Tensor, start_positions: torch.Tensor | None,
                end_positions: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Extractive QA: ``qa_outputs`` (width -> 2) over ``hidden`` (batch, seq, width) -> start and end logits
    (batch, seq), plus the mean start/end cross entropy when both position tensors (batch,) are given."""
    logits = qa_outputs(hidden)
    if logits.shape[-1] != 2:
        raise InvalidConfigError(f"a question-answering head has 2 outputs (start, end), this one has "
                                 f"{logits.shape[-1]}: set num_labels=2")
    start, end = (part.squeeze(-1).contiguous() for part in logits.split(1, dim=-1))
    loss = None
    if start_positions is not None and end_positions is not None:
        starts = start_positions.reshape(-1).to(start.device)
        ends = end_positions.reshape(-1).to(end.device)
        loss = question_answering_loss(start, end, starts, ends)
    return start, end, loss


def body_fields(out: Seq2SeqModelOutput) -> dict[str, Any]:
    """The fields of a seq2seq body's output that every head's output repeats (cache, states, attentions)."""
    return dict(past_key_values=out.past_key_values, decoder_hidden_states=out.decoder_hidden_states,
                decoder_attentions=out.decoder_attentions, cross_attentions=out.cross_attentions,
                encoder_last_hidden_state=out.encoder_last_hidden_state,
                encoder_hidden_states=out.encoder_hidden_states, encoder_attentions=out.encoder_attentions)


def force_two_labels(config: Any) -> None:
    """Question-answering heads have two outputs (start, end): make the config say so, as the reference does."""
    if config.num_labels != 2:
        config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
        config.label2id = {"LABEL_0": 0, "LABEL_1": 1}
        config.num_labels = 2
