"""GPT-NeoX and Pythia: LayerNorm blocks with a parallel residual (attention and MLP read the same input),
partial rotary (``rotary_pct`` of each head) and a fused q/k/v projection in NeoX's per-head layout
``(heads, 3, head_dim)``. The body and attention core are Llama's (:mod:`embrace.models.llama`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from embrace.models.cache import KVCache
from embrace.models.configuration import PretrainedConfig
from embrace.models.layers import activation
from embrace.models.linear import Linear
from embrace.models.llama import (
    LlamaForCausalLM,
    LlamaModel,
    LlamaPreTrainedModel,
    RotaryAttention,
    check_heads,
)
from embrace.models.loading import RenameRule
from embrace.models.rotary import normalize_rope_parameters


@dataclass(kw_only=True)
class GPTNeoXConfig(PretrainedConfig):
    model_type: ClassVar[str] = "gpt_neox"

    vocab_size: int = 50432
    hidden_size: int = 6144
    num_hidden_layers: int = 44
    num_attention_heads: int = 64
    intermediate_size: int = 24576
    hidden_act: str = "gelu"
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0
    classifier_dropout: float = 0.1
    max_position_embeddings: int = 2048
    layer_norm_eps: float = 1e-5
    use_parallel_residual: bool = True
    rope_parameters: dict[str, Any] | None = None
    attention_bias: bool = True
    tie_word_embeddings: bool = False
    bos_token_id: int | None = 0
    eos_token_id: int | list[int] | None = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_heads(self.hidden_size, self.num_attention_heads)
        # old files: rotary_pct / rotary_emb_base / rope_scaling; new ones: rope_parameters
        params = normalize_rope_parameters(self.rope_parameters, self.extra.pop("rope_scaling", None),
                                           self.extra.pop("rotary_emb_base", None))
        params.setdefault("partial_rotary_factor", self.extra.pop("rotary_pct", 0.25))
        self.rope_parameters = params

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


class GPTNeoXAttention(RotaryAttention):
    def __init__(self, config: GPTNeoXConfig, layer_idx: int) -> None:
        heads = config.num_attention_heads
        super().__init__(layer_idx, heads, heads, config.head_dim, dropout=config.attention_dropout)
        self.query_key_value = Linear(config.hidden_size, 3 * config.hidden_size, bias=config.attention_bias)
        self.dense = Linear(config.hidden_size, config.hidden_size, bias=config.attention_bias)

    def project_qkv(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, seq, _ = hidden.shape
        qkv = self.query_key_value(hidden).view(batch, seq, self.num_heads, 3 * self.head_dim).transpose(1, 2)
        q, k, v = qkv.chunk(3, dim=-1)
        return q, k, v

    def project_out(self, attended: torch.Tensor) -> torch.Tensor:
        return self.dense(attended)


class DenseMLP(nn.Module):
    """``out(act(in(x)))`` with two biased projections, named as in the family's checkpoints: GPT-NeoX's
    ``("dense_h_to_4h", "dense_4h_to_h")``, Phi's ``("fc1", "fc2")``."""

    def __init__(self, config: Any, names: tuple[str, str]) -> None:
        super().__init__()
        self.names = names
        setattr(self, names[0], Linear(config.hidden_size, config.intermediate_size))
        setattr(self, names[1], Linear(config.intermediate_size, config.hidden_size))
        self.act = activation(config.hidden_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        up, down = self.names
        return getattr(self, down)(self.act(getattr(self, up)(hidden)))


class GPTNeoXLayer(nn.Module):
    """``x + attn(ln1(x)) + mlp(ln2(x))`` (parallel residual) or the sequential pre-LN block."""

    def __init__(self, config: GPTNeoXConfig, layer_idx: int) -> None:
        super().__init__()
        self.use_parallel_residual = config.use_parallel_residual
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_attention_dropout = nn.Dropout(config.hidden_dropout)
        self.post_mlp_dropout = nn.Dropout(config.hidden_dropout)
        self.attention = GPTNeoXAttention(config, layer_idx)
        self.mlp = DenseMLP(config, ("dense_h_to_4h", "dense_4h_to_h"))

    def forward(self, hidden: torch.Tensor, cos_sin: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None, cache: KVCache | None) -> torch.Tensor:
        attended = self.post_attention_dropout(
            self.attention(self.input_layernorm(hidden), cos_sin, attention_mask, cache))
        if self.use_parallel_residual:
            return self.post_mlp_dropout(self.mlp(self.post_attention_layernorm(hidden))) + attended + hidden
        attended = attended + hidden
        return self.post_mlp_dropout(self.mlp(self.post_attention_layernorm(attended))) + attended


class GPTNeoXPreTrainedModel(LlamaPreTrainedModel):
    config_class: ClassVar[type[PretrainedConfig]] = GPTNeoXConfig
    base_model_prefix = "gpt_neox"
    # checkpoints name the output head embed_out; old ones also carry the causal-mask buffers
    rename_rules = (RenameRule("embed_out.{p}", "lm_head.{p}"),)
    ignore_unexpected: ClassVar[tuple[str, ...]] = (
        r"(^|\.)position_ids$", r"rotary_emb\.inv_freq$", r"attention\.bias$", r"attention\.masked_bias$")


class GPTNeoXModel(GPTNeoXPreTrainedModel, LlamaModel):
    layer_class = GPTNeoXLayer
    embedding_name = "embed_in"
    final_norm_name = "final_layer_norm"

    def build_embedding(self, config: Any) -> nn.Embedding:
        return nn.Embedding(config.vocab_size, config.hidden_size)

    def build_final_norm(self, config: Any) -> nn.Module:
        return nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def embedding_dropout(self, config: Any) -> float:
        return float(config.hidden_dropout)


class GPTNeoXForCausalLM(GPTNeoXPreTrainedModel, LlamaForCausalLM):
    tied_weights = {"lm_head.weight": "gpt_neox.embed_in.weight"}
    body_class = GPTNeoXModel
