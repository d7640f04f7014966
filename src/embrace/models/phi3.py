"""Phi-3 and Phi-3.5 (and Phi-4-mini, which is ``model_type: phi3``): Llama with fused projections.

The attention's q/k/v live in one ``qkv_proj`` (rows: all query heads, then the key heads, then the value heads)
and the MLP's gate and up projections in one ``gate_up_proj`` (gate rows first), as in the reference
checkpoints, so weights and PEFT adapters (``target_modules=["qkv_proj", ...]``) map one-to-one. The long-context
models use the ``longrope`` rotary scaling (:mod:`embrace.models.rotary`), and ``partial_rotary_factor`` turns
only part of each head. The body, norms and attention core are Llama's (:mod:`embrace.models.llama`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.models.cache import KVCache
from embrace.models.layers import activation
from embrace.models.linear import Linear
from embrace.models.llama import LlamaConfig, LlamaForCausalLM, LlamaModel, RMSNorm, RotaryAttention

# Phi-3 files name LongRoPE "su" (the first 128k releases) or "yarn"; the reference reads both as longrope.
_LONGROPE_ALIASES = ("su", "yarn", "longrope")


def _as_longrope(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return params
    kind = params.get("rope_type", params.get("type"))
    if kind not in _LONGROPE_ALIASES:
        return params
    return {**{k: v for k, v in params.items() if k != "type"}, "rope_type": "longrope"}


@dataclass(kw_only=True)
class Phi3Config(LlamaConfig):
    model_type: ClassVar[str] = "phi3"

    vocab_size: int = 32064
    hidden_size: int = 3072
    intermediate_size: int = 8192
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    resid_pdrop: float = 0.0
    embd_pdrop: float = 0.0   # kept for the file; the reference applies no embedding dropout either
    max_position_embeddings: int = 4096
    original_max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-5
    sliding_window: int | None = None
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 32000
    pad_token_id: int | None = 32000

    def __post_init__(self) -> None:
        self.rope_parameters = _as_longrope(self.rope_parameters)
        if "rope_scaling" in self.extra:
            self.extra["rope_scaling"] = _as_longrope(self.extra["rope_scaling"])
        partial = self.extra.pop("partial_rotary_factor", 1.0)  # Phi-4-mini keeps it at the top level
        super().__post_init__()
        assert self.rope_parameters is not None
        self.rope_parameters.setdefault("partial_rotary_factor", partial)
        if self.rope_parameters["rope_type"] == "longrope":
            # as the reference: the top-level field wins over a value inside the rope dict
            self.rope_parameters["original_max_position_embeddings"] = self.original_max_position_embeddings

    def layer_sliding_window(self, layer: int) -> int | None:
        return self.sliding_window


class Phi3Attention(RotaryAttention):
    """Grouped-query attention with one fused ``qkv_proj`` and an ``o_proj``, no biases."""

    def __init__(self, config: Phi3Config, layer_idx: int) -> None:
        assert config.head_dim is not None and config.num_key_value_heads is not None
        super().__init__(layer_idx, config.num_attention_heads, config.num_key_value_heads, config.head_dim,
                         dropout=config.attention_dropout, sliding_window=config.layer_sliding_window(layer_idx))
        self.q_width = self.num_heads * self.head_dim
        self.kv_width = self.num_kv_heads * self.head_dim
        self.qkv_proj = Linear(config.hidden_size, self.q_width + 2 * self.kv_width, bias=False)
        self.o_proj = Linear(self.q_width, config.hidden_size, bias=False)

    def project_qkv(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.qkv_proj(hidden).split((self.q_width, self.kv_width, self.kv_width), dim=-1)
        return (self.split_heads(q, self.num_heads), self.split_heads(k, self.num_kv_heads),
                self.split_heads(v, self.num_kv_heads))

    def project_out(self, attended: torch.Tensor) -> torch.Tensor:
        return self.o_proj(attended)


class Phi3MLP(nn.Module):
    """``down_proj(act(gate) * up)`` with ``gate, up = gate_up_proj(x).chunk(2)``."""

    def __init__(self, config: Phi3Config) -> None:
        super().__init__()
        self.gate_up_proj = Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        self.down_proj = Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.act = activation(config.hidden_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(hidden).chunk(2, dim=-1)
        return self.down_proj(up * self.act(gate))


class Phi3DecoderLayer(nn.Module):
    """Llama's pre-norm block with the fused projections and a residual dropout on each branch."""

    def __init__(self, config: Phi3Config, layer_idx: int) -> None:
        super().__init__()
        self.self_attn = Phi3Attention(config, layer_idx)
        self.mlp = Phi3MLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.resid_attn_dropout = nn.Dropout(config.resid_pdrop)
        self.resid_mlp_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        attended = self.self_attn(self.input_layernorm(hidden), cos_sin, attention_mask, cache)
        hidden = hidden + self.resid_attn_dropout(attended)
        return hidden + self.resid_mlp_dropout(self.mlp(self.post_attention_layernorm(hidden)))


class Phi3Model(LlamaModel):
    config_class = Phi3Config
    layer_class = Phi3DecoderLayer


class Phi3ForCausalLM(LlamaForCausalLM):
    config_class = Phi3Config
    body_class = Phi3Model

    def cache_is_stale(self, past: int, length: int) -> bool:
        """True at the one decoding step where a LongRoPE sequence outgrows the original context (``past`` cached
        tokens, ``length`` in all): the cached keys turned with the short factors, so ``generate`` re-runs the whole
        sequence with the long ones, as the reference does."""
        params = self.config.rope_parameters
        if params["rope_type"] != "longrope":
            return False
        return bool(past <= params["original_max_position_embeddings"] < length)
