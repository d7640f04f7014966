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
from embrace.models.modeling import PreTrainedModel
from embrace.models.rotary import RotaryEmbedding, apply_rotary, normalize_rope_parameters


@dataclass(kw_only=True)
class LlamaConfig(PretrainedConfig):
    model_type: ClassVar[str] = "llama"
    qkv_bias_default: ClassVar[bool] = False   # Qwen2 always has q/k/v biases

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
        if self.hidden_size % self.num_attention_heads and self.head_dim is None:
            raise InvalidConfigError(f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                                     f"({self.num_attention_heads}) unless head_dim is given")
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise InvalidConfigError(f"num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                                     f"num_key_value_heads ({self.num_key_value_heads})")
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
    """``weight * x / rms(x)``, computed in float32 and cast back (the reference's LlamaRMSNorm)."""

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        dtype = hidden.dtype
        hidden = hidden.to(torch.float32)
        hidden = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * hidden.to(dtype)


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """``(batch, kv_heads, seq, dim)`` -> ``(batch, kv_heads * groups, seq, dim)`` for grouped-query attention."""
    if groups == 1:
        return x
    batch, heads, seq, dim = x.shape
    return x[:, :, None].expand(batch, heads, groups, seq, dim).reshape(batch, heads * groups, seq, dim)


class LlamaAttention(nn.Module):
    def __init__(self, config: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        assert config.head_dim is not None and config.num_key_value_heads is not None
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.sliding_window = config.layer_sliding_window(layer_idx)
        self.dropout = config.attention_dropout
        bias = config.qkv_bias()
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=config.attention_bias)

    def forward(self, hidden: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        batch, seq, _ = hidden.shape
        q = self.q_proj(hidden).view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, k, *cos_sin)
        past = 0
        if cache is not None:
            past = cache.get_seq_length(self.layer_idx)
            k, v = cache.update(self.layer_idx, k, v)
        bias, is_causal = attention_bias(attention_mask, seq, past, q.dtype, q.device, self.sliding_window)
        groups = self.num_heads // self.num_kv_heads
        out = F.scaled_dot_product_attention(q, repeat_kv(k, groups), repeat_kv(v, groups), attn_mask=bias,
                                             dropout_p=self.dropout if self.training else 0.0, is_causal=is_causal)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim))


class LlamaMLP(nn.Module):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)
        self.act = activation(config.hidden_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.gate_proj(hidden)) * self.up_proj(hidden))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, hidden: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        hidden = hidden + self.self_attn(self.input_layernorm(hidden), cos_sin, attention_mask, cache)
        return hidden + self.mlp(self.post_attention_layernorm(hidden))


class LlamaPreTrainedModel(PreTrainedModel):
    config_class: ClassVar[type[PretrainedConfig]] = LlamaConfig
    base_model_prefix = "model"
    ignore_unexpected = (r"(^|\.)position_ids$", r"rotary_emb\.inv_freq$")

    def init_weights(self, module: nn.Module) -> None:
        super().init_weights(module)
        if isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)


class LlamaModel(LlamaPreTrainedModel):
    """The decoder body: ids (batch, seq) -> last_hidden_state (batch, seq, hidden), and the updated cache."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        assert config.rope_parameters is not None and config.head_dim is not None
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.layers = nn.ModuleList([LlamaDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        rotary_dim = int(config.head_dim * config.rope_parameters.get("partial_rotary_factor", 1.0))
        self.rotary_emb = RotaryEmbedding(config.rope_parameters, rotary_dim, config.max_position_embeddings)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embed_tokens

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                output_hidden_states: bool | None = None, **_: Any) -> BaseModelOutputWithPast:
        check_token_inputs(input_ids, inputs_embeds)
        hidden = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
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
        hidden = self.norm(hidden)
        if output_hidden_states:
            all_hidden.append(hidden)
        return BaseModelOutputWithPast(last_hidden_state=hidden, past_key_values=past_key_values,
                                       hidden_states=tuple(all_hidden) if output_hidden_states else None)


class LlamaForCausalLM(LlamaPreTrainedModel, CausalLMBase):
    """Body + ``lm_head`` (tied to ``embed_tokens`` when ``tie_word_embeddings``); ``.generate()`` from the base."""

    tied_weights = {"lm_head.weight": "model.embed_tokens.weight"}
    body_class: ClassVar[type[LlamaModel]] = LlamaModel

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.model = self.body_class(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.embed_tokens


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
