"""T5 / mT5 task heads with the reference's class names, module names and outputs.

- ``T5ForSequenceClassification``: ``transformer`` (a :class:`T5Model`, the decoder reading the source shifted
  right) + ``classification_head`` on the decoder state of the last eos token, as BART's.
- ``T5ForTokenClassification``: ``transformer`` (a :class:`T5EncoderModel`) + dropout + ``classifier``.
- ``T5ForQuestionAnswering``: ``shared``/``encoder``/``decoder`` at the top level (no ``transformer.`` prefix in
  its checkpoints, as in the reference) + ``qa_outputs``; start/end logits over the decoder positions.

Each loads a plain T5 checkpoint (``T5ForConditionalGeneration``'s, say) with a freshly initialised head, and its
own checkpoints load back into the other T5 classes. Importable from :mod:`embrace.models.t5`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.models.heads import sequence_classification_loss, token_classification_loss
from embrace.models.linear import Linear
from embrace.models.modeling import LoadingReport
from embrace.models.outputs import (
    Seq2SeqQuestionAnsweringModelOutput,
    Seq2SeqSequenceClassifierOutput,
    TokenClassifierOutput,
)
from embrace.models.seq2seq import ClassificationHead, body_fields, pool_last_eos, shift_tokens_right, span_logits
from embrace.models.t5 import (
    MT5Config,
    T5Config,
    T5EncoderModel,
    T5Model,
    T5PreTrainedModel,
    T5Stack,
    _T5EncoderDecoder,
)

logger = logging.getLogger(__name__)

T5ClassificationHead = ClassificationHead  # the reference's name: dense -> tanh -> out_proj, dropout around


def _shift_source(config: T5Config, input_ids: torch.Tensor | None, decoder_input_ids: torch.Tensor | None,
                  decoder_inputs_embeds: torch.Tensor | None) -> torch.Tensor | None:
    """The reference's default decoder inputs for the heads: the source ids shifted right."""
    if decoder_input_ids is not None or decoder_inputs_embeds is not None:
        return decoder_input_ids
    if input_ids is None:
        raise ValueError("pass decoder_input_ids (or decoder_inputs_embeds), or input_ids to shift right")
    return shift_tokens_right(input_ids, config.pad_token_id, config.decoder_start_token_id)


class _T5WithBody(T5PreTrainedModel):
    """A head on a T5 body kept under ``transformer`` (the reference's layout for these two heads)."""

    transformer: T5Model | T5EncoderModel

    def get_input_embeddings(self) -> nn.Module:
        return self.transformer.shared

    def get_encoder(self) -> T5Stack:
        return self.transformer.encoder


class T5ForSequenceClassification(_T5WithBody):
    """T5 + a classification head on the decoder state at the last eos of ``input_ids`` (GLUE-style tasks)."""

    aliased_weights: ClassVar[dict[str, str]] = {
        "transformer.encoder.embed_tokens.weight": "transformer.shared.weight",
        "transformer.decoder.embed_tokens.weight": "transformer.shared.weight"}
    ignore_unexpected: ClassVar[tuple[str, ...]] = (
        r"(^|\.)position_ids$", r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias",
        r"(^|\.)lm_head\.")

    transformer: T5Model

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.transformer = T5Model(config)
        self.classification_head = T5ClassificationHead(config.d_model, config.num_labels or 2,
                                                        config.classifier_dropout)
        self.post_init()

    def init_weights(self, module: nn.Module) -> None:
        super().init_weights(module)
        head = self.classification_head
        if module is head.dense or module is head.out_proj:
            nn.init.normal_(module.weight, std=self.config.initializer_factor * self.config.d_model ** -0.5)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, inputs_embeds: torch.Tensor | None = None,
                decoder_inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                use_cache: bool | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **_: Any) -> Any:
        """``input_ids`` (batch, seq), every row with the same number of eos tokens -> ``logits``
        (batch, num_labels); ``labels`` add the loss chosen by ``config.problem_type``."""
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} pools the eos token, so it needs input_ids (not inputs_embeds)")
        decoder_input_ids = _shift_source(self.config, input_ids, decoder_input_ids, decoder_inputs_embeds)
        out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                               decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                               decoder_inputs_embeds=decoder_inputs_embeds,
                               use_cache=False if labels is not None else use_cache,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        pooled = pool_last_eos(out.last_hidden_state, input_ids, self.config.eos_token_id, type(self).__name__)
        logits = self.classification_head(pooled)
        loss = sequence_classification_loss(logits, labels.to(logits.device), self.config) if labels is not None \
            else None
        result = Seq2SeqSequenceClassifierOutput(loss=loss, logits=logits, **body_fields(out))
        return result if return_dict is not False else result.to_tuple()


class T5ForTokenClassification(_T5WithBody):
    """The T5 encoder + a linear ``classifier`` per token: ``logits`` (batch, seq, num_labels)."""

    aliased_weights: ClassVar[dict[str, str]] = {"transformer.encoder.embed_tokens.weight": "transformer.shared.weight"}
    ignore_unexpected: ClassVar[tuple[str, ...]] = (r"(^|\.)position_ids$", r"(^|\.)decoder\.", r"(^|\.)lm_head\.")

    transformer: T5EncoderModel

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.transformer = T5EncoderModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = Linear(config.d_model, config.num_labels or 2)
        self.post_init()

    def init_weights(self, module: nn.Module) -> None:
        super().init_weights(module)
        if module is self.classifier:
            nn.init.normal_(module.weight, std=self.config.initializer_factor)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **_: Any) -> Any:
        """``input_ids`` (batch, seq) -> ``logits`` (batch, seq, num_labels); ``labels`` (batch, seq; -100
        ignored) add the token cross entropy."""
        out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = token_classification_loss(logits, labels.to(logits.device)) if labels is not None else None
        result = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states,
                                       attentions=out.attentions)
        return result if return_dict is not False else result.to_tuple()


class T5ForQuestionAnswering(_T5EncoderDecoder):
    """T5 + ``qa_outputs`` (2 outputs) on the decoder states: extractive QA. The decoder reads the source shifted
    right, so there is one start/end logit per source position."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.qa_outputs = Linear(config.d_model, config.num_labels or 2)
        self.post_init()

    def init_weights(self, module: nn.Module) -> None:
        super().init_weights(module)
        if module is self.qa_outputs:
            nn.init.normal_(module.weight, std=self.config.initializer_factor * self.config.d_model ** -0.5)
            nn.init.zeros_(module.bias)

    def _check_report(self, report: LoadingReport, files: list[Path]) -> None:
        # the body sits at the top level (no prefix module), so tell the head apart by name: a plain T5
        # checkpoint loads with a fresh qa_outputs, as in the reference
        head = [key for key in report.missing_keys if key.startswith("qa_outputs.")]
        report.missing_keys = [key for key in report.missing_keys if key not in head]
        super()._check_report(report, files)
        if head:
            logger.warning("%s: newly initialised weights not in the checkpoint (train this head before use): %s",
                           type(self).__name__, head)
            report.missing_keys.extend(head)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                decoder_inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **_: Any) -> Any:
        """``input_ids`` (batch, seq) -> ``start_logits``/``end_logits`` (batch, seq); ``start_positions`` and
        ``end_positions`` (batch,) add the mean start/end cross entropy (positions past the end are ignored)."""
        if start_positions is not None and end_positions is not None:
            use_cache = False
        decoder_input_ids = _shift_source(self.config, input_ids, decoder_input_ids, decoder_inputs_embeds)
        encoded, decoded = self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                     encoder_outputs, None, inputs_embeds, decoder_inputs_embeds, use_cache,
                                     output_attentions, output_hidden_states)
        start, end, loss = span_logits(self.qa_outputs, decoded.last_hidden_state, start_positions, end_positions)
        result = Seq2SeqQuestionAnsweringModelOutput(
            loss=loss, start_logits=start, end_logits=end, past_key_values=decoded.past_key_values,
            decoder_hidden_states=decoded.hidden_states, decoder_attentions=decoded.attentions,
            cross_attentions=decoded.cross_attentions, encoder_last_hidden_state=encoded.last_hidden_state,
            encoder_hidden_states=encoded.hidden_states, encoder_attentions=encoded.attentions)
        return result if return_dict is not False else result.to_tuple()


class MT5ForSequenceClassification(T5ForSequenceClassification):
    config_class = MT5Config


class MT5ForTokenClassification(T5ForTokenClassification):
    config_class = MT5Config


class MT5ForQuestionAnswering(T5ForQuestionAnswering):
    config_class = MT5Config
