"""Llama and the Llama-shaped families: Mistral (sliding window) and Qwen2 (q/k/v bias, per-layer windows).

SmolLM, Llama 2/3, TinyLlama, Mistral 7B and Qwen2/2.5 all load through these classes. Module names follow the
reference checkpoints (``model.layers.N.self_attn.q_proj`` ...) so weights and PEFT adapters map one-to-one.
Rotary scaling (default/linear/dynamic/llama3/yarn) is in :mod:`embrace.models.rotary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from embrace.errors import InvalidConfigError
from embrace.models.cache import DynamicCache, KVCache
from embrace.models.causal_lm import (
    BaseModelOutputWithPast,
    CausalLMBase,
    attention_bias,
    check_token_inputs,
    default_position_ids,
)
from embrace.models.configuration import PretrainedConfig
from embrace.models.layers import activation
from embrace.models.linear import Linear, project_fused
from embrace.models.modeling import PreTrainedModel
from embrace.models.rotary import RotaryEmbedding, apply_rotary, normalize_rope_parameters


def check_heads(hidden_size: int, num_heads: int, num_kv_heads: int | None = None, *,
                head_dim_given: bool = False) -> int:
    """Validate the head counts of a config; returns the key/value head count (``num_heads`` when not given)."""
    if hidden_size % num_heads and not head_dim_given:
        raise InvalidConfigError(f"hidden_size ({hidden_size}) must be a multiple of num_attention_heads "
                                 f"({num_heads}) unless head_dim is given")
    kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if num_heads % kv_heads:
        raise InvalidConfigError(f"num_attention_heads ({num_heads}) must be a multiple of "
                                 f"num_key_value_heads ({kv_heads})")
    return kv_heads


@dataclass(kw_only=True)
class LlamaConfig(PretrainedConfig):
    model_type: ClassVar[str] = "llama"
    qkv_bias_default: ClassVar[bool] = False   # Qwen2 always has q/k/v biases
    norm_offset: ClassVar[float] = 0.0         # Gemma: RMSNorm scales by (1 + weight)
    scale_embeddings: ClassVar[bool] = False   # Gemma: token embeddings times sqrt(hidden_size)

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    hidden_act: str = "silu"
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_parameters: dict[str, Any] | None = None
    attention_bias: bool = False
    attention_dropout: float = 0.0
    mlp_bias: bool = False
    tie_word_embeddings: bool = False
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        self.num_key_value_heads = check_heads(self.hidden_size, self.num_attention_heads, self.num_key_value_heads,
                                               head_dim_given=self.head_dim is not None)
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        # old files: rope_theta + rope_scaling; new ones: rope_parameters. Keep only the new spelling.
        self.rope_parameters = normalize_rope_parameters(
            self.rope_parameters, self.extra.pop("rope_scaling", None), self.extra.pop("rope_theta", None))

    def layer_sliding_window(self, layer: int) -> int | None:
        """The attention window of ``layer`` in tokens, or None for full causal attention."""
        return None

    def qkv_bias(self) -> bool:
        return self.attention_bias or self.qkv_bias_default


@dataclass(kw_only=True)
class MistralConfig(LlamaConfig):
    model_type: ClassVar[str] = "mistral"

    max_position_embeddings: int = 4096 * 32
    sliding_window: int | None = 4096

    def layer_sliding_window(self, layer: int) -> int | None:
        return self.sliding_window


@dataclass(kw_only=True)
class Qwen2Config(LlamaConfig):
    model_type: ClassVar[str] = "qwen2"
    qkv_bias_default: ClassVar[bool] = True

    vocab_size: int = 151936
    intermediate_size: int = 22016
    max_position_embeddings: int = 32768
    use_sliding_window: bool = False
    sliding_window: int | None = 4096
    max_window_layers: int = 28
    layer_types: list[str] | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        window = self.sliding_window if self.use_sliding_window else None
        if self.layer_types is None:
            self.layer_types = ["sliding_attention" if window is not None and i >= self.max_window_layers
                                else "full_attention" for i in range(self.num_hidden_layers)]

    def layer_sliding_window(self, layer: int) -> int | None:
        assert self.layer_types is not None
        if self.layer_types[layer] == "sliding_attention" and self.use_sliding_window:
            return self.sliding_window
        return None


class RMSNorm(nn.Module):
    """``weight * x / rms(x)``, computed in float32 and cast back (the reference's LlamaRMSNorm).

    With ``offset=1.0`` it is Gemma's norm: ``(1 + weight) * x / rms(x)`` with the scale applied in float32
    before the cast, and the weight stored zero-centred.
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6, offset: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size) if offset == 0.0 else torch.zeros(hidden_size))
        self.variance_epsilon = eps
        self.offset = offset

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        dtype = hidden.dtype
        hidden = hidden.to(torch.float32)
        hidden = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        if self.offset:
            return (hidden * (self.offset + self.weight.float())).to(dtype)
        return self.weight * hidden.to(dtype)


class ScaledEmbedding(nn.Embedding):
    """Token embeddings multiplied by ``scale`` (rounded to the weight dtype first, as the reference does)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None, scale: float) -> None:
        super().__init__(num_embeddings, embedding_dim, padding_idx=padding_idx)
        self.scale = scale

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        weights = super().forward(input_ids)
        return weights * torch.tensor(self.scale, dtype=weights.dtype, device=weights.device)


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """``(batch, kv_heads, seq, dim)`` -> ``(batch, kv_heads * groups, seq, dim)`` for grouped-query attention."""
    if groups == 1:
        return x
    batch, heads, seq, dim = x.shape
    return x[:, :, None].expand(batch, heads, groups, seq, dim).reshape(batch, heads * groups, seq, dim)


class RotaryAttention(nn.Module):
    """Causal self-attention core of the rotary families: rotate q/k (all channels, or the first ``rotary_dim``
    with partial rotary), append to the cache, attend with SDPA (grouped-query by repeating k/v).

    Subclasses own the projections, named as in their checkpoints: :meth:`project_qkv` returns q ``(batch, heads,
    seq, head_dim)`` and k/v ``(batch, kv_heads, seq, head_dim)``; :meth:`project_out` maps the merged heads back.
    """

    def __init__(self, layer_idx: int, num_heads: int, num_kv_heads: int, head_dim: int, *,
                 dropout: float = 0.0, sliding_window: int | None = None) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = head_dim
        self.dropout = dropout
        self.sliding_window = sliding_window

    def project_qkv(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def project_out(self, attended: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def split_heads(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        """``(batch, seq, heads * head_dim)`` -> ``(batch, heads, seq, head_dim)``."""
        return x.view(x.shape[0], x.shape[1], heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        batch, seq, _ = hidden.shape
        q, k, v = self.project_qkv(hidden)
        q, k = apply_rotary(q, k, *cos_sin)
        past = 0
        if cache is not None:
            past = cache.get_seq_length(self.layer_idx)
            k, v = cache.update(self.layer_idx, k, v)
        bias, is_causal = attention_bias(attention_mask, seq, past, q.dtype, q.device, self.sliding_window)
        groups = self.num_heads // self.num_kv_heads
        dropout = self.dropout if self.training else 0.0
        if groups > 1 and bias is None:  # SDPA's own GQA: no per-step copy of the repeated keys/values
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=is_causal, enable_gqa=True)
        else:
            out = F.scaled_dot_product_attention(q, repeat_kv(k, groups), repeat_kv(v, groups), attn_mask=bias,
                                                 dropout_p=dropout, is_causal=is_causal)
        return self.project_out(out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim))


class LlamaAttention(RotaryAttention):
    def __init__(self, config: LlamaConfig, layer_idx: int) -> None:
        assert config.head_dim is not None and config.num_key_value_heads is not None
        super().__init__(layer_idx, config.num_attention_heads, config.num_key_value_heads, config.head_dim,
                         dropout=config.attention_dropout, sliding_window=config.layer_sliding_window(layer_idx))
        bias = config.qkv_bias()
        self.q_proj = Linear(config.hidden_size, self.num_heads * self.head_dim, bias=bias)
        self.k_proj = Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.v_proj = Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.o_proj = Linear(self.num_heads * self.head_dim, config.hidden_size, bias=config.attention_bias)

    def project_qkv(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = project_fused(self, ("q_proj", "k_proj", "v_proj"), hidden)
        return (self.split_heads(q, self.num_heads), self.split_heads(k, self.num_kv_heads),
                self.split_heads(v, self.num_kv_heads))

    def project_out(self, attended: torch.Tensor) -> torch.Tensor:
        return self.o_proj(attended)


class LlamaMLP(nn.Module):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.up_proj = Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.down_proj = Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)
        self.act = activation(config.hidden_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        gate, up = project_fused(self, ("gate_proj", "up_proj"), hidden)
        return self.down_proj(self.act(gate) * up)


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps, config.norm_offset)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps, config.norm_offset)

    def forward(self, hidden: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        hidden = hidden + self.self_attn(self.input_layernorm(hidden), cos_sin, attention_mask, cache)
        return hidden + self.mlp(self.post_attention_layernorm(hidden))


class LlamaPreTrainedModel(PreTrainedModel):
    config_class: ClassVar[type[PretrainedConfig]] = LlamaConfig
    base_model_prefix = "model"
    ignore_unexpected: ClassVar[tuple[str, ...]] = (r"(^|\.)position_ids$", r"rotary_emb\.inv_freq$")

    def init_weights(self, module: nn.Module) -> None:
        super().init_weights(module)
        if isinstance(module, RMSNorm):
            (nn.init.zeros_ if module.offset else nn.init.ones_)(module.weight)


class LlamaModel(LlamaPreTrainedModel):
    """The decoder body: ids (batch, seq) -> last_hidden_state (batch, seq, hidden), and the updated cache.

    Families with other module names or blocks (GPT-NeoX, Phi) subclass it and override the class attributes
    and the ``build_*`` methods; the forward is shared.
    """

    layer_class: ClassVar[type[nn.Module]] = LlamaDecoderLayer
    embedding_name: ClassVar[str] = "embed_tokens"   # attribute (and checkpoint) names of the two outer modules
    final_norm_name: ClassVar[str] = "norm"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        setattr(self, self.embedding_name, self.build_embedding(config))
        self.embed_dropout = nn.Dropout(self.embedding_dropout(config))
        self.layers = nn.ModuleList([self.layer_class(config, i) for i in range(config.num_hidden_layers)])
        setattr(self, self.final_norm_name, self.build_final_norm(config))
        self.rotary_emb = build_rotary_embedding(config)
        self.post_init()

    def build_embedding(self, config: LlamaConfig) -> nn.Embedding:
        if config.scale_embeddings:
            return ScaledEmbedding(config.vocab_size, config.hidden_size, config.pad_token_id,
                                   config.hidden_size ** 0.5)
        return nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)

    def build_final_norm(self, config: LlamaConfig) -> nn.Module:
        return RMSNorm(config.hidden_size, config.rms_norm_eps, config.norm_offset)

    def embedding_dropout(self, config: Any) -> float:
        return 0.0

    def get_input_embeddings(self) -> nn.Module:
        return self.get_submodule(self.embedding_name)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                output_hidden_states: bool | None = None, **_: Any) -> BaseModelOutputWithPast:
        check_token_inputs(input_ids, inputs_embeds)
        hidden = self.get_input_embeddings()(input_ids) if inputs_embeds is None else inputs_embeds
        hidden = self.embed_dropout(hidden)
        if past_key_values is None and use_cache:
            past_key_values = DynamicCache()
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:
            position_ids = default_position_ids(past, hidden.shape[1], hidden.shape[0], hidden.device)
        cos_sin = self.rotary_emb(position_ids, hidden.dtype)
        all_hidden: list[torch.Tensor] = []
        for layer in self.layers:
            if output_hidden_states:
                all_hidden.append(hidden)
            hidden = layer(hidden, cos_sin, attention_mask, past_key_values)
        hidden = self.get_submodule(self.final_norm_name)(hidden)
        if output_hidden_states:
            all_hidden.append(hidden)
        return BaseModelOutputWithPast(last_hidden_state=hidden, past_key_values=past_key_values,
                                       hidden_states=tuple(all_hidden) if output_hidden_states else None)


def build_rotary_embedding(config: Any) -> RotaryEmbedding:
    """RoPE for ``config.head_dim`` channels times ``rope_parameters["partial_rotary_factor"]`` (default 1)."""
    rotary_dim = int(config.head_dim * config.rope_parameters.get("partial_rotary_factor", 1.0))
    return RotaryEmbedding(config.rope_parameters, rotary_dim, config.max_position_embeddings)


class LlamaForCausalLM(LlamaPreTrainedModel, CausalLMBase):
    """Body + ``lm_head`` (tied to the input embeddings when ``tie_word_embeddings``); ``.generate()`` from the base.

    Subclasses set ``base_model_prefix`` (the body's attribute name), ``body_class`` and ``lm_head_bias``.
    """

    tied_weights = {"lm_head.weight": "model.embed_tokens.weight"}
    body_class: ClassVar[type[LlamaModel]] = LlamaModel
    lm_head_bias: ClassVar[bool] = False

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.body_class(config))
        self.lm_head = Linear(config.hidden_size, config.vocab_size, bias=self.lm_head_bias)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        body: LlamaModel = getattr(self, self.base_model_prefix)
        return body.get_input_embeddings()


class MistralModel(LlamaModel):
    config_class = MistralConfig


class MistralForCausalLM(LlamaForCausalLM):
    config_class = MistralConfig
    body_class = MistralModel


class Qwen2Model(LlamaModel):
    config_class = Qwen2Config


class Qwen2ForCausalLM(LlamaForCausalLM):
    config_class = Qwen2Config
    body_class = Qwen2Model
