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

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from embrace.errors import EmbraceError, InvalidConfigError
from embrace.models.cache import EncoderDecoderCache, KVCache
from embrace.models.causal_lm import attention_bias
from embrace.models.configuration import PretrainedConfig
from embrace.models.heads import sequence_classification_loss
from embrace.models.layers import (
    activation,
    attend,
    init_weights_normal,
    merge_heads,
    padding_mask_to_bias,
    split_heads,
)
from embrace.models.modeling import LoadingReport, PreTrainedModel
from embrace.models.outputs import BaseModelOutput, Hidden, ModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from embrace.models.seq2seq import Seq2SeqLMMixin, as_encoder_output, seq2seq_loss, shift_tokens_right


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


# ---- embeddings -----------------------------------------------------------------------------------------------------
class BartLearnedPositionalEmbedding(nn.Embedding):
    """Learned positions; BART reserves the first two rows (``offset = 2``), a fairseq heritage."""

    offset = 2

    def __init__(self, num_positions: int, width: int) -> None:
        super().__init__(num_positions + self.offset, width)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return super().forward(positions + self.offset)


def sinusoid_table(num_positions: int, width: int, dtype: torch.dtype = torch.float32,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Marian/Pegasus positions (num_positions, width): sines in the first half of the features, cosines in the
    second (not interleaved), frequencies ``10000 ** (-2i / width)``. Computed in float64 like the reference."""
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    half = (width + 1) // 2
    freq = torch.pow(torch.tensor(10000.0, dtype=torch.float64), 2 * torch.arange(half, dtype=torch.float64) / width)
    angles = pos / freq
    table = torch.cat((torch.sin(angles), torch.cos(angles[:, : width // 2])), dim=1)
    return table.to(dtype=dtype, device=device)


class SinusoidalPositionalEmbedding(nn.Module):
    """A fixed sin/cos table under the checkpoint name ``embed_positions.weight``; recomputed after loading, never
    trained. ``persistent`` says whether it is written to checkpoints (the reference saves it for Pegasus only)."""

    weight: torch.Tensor

    def __init__(self, num_positions: int, width: int, *, persistent: bool) -> None:
        super().__init__()
        self.register_buffer("weight", sinusoid_table(num_positions, width), persistent=persistent)

    def reset(self) -> None:
        n, width = self.weight.shape
        self.weight = sinusoid_table(n, width, self.weight.dtype, self.weight.device)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return F.embedding(positions, self.weight)


class VocabularyMismatchError(EmbraceError, ValueError):
    """Token ids outside the model's embedding table: the tokenizer does not belong to this model."""


def check_vocabulary(input_ids: torch.Tensor, vocab_size: int) -> None:
    """Raise :class:`VocabularyMismatchError` when an id is negative or >= ``vocab_size``."""
    if input_ids.numel() and (int(input_ids.max()) >= vocab_size or int(input_ids.min()) < 0):
        raise VocabularyMismatchError(
            f"token id {int(input_ids.max())} (min {int(input_ids.min())}) is outside this model's vocabulary of "
            f"{vocab_size}: the tokenizer and the model do not match (compare len(tokenizer) with "
            "config.vocab_size), or labels with -100 were passed as input ids")


# ---- layers ---------------------------------------------------------------------------------------------------------
class BartAttention(nn.Module):
    """Multi-head attention with biased q/k/v/out projections; self-attention (cached through ``cache.update``) or
    cross-attention over the encoder output (projected once per generation through ``cache.cross_attention``)."""

    def __init__(self, width: int, num_heads: int, dropout: float, layer_idx: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.layer_idx = layer_idx
        self.dropout = dropout
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def _project(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return split_heads(self.k_proj(states), self.num_heads), split_heads(self.v_proj(states), self.num_heads)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, *, cache: KVCache | None = None,
                encoder_hidden: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        """``hidden`` (batch, q_len, width) -> (batch, q_len, width); ``bias`` is added to the scores."""
        query = split_heads(self.q_proj(hidden), self.num_heads)
        if encoder_hidden is not None:  # cross-attention
            source = encoder_hidden
            if isinstance(cache, EncoderDecoderCache):
                key, value = cache.cross_attention(self.layer_idx, lambda: self._project(source))
            else:
                key, value = self._project(source)
        else:
            key, value = self._project(hidden)
            if cache is not None:
                key, value = cache.update(self.layer_idx, key, value)
        out, _ = attend(query, key, value, bias, dropout=self.dropout if self.training else 0.0, is_causal=is_causal)
        return self.out_proj(merge_heads(out))


class _BartLayer(nn.Module):
    """Shared by encoder and decoder layers: residual blocks with post-LN (BART, Marian) or pre-LN (mBART, Pegasus)."""

    def __init__(self, config: BartConfig, ffn_dim: int) -> None:
        super().__init__()
        self.normalize_before = config.normalize_before
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout
        self.activation_fn = activation(config.activation_function)
        self.fc1 = nn.Linear(config.d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, config.d_model)
        self.final_layer_norm = nn.LayerNorm(config.d_model)

    def residual(self, hidden: torch.Tensor, norm: nn.LayerNorm, block: Any) -> torch.Tensor:
        """``hidden + dropout(block(hidden))``, normalised before the block (pre-LN) or after the sum (post-LN)."""
        if self.normalize_before:
            return hidden + F.dropout(block(norm(hidden)), self.dropout, self.training)
        return norm(hidden + F.dropout(block(hidden), self.dropout, self.training))

    def feed_forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = F.dropout(self.activation_fn(self.fc1(hidden)), self.activation_dropout, self.training)
        return self.fc2(hidden)


class BartEncoderLayer(_BartLayer):
    def __init__(self, config: BartConfig, layer_idx: int) -> None:
        super().__init__(config, config.encoder_ffn_dim)
        self.self_attn = BartAttention(config.d_model, config.encoder_attention_heads, config.attention_dropout,
                                       layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        hidden = self.residual(hidden, self.self_attn_layer_norm, lambda h: self.self_attn(h, bias))
        hidden = self.residual(hidden, self.final_layer_norm, self.feed_forward)
        if hidden.dtype == torch.float16:  # as the reference: keep fp16 activations finite
            limit = torch.finfo(hidden.dtype).max - 1000
            hidden = hidden.clamp(min=-limit, max=limit)
        return hidden


class BartDecoderLayer(_BartLayer):
    def __init__(self, config: BartConfig, layer_idx: int) -> None:
        super().__init__(config, config.decoder_ffn_dim)
        heads, dropout = config.decoder_attention_heads, config.attention_dropout
        self.self_attn = BartAttention(config.d_model, heads, dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.encoder_attn = BartAttention(config.d_model, heads, dropout, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, hidden: torch.Tensor, self_bias: torch.Tensor | None, is_causal: bool,
                encoder_hidden: torch.Tensor | None, cross_bias: torch.Tensor | None, cache: KVCache | None
                ) -> torch.Tensor:
        hidden = self.residual(hidden, self.self_attn_layer_norm,
                               lambda h: self.self_attn(h, self_bias, cache=cache, is_causal=is_causal))
        if encoder_hidden is not None:
            hidden = self.residual(hidden, self.encoder_attn_layer_norm,
                                   lambda h: self.encoder_attn(h, cross_bias, cache=cache,
                                                               encoder_hidden=encoder_hidden))
        return self.residual(hidden, self.final_layer_norm, self.feed_forward)


# ---- stacks ---------------------------------------------------------------------------------------------------------
class _BartStack(nn.Module):
    """Token embeddings (scaled when ``scale_embedding``) + positions (+ ``layernorm_embedding``) -> layers
    (-> ``layer_norm`` for pre-LN families)."""

    def __init__(self, config: BartConfig, vocab_size: int, layers: list[nn.Module], *, persistent_positions: bool
                 ) -> None:
        super().__init__()
        self.config = config
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_tokens = nn.Embedding(vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.embed_positions: nn.Module = (
            SinusoidalPositionalEmbedding(config.max_position_embeddings, config.d_model,
                                          persistent=persistent_positions)
            if config.sinusoidal_positions else BartLearnedPositionalEmbedding(config.max_position_embeddings,
                                                                               config.d_model))
        self.layers = nn.ModuleList(layers)
        if config.has_layernorm_embedding:
            self.layernorm_embedding = nn.LayerNorm(config.d_model)
        if config.normalize_before:
            self.layer_norm = nn.LayerNorm(config.d_model)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def embed(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None, past: int, *,
              scale_given: bool) -> torch.Tensor:
        """Token + position embeddings (batch, seq, d_model) for positions ``past ..``, dropout applied."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids (batch, seq) or inputs_embeds (batch, seq, d_model)")
        if inputs_embeds is None:
            assert input_ids is not None
            if input_ids.dim() != 2:
                raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}")
            if past == 0:  # user-given ids (later decoder steps feed back the model's own predictions)
                check_vocabulary(input_ids, self.embed_tokens.num_embeddings)
            hidden = self.embed_tokens(input_ids) * self.embed_scale
        else:
            hidden = inputs_embeds * self.embed_scale if scale_given else inputs_embeds
        positions = torch.arange(past, past + hidden.shape[1], device=hidden.device)
        hidden = hidden + self.embed_positions(positions).to(hidden.dtype)
        if self.config.has_layernorm_embedding:
            hidden = self.layernorm_embedding(hidden)
        return F.dropout(hidden, self.config.dropout, self.training)

    def finish(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(hidden) if self.config.normalize_before else hidden

    def wants_states(self, output_hidden_states: bool | None) -> bool:
        return bool(self.config.output_hidden_states if output_hidden_states is None else output_hidden_states)

    @staticmethod
    def collect(states: list[torch.Tensor] | None, last: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
        return None if states is None else (*states, last)

    def run_layer(self, layerdrop: float) -> bool:
        """LayerDrop while training (https://arxiv.org/abs/1909.11556)."""
        return not (self.training and layerdrop > 0 and bool(torch.rand([]) < layerdrop))


class BartEncoder(_BartStack):
    """``input_ids`` (batch, src_len) -> ``BaseModelOutput(last_hidden_state (batch, src_len, d_model))``."""

    def __init__(self, config: BartConfig, *, persistent_positions: bool = True) -> None:
        super().__init__(config, config.vocab_size,
                         [BartEncoderLayer(config, i) for i in range(config.encoder_layers)],
                         persistent_positions=persistent_positions)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, output_hidden_states: bool | None = None,
                **_: Any) -> BaseModelOutput:
        """``hidden_states`` (with ``output_hidden_states``): each layer's input, then the final output."""
        hidden = self.embed(input_ids, inputs_embeds, 0, scale_given=False)
        bias = padding_mask_to_bias(attention_mask, hidden.dtype)
        states: list[torch.Tensor] | None = [] if self.wants_states(output_hidden_states) else None
        for layer in self.layers:
            if states is not None:
                states.append(hidden)
            if self.run_layer(self.config.encoder_layerdrop):
                hidden = layer(hidden, bias)
        hidden = self.finish(hidden)
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=self.collect(states, hidden))


@dataclass
class DecoderOutput(ModelOutput):
    last_hidden_state: torch.Tensor
    past_key_values: KVCache | None = None
    hidden_states: Hidden = None


class BartDecoder(_BartStack):
    """Causal decoder with cross-attention: ``input_ids`` (batch, tgt_len) + encoder states -> hidden states."""

    def __init__(self, config: BartConfig, *, persistent_positions: bool = True) -> None:
        super().__init__(config, config.target_vocab_size,
                         [BartDecoderLayer(config, i) for i in range(config.decoder_layers)],
                         persistent_positions=persistent_positions)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                encoder_hidden_states: torch.Tensor | None = None,
                encoder_attention_mask: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                output_hidden_states: bool | None = None, **_: Any) -> DecoderOutput:
        """``attention_mask`` (batch, past + tgt_len) masks decoder padding; ``encoder_attention_mask``
        (batch, src_len) the encoder's. ``past_key_values`` (an :class:`EncoderDecoderCache`) is updated in place."""
        if use_cache and past_key_values is None:
            past_key_values = EncoderDecoderCache()
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        hidden = self.embed(input_ids, inputs_embeds, past, scale_given=self.config.scale_given_embeds)
        self_bias, is_causal = attention_bias(attention_mask, hidden.shape[1], past, hidden.dtype, hidden.device)
        cross_bias = padding_mask_to_bias(encoder_attention_mask, hidden.dtype)
        states: list[torch.Tensor] | None = [] if self.wants_states(output_hidden_states) else None
        for layer in self.layers:
            if states is not None:
                states.append(hidden)
            if self.run_layer(self.config.decoder_layerdrop):
                hidden = layer(hidden, self_bias, is_causal, encoder_hidden_states, cross_bias, past_key_values)
        hidden = self.finish(hidden)
        return DecoderOutput(last_hidden_state=hidden, past_key_values=past_key_values,
                             hidden_states=self.collect(states, hidden))


# ---- models ---------------------------------------------------------------------------------------------------------
@dataclass
class Seq2SeqSequenceClassifierOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: Hidden = None
    encoder_last_hidden_state: torch.Tensor | None = None


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
        """Keys that share the storage of another (when ``tie_word_embeddings``); ``prefix`` is the body's path."""
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

    shares_embeddings: ClassVar[bool] = True
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
                use_cache: bool | None = None, output_hidden_states: bool | None = None, return_dict: bool = True,
                **_: Any) -> Seq2SeqModelOutput:
        """``input_ids`` (batch, src_len), ``decoder_input_ids`` (batch, tgt_len) -> ``last_hidden_state``
        (batch, tgt_len, d_model). ``encoder_outputs`` skips the encoder (a BaseModelOutput or a tuple)."""
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.decoder_inputs_from_input_ids(input_ids)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                           inputs_embeds=inputs_embeds, output_hidden_states=output_hidden_states)
        encoder_outputs = as_encoder_output(encoder_outputs)
        if use_cache is None:
            use_cache = self.config.use_cache
        decoded = self.decoder(input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
                               encoder_hidden_states=encoder_outputs.last_hidden_state,
                               encoder_attention_mask=attention_mask, past_key_values=past_key_values,
                               inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
                               output_hidden_states=output_hidden_states)
        return Seq2SeqModelOutput(last_hidden_state=decoded.last_hidden_state,
                                  past_key_values=decoded.past_key_values if use_cache else None,
                                  decoder_hidden_states=decoded.hidden_states,
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
        self.lm_head = nn.Linear(config.d_model, vocab, bias=False)
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
                output_hidden_states: bool | None = None, return_dict: bool = True, **_: Any) -> Seq2SeqLMOutput:
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
                         output_hidden_states=output_hidden_states)
        bias = self.get_buffer("final_logits_bias")
        logits = self.lm_head(out.last_hidden_state) + bias.to(out.last_hidden_state.dtype)
        loss = seq2seq_loss(logits, labels) if labels is not None else None
        return Seq2SeqLMOutput(loss=loss, logits=logits, past_key_values=out.past_key_values,
                               decoder_hidden_states=out.decoder_hidden_states,
                               encoder_last_hidden_state=out.encoder_last_hidden_state,
                               encoder_hidden_states=out.encoder_hidden_states,
                               encoder_attentions=out.encoder_attentions)


class BartClassificationHead(nn.Module):
    """dropout -> dense -> tanh -> dropout -> out_proj over the pooled (last eos) decoder state."""

    def __init__(self, width: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(width, num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(hidden)))))


class EosPoolingError(EmbraceError, ValueError):
    """Sequence classification pools the last ``</s>``; the inputs lack one or have different counts."""


class BartForSequenceClassification(BartPreTrainedModel):
    """BART + a classification head on the decoder state of the last ``eos`` token (e.g. bart-large-mnli, the
    zero-shot-classification model)."""

    base_class: ClassVar[type[BartModel]] = BartModel

    def __init__(self, config: BartConfig) -> None:
        super().__init__(config)
        self.model = self.base_class(config)
        self.classification_head = BartClassificationHead(config.d_model, config.num_labels or 2,
                                                          config.classifier_dropout)
        self.post_init()

    def _tied_pairs(self) -> dict[str, str]:
        return _embedding_ties("model.", "model.shared.weight")

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, inputs_embeds: torch.Tensor | None = None,
                decoder_inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                use_cache: bool | None = None, return_dict: bool = True, **_: Any
                ) -> Seq2SeqSequenceClassifierOutput:
        """``input_ids`` (batch, seq), each row with the same number of ``eos`` tokens -> ``logits``
        (batch, num_labels); ``labels`` adds the loss chosen by ``config.problem_type``."""
        if input_ids is None:
            raise ValueError(f"{type(self).__name__} pools the eos token, so it needs input_ids (not inputs_embeds)")
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                         decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
                         decoder_inputs_embeds=decoder_inputs_embeds, use_cache=False)
        hidden = out.last_hidden_state
        eos = self.config.eos_token_id
        if eos is None:
            raise EosPoolingError("config.eos_token_id is not set: sequence classification pools the eos token")
        eos_mask = input_ids.eq(eos if isinstance(eos, int) else eos[0]).to(hidden.device)
        counts = eos_mask.sum(1)
        if bool((counts == 0).any()):
            raise EosPoolingError("every row of input_ids must contain the eos token (the tokenizer adds it)")
        if bool((counts != counts[0]).any()):
            raise EosPoolingError("all rows of input_ids must contain the same number of eos tokens")
        pooled = hidden[eos_mask, :].view(hidden.shape[0], -1, hidden.shape[-1])[:, -1, :]
        logits = self.classification_head(pooled)
        loss = sequence_classification_loss(logits, labels.to(logits.device), self.config) if labels is not None \
            else None
        return Seq2SeqSequenceClassifierOutput(loss=loss, logits=logits,
                                               encoder_last_hidden_state=out.encoder_last_hidden_state)


_VARIANTS = {
    "MBartConfig", "MBartModel", "MBartForConditionalGeneration", "MBartForSequenceClassification",
    "MarianConfig", "MarianModel", "MarianMTModel",
    "PegasusConfig", "PegasusModel", "PegasusForConditionalGeneration", "mbart_shift_tokens_right",
}


def __getattr__(name: str) -> Any:
    # the variants live in bart_variants.py (which builds on this module); the auto registry imports them from here
    if name in _VARIANTS:
        from embrace.models import bart_variants

        return getattr(bart_variants, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
