"""The building blocks of the BART-shaped encoder-decoders (:mod:`embrace.models.bart`): position embeddings
(learned with offset 2, or a fixed sin/cos table), attention with self/cross KV caching, post- or pre-LN layers, and
the encoder/decoder stacks. Which variant is built is read from the config's class attributes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from embrace.errors import EmbraceError
from embrace.models.cache import EncoderDecoderCache, KVCache
from embrace.models.causal_lm import attention_bias
from embrace.models.layers import activation, attend, merge_heads, padding_mask_to_bias, split_heads
from embrace.models.linear import Linear
from embrace.models.outputs import BaseModelOutput, Hidden, ModelOutput

if TYPE_CHECKING:
    from embrace.models.bart import BartConfig


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


class SequenceTooLongError(EmbraceError, ValueError):
    """More positions than the model's position table holds (``max_position_embeddings``)."""


def check_vocabulary(input_ids: torch.Tensor, vocab_size: int) -> None:
    """Raise :class:`VocabularyMismatchError` when an id is negative or >= ``vocab_size``."""
    if not input_ids.numel():
        return
    high, low = int(input_ids.max()), int(input_ids.min())
    if high >= vocab_size or low < 0:
        raise VocabularyMismatchError(
            f"token id {high if high >= vocab_size else low} is outside this model's vocabulary of {vocab_size}: the "
            "tokenizer and the model do not match (compare len(tokenizer) with config.vocab_size), or labels with "
            "-100 were passed as input ids")


# ---- layers ---------------------------------------------------------------------------------------------------------
class BartAttention(nn.Module):
    """Multi-head attention with biased q/k/v/out projections; self-attention (cached through ``cache.update``) or
    cross-attention over the encoder output (projected once per generation through ``cache.cross_attention``)."""

    def __init__(self, width: int, num_heads: int, dropout: float, layer_idx: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.layer_idx = layer_idx
        self.dropout = dropout
        self.k_proj = Linear(width, width)
        self.v_proj = Linear(width, width)
        self.q_proj = Linear(width, width)
        self.out_proj = Linear(width, width)

    def _project(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return split_heads(self.k_proj(states), self.num_heads), split_heads(self.v_proj(states), self.num_heads)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, *, cache: KVCache | None = None,
                encoder_hidden: torch.Tensor | None = None, is_causal: bool = False, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``hidden`` (batch, q_len, width) -> ((batch, q_len, width), the softmax weights (batch, heads, q_len,
        k_len) when ``need_weights``, else None); ``bias`` is added to the scores."""
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
        out, weights = attend(query, key, value, bias, dropout=self.dropout if self.training else 0.0,
                              is_causal=is_causal, need_weights=need_weights)
        return self.out_proj(merge_heads(out)), weights


class _BartLayer(nn.Module):
    """Shared by encoder and decoder layers: residual blocks with post-LN (BART, Marian) or pre-LN (mBART, Pegasus)."""

    def __init__(self, config: BartConfig, ffn_dim: int) -> None:
        super().__init__()
        self.normalize_before = config.normalize_before
        self.dropout = config.dropout
        self.activation_dropout = config.activation_dropout
        self.activation_fn = activation(config.activation_function)
        self.fc1 = Linear(config.d_model, ffn_dim)
        self.fc2 = Linear(ffn_dim, config.d_model)
        self.final_layer_norm = nn.LayerNorm(config.d_model)

    def block_input(self, hidden: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
        """What a residual block reads: the normalised stream (pre-LN) or the stream itself (post-LN)."""
        return norm(hidden) if self.normalize_before else hidden

    def add_block(self, hidden: torch.Tensor, update: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
        """``hidden + dropout(update)``, normalised after the sum for post-LN families."""
        hidden = hidden + F.dropout(update, self.dropout, self.training)
        return hidden if self.normalize_before else norm(hidden)

    def attention_block(self, hidden: torch.Tensor, norm: nn.LayerNorm, attention: BartAttention,
                        bias: torch.Tensor | None, need_weights: bool, **kwargs: Any
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A residual attention block; returns the new stream and the attention weights (when asked for)."""
        update, weights = attention(self.block_input(hidden, norm), bias, need_weights=need_weights, **kwargs)
        return self.add_block(hidden, update, norm), weights

    def feed_forward_block(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.add_block(hidden, self.feed_forward(self.block_input(hidden, self.final_layer_norm)),
                              self.final_layer_norm)

    def feed_forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = F.dropout(self.activation_fn(self.fc1(hidden)), self.activation_dropout, self.training)
        return self.fc2(hidden)


class BartEncoderLayer(_BartLayer):
    def __init__(self, config: BartConfig, layer_idx: int) -> None:
        super().__init__(config, config.encoder_ffn_dim)
        self.self_attn = BartAttention(config.d_model, config.encoder_attention_heads, config.attention_dropout,
                                       layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden, weights = self.attention_block(hidden, self.self_attn_layer_norm, self.self_attn, bias, need_weights)
        hidden = self.feed_forward_block(hidden)
        if hidden.dtype == torch.float16:  # as the reference: keep fp16 activations finite
            limit = torch.finfo(hidden.dtype).max - 1000
            hidden = hidden.clamp(min=-limit, max=limit)
        return hidden, weights


class BartDecoderLayer(_BartLayer):
    def __init__(self, config: BartConfig, layer_idx: int) -> None:
        super().__init__(config, config.decoder_ffn_dim)
        heads, dropout = config.decoder_attention_heads, config.attention_dropout
        self.self_attn = BartAttention(config.d_model, heads, dropout, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self.encoder_attn = BartAttention(config.d_model, heads, dropout, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model)

    def forward(self, hidden: torch.Tensor, self_bias: torch.Tensor | None, is_causal: bool,
                encoder_hidden: torch.Tensor | None, cross_bias: torch.Tensor | None, cache: KVCache | None,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """-> (hidden, self-attention weights, cross-attention weights); the weights only when ``need_weights``."""
        hidden, self_weights = self.attention_block(hidden, self.self_attn_layer_norm, self.self_attn, self_bias,
                                                    need_weights, cache=cache, is_causal=is_causal)
        cross_weights = None
        if encoder_hidden is not None:
            hidden, cross_weights = self.attention_block(hidden, self.encoder_attn_layer_norm, self.encoder_attn,
                                                         cross_bias, need_weights, cache=cache,
                                                         encoder_hidden=encoder_hidden)
        return self.feed_forward_block(hidden), self_weights, cross_weights


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
        end = past + hidden.shape[1]
        if end > self.config.max_position_embeddings:
            raise SequenceTooLongError(
                f"{end} positions exceed max_position_embeddings ({self.config.max_position_embeddings}) of this "
                "model: truncate the input (tokenizer(..., truncation=True)) or generate fewer tokens")
        positions = torch.arange(past, end, device=hidden.device)
        hidden = hidden + self.embed_positions(positions).to(hidden.dtype)
        if self.config.has_layernorm_embedding:
            hidden = self.layernorm_embedding(hidden)
        return F.dropout(hidden, self.config.dropout, self.training)

    def finish(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(hidden) if self.config.normalize_before else hidden

    def wants_states(self, output_hidden_states: bool | None) -> bool:
        return bool(self.config.output_hidden_states if output_hidden_states is None else output_hidden_states)

    def wants_attentions(self, output_attentions: bool | None) -> bool:
        return bool(self.config.output_attentions if output_attentions is None else output_attentions)

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
                output_attentions: bool | None = None, **_: Any) -> BaseModelOutput:
        """``hidden_states`` (with ``output_hidden_states``): each layer's input, then the final output;
        ``attentions`` (with ``output_attentions``): each layer's softmax weights (batch, heads, src, src)."""
        hidden = self.embed(input_ids, inputs_embeds, 0, scale_given=False)
        bias = padding_mask_to_bias(attention_mask, hidden.dtype)
        states: list[torch.Tensor] | None = [] if self.wants_states(output_hidden_states) else None
        need_weights = self.wants_attentions(output_attentions)
        attentions: list[torch.Tensor] = []
        for layer in self.layers:
            if states is not None:
                states.append(hidden)
            if self.run_layer(self.config.encoder_layerdrop):
                hidden, weights = layer(hidden, bias, need_weights)
                if weights is not None:
                    attentions.append(weights)
        hidden = self.finish(hidden)
        return BaseModelOutput(last_hidden_state=hidden, hidden_states=self.collect(states, hidden),
                               attentions=tuple(attentions) if need_weights else None)


@dataclass
class DecoderOutput(ModelOutput):
    last_hidden_state: torch.Tensor
    past_key_values: KVCache | None = None
    hidden_states: Hidden = None
    attentions: Hidden = None
    cross_attentions: Hidden = None


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
                output_hidden_states: bool | None = None, output_attentions: bool | None = None,
                **_: Any) -> DecoderOutput:
        """``attention_mask`` (batch, past + tgt_len) masks decoder padding; ``encoder_attention_mask``
        (batch, src_len) the encoder's. ``past_key_values`` (an :class:`EncoderDecoderCache`) is updated in place.
        ``output_attentions``: per layer, self-attention weights (batch, heads, tgt, past + tgt) and
        cross-attention weights (batch, heads, tgt, src)."""
        if use_cache and past_key_values is None:
            past_key_values = EncoderDecoderCache()
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        hidden = self.embed(input_ids, inputs_embeds, past, scale_given=self.config.scale_given_embeds)
        self_bias, is_causal = attention_bias(attention_mask, hidden.shape[1], past, hidden.dtype, hidden.device)
        cross_bias = padding_mask_to_bias(encoder_attention_mask, hidden.dtype)
        states: list[torch.Tensor] | None = [] if self.wants_states(output_hidden_states) else None
        need_weights = self.wants_attentions(output_attentions)
        self_weights: list[torch.Tensor] = []
        cross_weights: list[torch.Tensor] = []
        for layer in self.layers:
            if states is not None:
                states.append(hidden)
            if self.run_layer(self.config.decoder_layerdrop):
                hidden, weights, cross = layer(hidden, self_bias, is_causal, encoder_hidden_states, cross_bias,
                                               past_key_values, need_weights)
                if weights is not None:
                    self_weights.append(weights)
                if cross is not None:
                    cross_weights.append(cross)
        hidden = self.finish(hidden)
        return DecoderOutput(last_hidden_state=hidden, past_key_values=past_key_values,
                             hidden_states=self.collect(states, hidden),
                             attentions=tuple(self_weights) if need_weights else None,
                             cross_attentions=tuple(cross_weights) if need_weights and cross_weights else None)
