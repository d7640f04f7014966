"""T5 and mT5: encoder-decoder with relative position buckets, RMS layer norm and unscaled attention.

One relative position bias (block 0's ``relative_attention_bias``) is shared by every layer of a stack:
bidirectional buckets in the encoder, causal ones in the decoder. T5 v1.0 uses a ReLU feed-forward, v1.1/mT5 a
gated GELU (``feed_forward_proj="gated-gelu"``). The input embedding ``shared`` is aliased by both stacks; the LM
head is tied to it unless the checkpoint carries its own, and original T5 scales the decoder output by
``d_model ** -0.5`` before the head (``scale_decoder_outputs``, as transformers 5 decides it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.errors import InvalidConfigError, VocabularyMismatchError
from embrace.models.cache import DynamicCache, EncoderDecoderCache, KVCache, StaticCache
from embrace.models.configuration import PretrainedConfig
from embrace.models.layers import activation, attend, padding_mask_to_bias, relative_position_bucket
from embrace.models.linear import Linear
from embrace.models.llama import RMSNorm
from embrace.models.loading import iter_checkpoint
from embrace.models.modeling import LoadingReport, PreTrainedModel
from embrace.models.outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)
from embrace.models.seq2seq import Seq2SeqLMMixin, as_encoder_output, decoder_inputs_from_labels, seq2seq_loss

_DERIVED_KEYS = ("dense_act_fn", "is_gated_act")  # written by the reference, recomputed from feed_forward_proj


@dataclass(kw_only=True)
class T5Config(PretrainedConfig):
    model_type: ClassVar[str] = "t5"

    vocab_size: int = 32128
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_decoder_layers: int | None = None
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    initializer_factor: float = 1.0
    feed_forward_proj: str = "relu"
    classifier_dropout: float = 0.0
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 1
    decoder_start_token_id: int | None = None
    # None: derived like transformers 5 (scale unless config.json says tie_word_embeddings=false)
    scale_decoder_outputs: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_layers
        parts = self.feed_forward_proj.split("-")
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise InvalidConfigError(f"feed_forward_proj must be 'ACT' or 'gated-ACT' (e.g. 'relu', 'gated-gelu'), "
                                     f"got {self.feed_forward_proj!r}")
        activation(self.dense_act_fn)  # raises for an unknown activation
        if self.scale_decoder_outputs is None:
            self.scale_decoder_outputs = self.tie_word_embeddings is not False
        for key in _DERIVED_KEYS:
            self.extra.pop(key, None)

    @property
    def is_gated_act(self) -> bool:
        return self.feed_forward_proj.split("-")[0] == "gated"

    @property
    def dense_act_fn(self) -> str:
        return "gelu_new" if self.feed_forward_proj == "gated-gelu" else self.feed_forward_proj.split("-")[-1]

    # the reference's attribute_map
    @property
    def hidden_size(self) -> int:
        return self.d_model

    @property
    def num_attention_heads(self) -> int:
        return self.num_heads

    @property
    def num_hidden_layers(self) -> int:
        return self.num_layers


@dataclass(kw_only=True)
class MT5Config(T5Config):
    """mT5: T5 v1.1 shapes with a 250k vocabulary; its decoder output is never scaled (as in transformers 5)."""

    model_type: ClassVar[str] = "mt5"

    vocab_size: int = 250112
    d_ff: int = 1024
    num_layers: int = 8
    num_heads: int = 6
    feed_forward_proj: str = "gated-gelu"
    decoder_start_token_id: int | None = 0

    def __post_init__(self) -> None:
        self.scale_decoder_outputs = False
        super().__post_init__()


# ---- layers ----------------------------------------------------------------------------------------------------------
class T5DenseActDense(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi = Linear(config.d_model, config.d_ff, bias=False)
        self.wo = Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = activation(config.dense_act_fn)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.act(self.wi(hidden)))
        return self.wo(hidden.to(self.wo.weight.dtype))


class T5DenseGatedActDense(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.wi_0 = Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = Linear(config.d_model, config.d_ff, bias=False)
        self.wo = Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.act = activation(config.dense_act_fn)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.act(self.wi_0(hidden)) * self.wi_1(hidden))
        return self.wo(hidden.to(self.wo.weight.dtype))


class T5LayerFF(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(config) if config.is_gated_act else T5DenseActDense(config)
        self.layer_norm = RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden + self.dropout(self.DenseReluDense(self.layer_norm(hidden)))


class T5Attention(nn.Module):
    """Multi-head attention without query scaling; the position bias/mask comes in as an additive ``bias``."""

    def __init__(self, config: T5Config, has_relative_attention_bias: bool = False) -> None:
        super().__init__()
        self.n_heads = config.num_heads
        self.d_kv = config.d_kv
        inner = config.num_heads * config.d_kv
        self.q = Linear(config.d_model, inner, bias=False)
        self.k = Linear(config.d_model, inner, bias=False)
        self.v = Linear(config.d_model, inner, bias=False)
        self.o = Linear(inner, config.d_model, bias=False)
        self.dropout = config.dropout_rate
        self.has_relative_attention_bias = has_relative_attention_bias
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, config.num_heads)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.n_heads, self.d_kv).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, layer: int,
                key_value_states: torch.Tensor | None = None, cache: KVCache | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        query = self._heads(self.q(hidden))
        if key_value_states is None:  # self-attention: new keys/values join the cache
            key, value = self._heads(self.k(hidden)), self._heads(self.v(hidden))
            if cache is not None:
                key, value = cache.update(layer, key, value)
        else:  # cross-attention: keys/values of the encoder output, computed once per generation
            source = key_value_states

            def project() -> tuple[torch.Tensor, torch.Tensor]:
                return self._heads(self.k(source)), self._heads(self.v(source))

            key, value = cache.cross_attention(layer, project) if isinstance(cache, EncoderDecoderCache) else project()
        batch, heads, q_len, dim = query.shape
        groups = key.shape[0]
        if groups != batch:  # beams: each encoder row serves `batch // groups` consecutive decoder rows
            query = query.view(groups, batch // groups, heads, q_len, dim).transpose(1, 2)
            query = query.reshape(groups, heads, batch // groups * q_len, dim)
        out, weights = attend(query, key, value, bias, dropout=self.dropout if self.training else 0.0, scale=1.0,
                              need_weights=need_weights)
        if groups != batch:
            out = out.view(groups, heads, batch // groups, q_len, dim).transpose(1, 2).reshape(batch, heads, q_len, dim)
            if weights is not None:
                weights = weights.view(groups, heads, batch // groups, q_len, -1).transpose(1, 2)
                weights = weights.reshape(batch, heads, q_len, -1)
        return self.o(out.transpose(1, 2).reshape(batch, q_len, heads * dim)), weights


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config: T5Config, has_relative_attention_bias: bool = False) -> None:
        super().__init__()
        self.SelfAttention = T5Attention(config, has_relative_attention_bias)
        self.layer_norm = RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, layer: int, cache: KVCache | None,
                need_weights: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.SelfAttention(self.layer_norm(hidden), bias, layer, cache=cache,
                                               need_weights=need_weights)
        return hidden + self.dropout(attended), weights


class T5LayerCrossAttention(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.EncDecAttention = T5Attention(config)
        self.layer_norm = RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, hidden: torch.Tensor, encoder_hidden: torch.Tensor, bias: torch.Tensor | None, layer: int,
                cache: KVCache | None, need_weights: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, weights = self.EncDecAttention(self.layer_norm(hidden), bias, layer, key_value_states=encoder_hidden,
                                                 cache=cache, need_weights=need_weights)
        return hidden + self.dropout(attended), weights


class T5Block(nn.Module):
    """``layer[0]`` self-attention, ``layer[1]`` cross-attention (decoder only), ``layer[-1]`` feed-forward."""

    def __init__(self, config: T5Config, is_decoder: bool, has_relative_attention_bias: bool = False) -> None:
        super().__init__()
        self.is_decoder = is_decoder
        self.layer = nn.ModuleList([T5LayerSelfAttention(config, has_relative_attention_bias)])
        if is_decoder:
            self.layer.append(T5LayerCrossAttention(config))
        self.layer.append(T5LayerFF(config))

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor | None, layer: int,
                encoder_hidden: torch.Tensor | None = None, cross_bias: torch.Tensor | None = None,
                cache: KVCache | None = None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        hidden, self_weights = self.layer[0](hidden, bias, layer, cache, need_weights)
        hidden = _clamp_fp16(hidden)
        cross_weights = None
        if self.is_decoder and encoder_hidden is not None:
            hidden, cross_weights = self.layer[1](hidden, encoder_hidden, cross_bias, layer, cache, need_weights)
            hidden = _clamp_fp16(hidden)
        return _clamp_fp16(self.layer[-1](hidden)), self_weights, cross_weights


def _clamp_fp16(hidden: torch.Tensor) -> torch.Tensor:
    """T5 overflows in float16: keep activations finite (the reference's clamp)."""
    if hidden.dtype != torch.float16:
        return hidden
    limit = torch.finfo(torch.float16).max
    clamp = torch.where(torch.isinf(hidden).any(), limit - 1000, limit)
    return torch.clamp(hidden, min=-clamp, max=clamp)


class T5Stack(nn.Module):
    """The encoder (``is_decoder=False``) or the decoder: embeddings (aliased to ``shared``), blocks, final norm."""

    def __init__(self, config: T5Config, is_decoder: bool) -> None:
        super().__init__()
        self.config = config
        self.is_decoder = is_decoder
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        layers = config.num_decoder_layers if is_decoder else config.num_layers
        assert layers is not None
        self.block = nn.ModuleList([T5Block(config, is_decoder, has_relative_attention_bias=i == 0)
                                    for i in range(layers)])
        self.final_layer_norm = RMSNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def position_bias(self, q_len: int, past_len: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """(1, heads, q_len, past_len + q_len) relative position bias for queries at ``past_len ..``; only the
        new query rows are computed, so a decoding step costs one row."""
        k_len = past_len + q_len
        relative = (torch.arange(k_len, device=device)[None, :]
                    - torch.arange(past_len, k_len, device=device)[:, None])
        buckets = relative_position_bucket(relative, bidirectional=not self.is_decoder,
                                           num_buckets=self.config.relative_attention_num_buckets,
                                           max_distance=self.config.relative_attention_max_distance)
        first: Any = self.block[0]
        table: nn.Embedding = first.layer[0].SelfAttention.relative_attention_bias
        return table(buckets).permute(2, 0, 1).unsqueeze(0).to(dtype)

    def self_attention_bias(self, attention_mask: torch.Tensor | None, q_len: int, past_len: int,
                            dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Position bias plus the padding (and, in the decoder, causal) mask, as one additive tensor."""
        bias = self.position_bias(q_len, past_len, dtype, device)
        k_len = past_len + q_len
        keep = None
        if self.is_decoder and q_len > 1:
            keep = (torch.arange(k_len, device=device)[None, :]
                    <= torch.arange(past_len, k_len, device=device)[:, None])[None, None]
        if attention_mask is not None:
            if attention_mask.dim() != 2:
                raise ValueError(f"attention_mask must have shape (batch, seq_len), got {tuple(attention_mask.shape)}")
            padding = attention_mask[:, None, None, -k_len:].to(device=device, dtype=torch.bool)
            keep = padding if keep is None else keep & padding
        if keep is not None:
            bias = bias.masked_fill(~keep, torch.finfo(dtype).min)
        return bias

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                encoder_hidden_states: torch.Tensor | None = None,
                encoder_attention_mask: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None,
                past_key_values: KVCache | None = None, use_cache: bool | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                **_: Any) -> BaseModelOutputWithPastAndCrossAttentions:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids (batch, seq) or inputs_embeds (batch, seq, d_model)")
        if input_ids is not None and input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}")
        if inputs_embeds is None:
            assert input_ids is not None
            if not self.is_decoder:  # decoder steps skip it: no device read per generated token
                _check_ids(input_ids, self.config.vocab_size)
            inputs_embeds = self.embed_tokens(input_ids)
        cache = self._cache(past_key_values, use_cache)
        past_len = cache.get_seq_length() if cache is not None else 0
        q_len = inputs_embeds.shape[1]
        dtype, device = inputs_embeds.dtype, inputs_embeds.device
        bias = self.self_attention_bias(attention_mask, q_len, past_len, dtype, device)
        cross_bias = None
        if self.is_decoder and encoder_hidden_states is not None:
            cross_bias = padding_mask_to_bias(encoder_attention_mask, dtype)
        want_weights = bool(self.config.output_attentions if output_attentions is None else output_attentions)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        all_hidden: list[torch.Tensor] = []
        self_weights: list[torch.Tensor] = []
        cross_weights: list[torch.Tensor] = []
        hidden = self.dropout(inputs_embeds)
        for i, block in enumerate(self.block):
            if output_hidden_states:
                all_hidden.append(hidden)
            hidden, weights, cross = block(hidden, bias, i, encoder_hidden_states, cross_bias, cache, want_weights)
            if weights is not None:
                self_weights.append(weights)
            if cross is not None:
                cross_weights.append(cross)
        hidden = self.dropout(self.final_layer_norm(hidden))
        if output_hidden_states:
            all_hidden.append(hidden)
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden, past_key_values=cache,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
            attentions=tuple(self_weights) if want_weights else None,
            cross_attentions=tuple(cross_weights) if want_weights and cross_weights else None)

    def _cache(self, past_key_values: KVCache | None, use_cache: bool | None) -> KVCache | None:
        if not self.is_decoder:
            return None
        if past_key_values is None:
            use = self.config.use_cache if use_cache is None else use_cache
            return EncoderDecoderCache(DynamicCache(), DynamicCache()) if use else None
        if isinstance(past_key_values, DynamicCache | StaticCache):
            # a bare self-attention cache: give it a cross-attention one (filled on this call)
            return EncoderDecoderCache(past_key_values, DynamicCache())
        return past_key_values


def _check_ids(input_ids: torch.Tensor, vocab_size: int) -> None:
    if input_ids.numel() and (int(input_ids.max()) >= vocab_size or int(input_ids.min()) < 0):
        raise VocabularyMismatchError(
            f"input ids must be in [0, {vocab_size}) for this model's vocabulary, got ids from {int(input_ids.min())} "
            f"to {int(input_ids.max())}: the tokenizer does not match the model (compare len(tokenizer) with "
            "config.vocab_size)")


# ---- models ----------------------------------------------------------------------------------------------------------
class T5PreTrainedModel(PreTrainedModel):
    """Base of the T5 classes. ``encoder_rows_shared`` tells ``generate()`` that the decoder accepts an encoder
    output with one row per prompt for ``num_beams`` decoder rows each (no copies of the encoder output)."""

    config_class = T5Config
    encoder_rows_shared: ClassVar[bool] = True
    base_model_prefix = "transformer"
    aliased_weights: ClassVar[dict[str, str]] = {
        "encoder.embed_tokens.weight": "shared.weight", "decoder.embed_tokens.weight": "shared.weight"}
    ignore_unexpected: ClassVar[tuple[str, ...]] = (r"(^|\.)position_ids$", r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias")

    config: T5Config
    shared: nn.Embedding
    encoder: T5Stack
    decoder: T5Stack
    lm_head: nn.Linear

    def init_weights(self, module: nn.Module) -> None:
        """The reference's T5 init: fan-in scaled normals, norms to ``initializer_factor``."""
        factor = self.config.initializer_factor
        d_model, d_ff = self.config.d_model, self.config.d_ff
        normal = nn.init.normal_
        if isinstance(module, RMSNorm):
            nn.init.constant_(module.weight, factor)
        elif isinstance(module, T5PreTrainedModel) and hasattr(module, "shared"):  # heads wrap a body: no `shared`
            normal(module.shared.weight, std=factor)
            if hasattr(module, "lm_head") and module.lm_head.weight is not module.shared.weight:
                normal(module.lm_head.weight, std=factor)
        elif isinstance(module, T5DenseActDense):
            normal(module.wi.weight, std=factor * d_model ** -0.5)
            normal(module.wo.weight, std=factor * d_ff ** -0.5)
        elif isinstance(module, T5DenseGatedActDense):
            normal(module.wi_0.weight, std=factor * d_model ** -0.5)
            normal(module.wi_1.weight, std=factor * d_model ** -0.5)
            normal(module.wo.weight, std=factor * d_ff ** -0.5)
        elif isinstance(module, T5Attention):
            inner = module.n_heads * module.d_kv
            normal(module.q.weight, std=factor * (d_model * module.d_kv) ** -0.5)
            normal(module.k.weight, std=factor * d_model ** -0.5)
            normal(module.v.weight, std=factor * d_model ** -0.5)
            normal(module.o.weight, std=factor * inner ** -0.5)
            if module.has_relative_attention_bias:
                normal(module.relative_attention_bias.weight, std=factor * d_model ** -0.5)

    def get_input_embeddings(self) -> nn.Module:
        return self.shared

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.shared = embeddings
        self.tie_weights()

    def get_encoder(self) -> T5Stack:
        return self.encoder

    def _encode(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
                inputs_embeds: torch.Tensor | None, encoder_outputs: Any, output_attentions: bool | None,
                output_hidden_states: bool | None) -> BaseModelOutput:
        if encoder_outputs is not None:
            return as_encoder_output(encoder_outputs)
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        return BaseModelOutput(last_hidden_state=out.last_hidden_state, hidden_states=out.hidden_states,
                               attentions=out.attentions)


class _T5EncoderDecoder(T5PreTrainedModel):
    """``shared`` embeddings, the encoder and the decoder (T5Model and T5ForConditionalGeneration)."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, is_decoder=False)
        self.decoder = T5Stack(config, is_decoder=True)

    def get_decoder(self) -> T5Stack:
        return self.decoder

    def _run(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
             decoder_input_ids: torch.Tensor | None, decoder_attention_mask: torch.Tensor | None,
             encoder_outputs: Any, past_key_values: KVCache | None, inputs_embeds: torch.Tensor | None,
             decoder_inputs_embeds: torch.Tensor | None, use_cache: bool | None, output_attentions: bool | None,
             output_hidden_states: bool | None) -> tuple[BaseModelOutput, BaseModelOutputWithPastAndCrossAttentions]:
        encoded = self._encode(input_ids, attention_mask, inputs_embeds, encoder_outputs, output_attentions,
                               output_hidden_states)
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError("the decoder needs decoder_input_ids (or labels to shift, or decoder_inputs_embeds); "
                             "for generation use model.generate(input_ids)")
        decoded = self.decoder(input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
                               inputs_embeds=decoder_inputs_embeds, past_key_values=past_key_values,
                               encoder_hidden_states=encoded.last_hidden_state, encoder_attention_mask=attention_mask,
                               use_cache=use_cache, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states)
        return encoded, decoded


class T5Model(_T5EncoderDecoder):
    """Encoder + decoder without a head: returns the decoder's last hidden state (batch, target, d_model)."""

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, decoder_inputs_embeds: torch.Tensor | None = None,
                use_cache: bool | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **_: Any) -> Any:
        encoded, decoded = self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                     encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds, use_cache,
                                     output_attentions, output_hidden_states)
        out = Seq2SeqModelOutput(
            last_hidden_state=decoded.last_hidden_state, past_key_values=decoded.past_key_values,
            decoder_hidden_states=decoded.hidden_states, decoder_attentions=decoded.attentions,
            cross_attentions=decoded.cross_attentions, encoder_last_hidden_state=encoded.last_hidden_state,
            encoder_hidden_states=encoded.hidden_states, encoder_attentions=encoded.attentions)
        return out if return_dict is not False else out.to_tuple()


class T5ForConditionalGeneration(Seq2SeqLMMixin, _T5EncoderDecoder):
    """T5 with its LM head: ``generate()`` for text-to-text, ``labels`` for the training loss."""

    tied_weights: ClassVar[dict[str, str]] = {"lm_head.weight": "shared.weight"}

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.lm_head = Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                encoder_outputs: Any = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, decoder_inputs_embeds: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, use_cache: bool | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, logits_to_keep: int = 0, **_: Any) -> Any:
        """Source ids (batch, src) and decoder ids (batch, tgt) -> logits (batch, tgt, vocab).

        With ``labels`` (batch, tgt; -100 ignored) and no decoder ids, the decoder inputs are the labels shifted
        right behind ``decoder_start_token_id``, and ``loss`` is returned. ``encoder_outputs`` skips the encoder.
        """
        decoder_input_ids = decoder_inputs_from_labels(self.config, labels, decoder_input_ids, decoder_inputs_embeds)
        encoded, decoded = self._run(input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
                                     encoder_outputs, past_key_values, inputs_embeds, decoder_inputs_embeds, use_cache,
                                     output_attentions, output_hidden_states)
        hidden = decoded.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        if self.config.scale_decoder_outputs:
            hidden = hidden * (self.config.d_model ** -0.5)
        logits = self.lm_head(hidden)
        loss = seq2seq_loss(logits, labels) if labels is not None else None
        out = Seq2SeqLMOutput(
            loss=loss, logits=logits, past_key_values=decoded.past_key_values,
            decoder_hidden_states=decoded.hidden_states, decoder_attentions=decoded.attentions,
            cross_attentions=decoded.cross_attentions, encoder_last_hidden_state=encoded.last_hidden_state,
            encoder_hidden_states=encoded.hidden_states, encoder_attentions=encoded.attentions)
        return out if return_dict is not False else out.to_tuple()

    def load_checkpoint(self, files: list[Path], *, dtype: torch.dtype | None = None,
                        device: torch.device | None = None) -> LoadingReport:
        """As transformers 5: the head is tied to ``shared`` unless the checkpoint holds a different one."""
        has_head = any(key == "lm_head.weight" for key, _, _ in iter_checkpoint(files))
        if not has_head and not self.config.tie_word_embeddings:
            self.config.tie_word_embeddings = True
            self.tie_weights()
        report = super().load_checkpoint(files, dtype=dtype, device=device)
        if has_head and self.config.tie_word_embeddings and not torch.equal(self.lm_head.weight, self.shared.weight):
            self.config.tie_word_embeddings = False
        return report


class T5EncoderModel(T5PreTrainedModel):
    """The encoder alone (sentence embeddings, classification features): last_hidden_state (batch, seq, d_model)."""

    aliased_weights: ClassVar[dict[str, str]] = {"encoder.embed_tokens.weight": "shared.weight"}
    ignore_unexpected: ClassVar[tuple[str, ...]] = (r"(^|\.)position_ids$", r"^decoder\.", r"^lm_head\.")

    def __init__(self, config: T5Config) -> None:
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, is_decoder=False)
        self.post_init()

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None, **_: Any) -> Any:
        out = self._encode(input_ids, attention_mask, inputs_embeds, None, output_attentions, output_hidden_states)
        return out if return_dict is not False else out.to_tuple()


class MT5Model(T5Model):
    config_class = MT5Config


class MT5ForConditionalGeneration(T5ForConditionalGeneration):
    config_class = MT5Config


class MT5EncoderModel(T5EncoderModel):
    config_class = MT5Config


_HEADS = {"T5ForSequenceClassification", "T5ForTokenClassification", "T5ForQuestionAnswering",
          "MT5ForSequenceClassification", "MT5ForTokenClassification", "MT5ForQuestionAnswering",
          "T5ClassificationHead"}


def __getattr__(name: str) -> Any:
    # the task heads live in t5_heads.py (which builds on this module); the auto registry imports them from here
    if name in _HEADS:
        from embrace.models import t5_heads

        return getattr(t5_heads, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
