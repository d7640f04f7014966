"""BART and the BART-shaped encoder-decoders (mBART, Marian, Pegasus): one implementation, four configs.

The families differ only in a few switches, declared as class attributes of the config (see
:class:`BartConfig`): where the LayerNorm sits (after each residual block, BART/Marian; before it, mBART/Pegasus,
which then end both stacks with a ``layer_norm``), whether the embeddings are normalised
(``layernorm_embedding``, BART/mBART), and the positions (learned with BART's offset of 2, or a fixed sinusoid
table for Marian/Pegasus). ``scale_embedding`` (multiply token embeddings by sqrt(d_model)) is a config.json field.
mBART, Marian and Pegasus live in :mod:`embrace.models.bart_variants` and are importable from here.

Module names equal the reference checkpoint keys (``model.shared``, ``model.encoder.layers.0.self_attn.k_proj``,
``final_logits_bias``, ``lm_head``), so state dicts load one-to-one in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.errors import InvalidConfigError
from embrace.models.bart_layers import (
    BartAttention,
    BartDecoder,
    BartDecoderLayer,
    BartEncoder,
    BartEncoderLayer,
    BartLearnedPositionalEmbedding,
    SequenceTooLongError,
    SinusoidalPositionalEmbedding,
    VocabularyMismatchError,
    check_vocabulary,
    sinusoid_table,
)
from embrace.models.cache import KVCache
from embrace.models.configuration import PretrainedConfig
from embrace.models.heads import sequence_classification_loss
from embrace.models.layers import init_weights_normal
from embrace.models.linear import Linear
from embrace.models.modeling import LoadingReport, PreTrainedModel
from embrace.models.outputs import (
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    Seq2SeqQuestionAnsweringModelOutput,
    Seq2SeqSequenceClassifierOutput,
)
from embrace.models.seq2seq import (
    ClassificationHead,
    EosPoolingError,
    Seq2SeqLMMixin,
    as_encoder_output,
    body_fields,
    force_two_labels,
    pool_last_eos,
    seq2seq_loss,
    shift_tokens_right,
    span_logits,
)

BartClassificationHead = ClassificationHead  # the reference's name

__all__ = [
    "BartAttention", "BartClassificationHead", "BartConfig", "BartDecoder", "BartDecoderLayer", "BartEncoder",
    "BartEncoderLayer", "BartForConditionalGeneration", "BartForQuestionAnswering", "BartForSequenceClassification",
    "BartLearnedPositionalEmbedding", "BartModel", "EosPoolingError", "Seq2SeqQuestionAnsweringModelOutput",
    "Seq2SeqSequenceClassifierOutput", "SequenceTooLongError", "SinusoidalPositionalEmbedding",
    "VocabularyMismatchError", "check_vocabulary", "sinusoid_table",
]


@dataclass(kw_only=True)
class BartConfig(PretrainedConfig):
    """facebook/bart-* configs. The class attributes below are the architecture switches the variants change."""

    model_type: ClassVar[str] = "bart"
    normalize_before: ClassVar[bool] = False        # pre-LN layers (+ a final layer_norm per stack)
    has_layernorm_embedding: ClassVar[bool] = True  # LayerNorm right after token + position embeddings
    sinusoidal_positions: ClassVar[bool] = False    # fixed sin/cos table instead of learned positions (offset 2)
    scale_given_embeds: ClassVar[bool] = False      # decoder ``inputs_embeds`` are scaled too (Marian, Pegasus)
    default_num_labels: ClassVar[int] = 3           # when config.json has no id2label (BART's MNLI default)

    vocab_size: int = 50265
    max_position_embeddings: int = 1024
    encoder_layers: int = 12
    encoder_ffn_dim: int = 4096
    encoder_attention_heads: int = 16
    decoder_layers: int = 12
    decoder_ffn_dim: int = 4096
    decoder_attention_heads: int = 16
    encoder_layerdrop: float = 0.0
    decoder_layerdrop: float = 0.0
    activation_function: str = "gelu"
    d_model: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    init_std: float = 0.02
    classifier_dropout: float = 0.0
    scale_embedding: bool = False
    pad_token_id: int | None = 1
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2
    is_encoder_decoder: bool = True
    decoder_start_token_id: int | None = 2
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | list[int] | None = 2

    def __post_init__(self) -> None:
        if self.id2label is None and self.label2id is None and self.num_labels is None:
            self.num_labels = self.default_num_labels
        super().__post_init__()
        for width, heads, side in ((self.d_model, self.encoder_attention_heads, "encoder"),
                                   (self.d_model, self.decoder_attention_heads, "decoder")):
            if heads <= 0 or width % heads:
                raise InvalidConfigError(f"d_model ({width}) must be a multiple of {side}_attention_heads ({heads})")

    # the reference's attribute_map
    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_attention_heads(self) -> int:
        return self.encoder_attention_heads

    @property
    def num_hidden_layers(self) -> int:
        return self.encoder_layers

    @property
    def target_vocab_size(self) -> int:
        """Size of the decoder's vocabulary (Marian may have its own)."""
        return self.vocab_size


# ---- models ---------------------------------------------------------------------------------------------------------
class BartPreTrainedModel(PreTrainedModel):
    """Weight init, tied embeddings and checkpoint quirks shared by every BART-shaped model."""

    config_class: ClassVar[type[PretrainedConfig]] = BartConfig
    base_model_prefix = "model"
    # old fairseq version counters; sin/cos tables of checkpoints that store them (Marian's are not kept)
    ignore_unexpected = (r"(^|\.)position_ids$", r"(^|\.)(encoder|decoder)\.version$", r"embed_positions\.weight$")
    config: BartConfig

    def init_weights(self, module: nn.Module) -> None:
        init_weights_normal(module, self.config.init_std)

    def _tied_pairs(self) -> dict[str, str]:
        """Keys that share the storage of another key when ``tie_word_embeddings`` is set."""
        return {}

    def _shared_weights(self) -> dict[str, str]:
        return self._tied_pairs() if self.config.tie_word_embeddings else {}

    def _check_report(self, report: LoadingReport, files: list[Path]) -> None:
        # the sin/cos tables are rebuilt, never trained (Marian checkpoints omit them); a fresh final_logits_bias
        # is zeros, as in the reference
        report.missing_keys = [k for k in report.missing_keys
                               if not (k.endswith("final_logits_bias") or self._is_sinusoid_key(k))]
        super()._check_report(report, files)

    def _is_sinusoid_key(self, key: str) -> bool:
        return self.config.sinusoidal_positions and key.endswith("embed_positions.weight")

    def _materialize_missing(self, dtype: torch.dtype | None, device: torch.device) -> None:
        super()._materialize_missing(dtype, device)
        for module in self.modules():
            if isinstance(module, SinusoidalPositionalEmbedding):
                module.reset()


def _embedding_ties(prefix: str, shared: str | None) -> dict[str, str]:
    if shared is None:
        return {}
    return {f"{prefix}encoder.embed_tokens.weight": shared, f"{prefix}decoder.embed_tokens.weight": shared}


class BartModel(BartPreTrainedModel):
    """The encoder-decoder body: returns the decoder's last hidden state and the encoder's."""

    persistent_positions: ClassVar[bool] = True

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        if self.embeddings_shared(config):
            self.shared = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.encoder = BartEncoder(config, persistent_positions=self.persistent_positions)
        self.decoder = BartDecoder(config, persistent_positions=self.persistent_positions)
        self.post_init()

    @staticmethod
    def embeddings_shared(config: BartConfig) -> bool:
        return bool(getattr(config, "share_encoder_decoder_embeddings", True))

    def _tied_pairs(self) -> dict[str, str]:
        return _embedding_ties("", "shared.weight" if self.embeddings_shared(self.config) else None)

    def get_input_embeddings(self) -> nn.Module:
        return self.shared if self.embeddings_shared(self.config) else self.encoder.embed_tokens

    def get_encoder(self) -> BartEncoder:
        return self.encoder

    def get_decoder(self) -> BartDecoder:
        return self.decoder

    def decoder_inputs_from_input_ids(self, input_ids: torch.Tensor | None) -> torch.Tensor:
        """BART's denoising default when no decoder inputs are given: the encoder inputs shifted right."""
        if input_ids is None:
            raise ValueError("pass decoder_input_ids (or decoder_inputs_embeds, or labels), or input_ids to shift")
        return shift_tokens_right(input_ids, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, decoder_inputs_embeds: torch.Tensor | None = None,
                use_cache: bool | None = None, output_hidden_states: bool | None = None,
                output_attentions: bool | None = None, return_dict: bool = True, **_: Any) -> Seq2SeqModelOutput:
        """``input_ids`` (batch, src_len), ``decoder_input_ids`` (batch, tgt_len) -> ``last_hidden_state``
        (batch, tgt_len, d_model). ``encoder_outputs`` skips the encoder (a BaseModelOutput or a tuple).
        ``output_attentions`` adds every layer's softmax weights (encoder, decoder self- and cross-attention)."""
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.decoder_inputs_from_input_ids(input_ids)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                           inputs_embeds=inputs_embeds, output_hidden_states=output_hidden_states,
                                           output_attentions=output_attentions)
        encoder_outputs = as_encoder_output(encoder_outputs)
        if use_cache is None:
            use_cache = self.config.use_cache
        decoded = self.decoder(input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
                               encoder_hidden_states=encoder_outputs.last_hidden_state,
                               encoder_attention_mask=attention_mask, past_key_values=past_key_values,
                               inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
                               output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        return Seq2SeqModelOutput(last_hidden_state=decoded.last_hidden_state,
                                  past_key_values=decoded.past_key_values if use_cache else None,
                                  decoder_hidden_states=decoded.hidden_states,
                                  decoder_attentions=decoded.attentions, cross_attentions=decoded.cross_attentions,
                                  encoder_last_hidden_state=encoder_outputs.last_hidden_state,
                                  encoder_hidden_states=encoder_outputs.hidden_states,
                                  encoder_attentions=encoder_outputs.attentions)


class BartForConditionalGeneration(Seq2SeqLMMixin, BartPreTrainedModel):
    """BART with the LM head (tied to ``model.shared``) plus ``final_logits_bias``: summarisation, translation."""

    base_class: ClassVar[type[BartModel]] = BartModel

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        self.model = self.base_class(config)
        vocab = config.target_vocab_size if not self.base_class.embeddings_shared(config) else config.vocab_size
        self.register_buffer("final_logits_bias", torch.zeros(1, vocab))
        self.lm_head = Linear(config.d_model, vocab, bias=False)
        self.post_init()

    def _tied_pairs(self) -> dict[str, str]:
        if self.base_class.embeddings_shared(self.config):
            return {**_embedding_ties("model.", "model.shared.weight"), "lm_head.weight": "model.shared.weight"}
        return {"lm_head.weight": "model.decoder.embed_tokens.weight"}

    def init_weights(self, module: nn.Module) -> None:
        super().init_weights(module)
        if module is self:
            nn.init.zeros_(self.get_buffer("final_logits_bias"))

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def get_encoder(self) -> BartEncoder:
        return self.model.encoder

    def get_decoder(self) -> BartDecoder:
        return self.model.decoder

    def max_positions(self) -> int:
        return self.config.max_position_embeddings

    def decoder_inputs_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder_inputs_from_labels(labels)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, decoder_inputs_embeds: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, use_cache: bool | None = None,
                output_hidden_states: bool | None = None, output_attentions: bool | None = None,
                return_dict: bool = True, **_: Any) -> Seq2SeqLMOutput:
        """-> ``logits`` (batch, tgt_len, vocab). With ``labels`` (batch, tgt_len; -100 ignored) and no decoder
        inputs, the decoder reads the labels shifted right; the loss is the mean token cross entropy."""
        if labels is not None:
            use_cache = False
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = self.decoder_inputs_from_labels(labels)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                         decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                         past_key_values=past_key_values, inputs_embeds=inputs_embeds,
                         decoder_inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
                         output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        bias = self.get_buffer("final_logits_bias")
        logits = self.lm_head(out.last_hidden_state) + bias.to(out.last_hidden_state.dtype)
        loss = seq2seq_loss(logits, labels) if labels is not None else None
        return Seq2SeqLMOutput(loss=loss, logits=logits, **body_fields(out))


class _BartWithHead(BartPreTrainedModel):
    """The family's body under ``model`` plus a task head on the decoder states."""

    base_class: ClassVar[type[BartModel]] = BartModel
    model: BartModel

    def _tied_pairs(self) -> dict[str, str]:
        return _embedding_ties("model.", "model.shared.weight")

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def get_encoder(self) -> BartEncoder:
        return self.model.encoder

    def get_decoder(self) -> BartDecoder:
        return self.model.decoder


class BartForSequenceClassification(_BartWithHead):
    """BART + a classification head on the decoder state of the last ``eos`` token (e.g. bart-large-mnli, the
    zero-shot-classification model)."""

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        self.model = self.base_class(config)
        self.classification_head = BartClassificationHead(config.d_model, config.num_labels or 2,
                                                          config.classifier_dropout)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, inputs_embeds: torch.Tensor | None = None,
                decoder_inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                use_cache: bool | None = None, output_hidden_states: bool | None = None,
                output_attentions: bool | None = None, return_dict: bool = True, **_: Any
                ) -> Seq2SeqSequenceClassifierOutput:
        """``input_ids`` (batch, seq), each row with the same number of ``eos`` tokens -> ``logits``
        (batch, num_labels); ``labels`` adds the loss chosen by ``config.problem_type``."""
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} pools the eos token, so it needs input_ids (not inputs_embeds)")
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                         decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                         decoder_inputs_embeds=decoder_inputs_embeds, use_cache=False if labels is not None else
                         use_cache, output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        pooled = pool_last_eos(out.last_hidden_state, input_ids, self.config.eos_token_id, type(self).__name__)
        logits = self.classification_head(pooled)
        loss = sequence_classification_loss(logits, labels.to(logits.device), self.config) if labels is not None \
            else None
        return Seq2SeqSequenceClassifierOutput(loss=loss, logits=logits, **body_fields(out))


class BartForQuestionAnswering(_BartWithHead):
    """BART + a span head (``qa_outputs``, 2 outputs) on the decoder states: extractive question answering. The
    decoder reads the source shifted right (the default of :class:`BartModel`), so there is one start/end logit
    per source position."""

    def __init__(self, config: BartConfig) -> None:
        force_two_labels(config)  # as the reference, whatever the config said
        super().__init__(config)
        self.model = self.base_class(config)
        self.qa_outputs = Linear(config.d_model, 2)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, start_positions: torch.Tensor | None = None,
                end_positions: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                decoder_inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                output_hidden_states: bool | None = None, output_attentions: bool | None = None,
                return_dict: bool = True, **_: Any) -> Seq2SeqQuestionAnsweringModelOutput:
        """``input_ids`` (batch, seq) -> ``start_logits``/``end_logits`` (batch, seq); ``start_positions`` and
        ``end_positions`` (batch,) add the mean start/end cross entropy (positions past the end are ignored)."""
        if start_positions is not None and end_positions is not None:
            use_cache = False
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                         decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                         inputs_embeds=inputs_embeds, decoder_inputs_embeds=decoder_inputs_embeds,
                         use_cache=use_cache, output_hidden_states=output_hidden_states,
                         output_attentions=output_attentions)
        start, end, loss = span_logits(self.qa_outputs, out.last_hidden_state, start_positions, end_positions)
        return Seq2SeqQuestionAnsweringModelOutput(loss=loss, start_logits=start, end_logits=end, **body_fields(out))


_VARIANTS = {
    "MBartConfig", "MBartModel", "MBartForConditionalGeneration", "MBartForSequenceClassification",
    "MBartForQuestionAnswering",
    "MarianConfig", "MarianModel", "MarianMTModel",
    "PegasusConfig", "PegasusModel", "PegasusForConditionalGeneration", "mbart_shift_tokens_right",
}


def __getattr__(name: str) -> Any:
    # the variants live in bart_variants.py (which builds on this module); the auto registry imports them from here
    if name in _VARIANTS:
        from embrace.models import bart_variants

        return getattr(bart_variants, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
