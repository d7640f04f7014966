"""GPT-2 (and DistilGPT2): learned positions, pre-LayerNorm blocks, fused q/k/v projection.

The projections keep the reference's ``Conv1D`` layout (weight ``(in, out)``, ``y = x @ W + b``) so checkpoint
names and shapes, and PEFT targets (``c_attn``, ``c_proj``, ``c_fc``), are the reference's unchanged.
"""

from __future__ import annotations

import math
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
from embrace.models.linear import Linear, linear, onednn_enabled
from embrace.models.modeling import PreTrainedModel


@dataclass(kw_only=True)
class GPT2Config(PretrainedConfig):
    model_type: ClassVar[str] = "gpt2"

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_embd % self.n_head:
            raise InvalidConfigError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")

    @property
    def hidden_size(self) -> int:
        return self.n_embd

    @property
    def max_position_embeddings(self) -> int:
        return self.n_positions


class Conv1D(nn.Module):
    """A linear layer with the weight stored transposed, ``(in_features, out_features)``, as GPT-2 checkpoints do."""

    def __init__(self, out_features: int, in_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if onednn_enabled() and not torch.is_grad_enabled():
            return linear(x, self.weight.t(), self.bias, self)   # oneDNN reads the transposed view in place
        shape = (*x.shape[:-1], self.weight.shape[1])
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(shape)


class GPT2Attention(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = Conv1D(3 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        scale = 1.0 / math.sqrt(self.head_dim) if config.scale_attn_weights else 1.0
        self.scale = scale / (layer_idx + 1) if config.scale_attn_by_inverse_layer_idx else scale
        self.attn_dropout = config.attn_pdrop
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None, cache: KVCache | None
                ) -> torch.Tensor:
        batch, seq, width = hidden.shape
        q, k, v = (t.view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)
                   for t in self.c_attn(hidden).split(width, dim=2))
        past = 0
        if cache is not None:
            past = cache.get_seq_length(self.layer_idx)
            k, v = cache.update(self.layer_idx, k, v)
        bias, is_causal = attention_bias(attention_mask, seq, past, q.dtype, q.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=is_causal, scale=self.scale,
                                             dropout_p=self.attn_dropout if self.training else 0.0)
        return self.resid_dropout(self.c_proj(out.transpose(1, 2).reshape(batch, seq, width)))


class GPT2MLP(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = Conv1D(inner, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, inner)
        self.act = activation(config.activation_function)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(hidden))))


class GPT2Block(nn.Module):
    def __init__(self, config: GPT2Config, layer_idx: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(config)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None, cache: KVCache | None
                ) -> torch.Tensor:
        hidden = hidden + self.attn(self.ln_1(hidden), attention_mask, cache)
        return hidden + self.mlp(self.ln_2(hidden))


class GPT2PreTrainedModel(PreTrainedModel):
    config_class: ClassVar[type[PretrainedConfig]] = GPT2Config
    base_model_prefix = "transformer"
    # old checkpoints carry the causal-mask buffers as weights
    ignore_unexpected = (r"(^|\.)position_ids$", r"attn\.bias$", r"attn\.masked_bias$")

    def init_weights(self, module: nn.Module) -> None:
        super().init_weights(module)
        if isinstance(module, Conv1D):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            nn.init.zeros_(module.bias)


class GPT2Model(GPT2PreTrainedModel):
    """Ids (batch, seq) -> last_hidden_state (batch, seq, n_embd) after the final LayerNorm."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(config, i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.wte

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                output_hidden_states: bool | None = None, **_: Any) -> BaseModelOutputWithPast:
        check_token_inputs(input_ids, inputs_embeds)
        hidden = self.wte(input_ids) if inputs_embeds is None else inputs_embeds
        if past_key_values is None and use_cache:
            past_key_values = DynamicCache()
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:
            position_ids = default_position_ids(past, hidden.shape[1], hidden.shape[0], hidden.device)
        hidden = self.drop(hidden + self.wpe(position_ids))
        all_hidden: list[torch.Tensor] = []
        for block in self.h:
            if output_hidden_states:
                all_hidden.append(hidden)
            hidden = block(hidden, attention_mask, past_key_values)
        hidden = self.ln_f(hidden)
        if output_hidden_states:
            all_hidden.append(hidden)
        return BaseModelOutputWithPast(last_hidden_state=hidden, past_key_values=past_key_values,
                                       hidden_states=tuple(all_hidden) if output_hidden_states else None)


class GPT2LMHeadModel(GPT2PreTrainedModel, CausalLMBase):
    """GPT-2 body + ``lm_head`` tied to ``wte``."""

    tied_weights = {"lm_head.weight": "transformer.wte.weight"}
    learned_positions = True

    def __init__(self, config: GPT2Config) -> None:
        super().__init__(config)
        self.transformer = GPT2Model(config)
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.transformer.wte
