"""Phi (1, 1.5, 2): one LayerNorm per block feeding attention and MLP in parallel, partial rotary, biases on
every projection and on the LM head, optional q/k LayerNorm. The body and attention core are Llama's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.models.cache import KVCache
from embrace.models.configuration import PretrainedConfig
from embrace.models.gpt_neox import DenseMLP
from embrace.models.linear import Linear
from embrace.models.llama import (
    LlamaForCausalLM,
    LlamaModel,
    LlamaPreTrainedModel,
    RotaryAttention,
    check_heads,
)
from embrace.models.rotary import normalize_rope_parameters


@dataclass(kw_only=True)
class PhiConfig(PretrainedConfig):
    model_type: ClassVar[str] = "phi"

    vocab_size: int = 51200
    hidden_size: int = 2048
    intermediate_size: int = 8192
    num_hidden_layers: int = 24
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    resid_pdrop: float = 0.0
    embd_pdrop: float = 0.0
    attention_dropout: float = 0.0
    hidden_act: str = "gelu_new"
    max_position_embeddings: int = 2048
    layer_norm_eps: float = 1e-5
    rope_parameters: dict[str, Any] | None = None
    qk_layernorm: bool = False
    tie_word_embeddings: bool = False
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        self.num_key_value_heads = check_heads(self.hidden_size, self.num_attention_heads, self.num_key_value_heads)
        params = normalize_rope_parameters(self.rope_parameters, self.extra.pop("rope_scaling", None),
                                           self.extra.pop("rope_theta", None))
        params.setdefault("partial_rotary_factor", self.extra.pop("partial_rotary_factor", 0.5))
        self.rope_parameters = params

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


class PhiAttention(RotaryAttention):
    def __init__(self, config: PhiConfig, layer_idx: int) -> None:
        assert config.num_key_value_heads is not None
        super().__init__(layer_idx, config.num_attention_heads, config.num_key_value_heads, config.head_dim,
                         dropout=config.attention_dropout)
        width = config.hidden_size
        self.q_proj = Linear(width, self.num_heads * self.head_dim)
        self.k_proj = Linear(width, self.num_kv_heads * self.head_dim)
        self.v_proj = Linear(width, self.num_kv_heads * self.head_dim)
        self.dense = Linear(self.num_heads * self.head_dim, width)
        self.qk_layernorm = config.qk_layernorm
        if self.qk_layernorm:
            self.q_layernorm = nn.LayerNorm(self.head_dim, eps=config.layer_norm_eps)
            self.k_layernorm = nn.LayerNorm(self.head_dim, eps=config.layer_norm_eps)

    def project_qkv(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q = self.split_heads(self.q_proj(hidden), self.num_heads)
        k = self.split_heads(self.k_proj(hidden), self.num_kv_heads)
        if self.qk_layernorm:
            q, k = self.q_layernorm(q), self.k_layernorm(k)
        return q, k, self.split_heads(self.v_proj(hidden), self.num_kv_heads)

    def project_out(self, attended: torch.Tensor) -> torch.Tensor:
        return self.dense(attended)


class PhiDecoderLayer(nn.Module):
    """``x + attn(ln(x)) + mlp(ln(x))``: one LayerNorm, attention and MLP in parallel."""

    def __init__(self, config: PhiConfig, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = PhiAttention(config, layer_idx)
        self.mlp = DenseMLP(config, ("fc1", "fc2"))
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        normed = self.input_layernorm(hidden)
        attended = self.resid_dropout(self.self_attn(normed, cos_sin, attention_mask, cache))
        return attended + self.resid_dropout(self.mlp(normed)) + hidden


class PhiPreTrainedModel(LlamaPreTrainedModel):
    config_class: ClassVar[type[PretrainedConfig]] = PhiConfig


class PhiModel(PhiPreTrainedModel, LlamaModel):
    layer_class = PhiDecoderLayer
    final_norm_name = "final_layernorm"

    def build_embedding(self, config: Any) -> nn.Embedding:
        return nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)

    def build_final_norm(self, config: Any) -> nn.Module:
        return nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def embedding_dropout(self, config: Any) -> float:
        return float(config.embd_pdrop)


class PhiForCausalLM(PhiPreTrainedModel, LlamaForCausalLM):
    body_class = PhiModel
    lm_head_bias = True
