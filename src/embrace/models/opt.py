"""OPT: learned absolute positions (offset by 2, counted over the attention mask so left padding is handled),
pre- or post-LayerNorm blocks, ReLU MLP, and ``project_in``/``project_out`` when ``word_embed_proj_dim`` differs
from ``hidden_size`` (OPT-350m). Module names follow the reference checkpoints (``model.decoder.layers.N...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from embrace.models.cache import DynamicCache, KVCache
from embrace.models.causal_lm import BaseModelOutputWithPast, CausalLMBase, attention_bias, check_token_inputs
from embrace.models.configuration import PretrainedConfig
from embrace.models.layers import activation, init_weights_normal
from embrace.models.linear import Linear
from embrace.models.llama import check_heads
from embrace.models.modeling import PreTrainedModel

POSITION_OFFSET = 2  # OPT's position table has two extra rows in front (a fairseq legacy)


@dataclass(kw_only=True)
class OPTConfig(PretrainedConfig):
    model_type: ClassVar[str] = "opt"

    vocab_size: int = 50272
    hidden_size: int = 768
    num_hidden_layers: int = 12
    ffn_dim: int = 3072
    max_position_embeddings: int = 2048
    do_layer_norm_before: bool = True
    _remove_final_layer_norm: bool = False
    word_embed_proj_dim: int | None = None
    dropout: float = 0.1
    attention_dropout: float = 0.0
    num_attention_heads: int = 12
    activation_function: str = "relu"
    layerdrop: float = 0.0
    init_std: float = 0.02
    enable_bias: bool = True
    layer_norm_elementwise_affine: bool = True
    pad_token_id: int | None = 1
    bos_token_id: int | None = 2
    eos_token_id: int | list[int] | None = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_heads(self.hidden_size, self.num_attention_heads)
        if self.word_embed_proj_dim is None:
            self.word_embed_proj_dim = self.hidden_size


class OPTLearnedPositionalEmbedding(nn.Embedding):
    """Position ids (batch, seq) -> embeddings, looked up at ``id + 2``."""

    def __init__(self, max_positions: int, width: int) -> None:
        super().__init__(max_positions + POSITION_OFFSET, width)

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return super().forward(position_ids + POSITION_OFFSET)


def mask_position_ids(attention_mask: torch.Tensor, past_len: int) -> torch.Tensor:
    """Positions counted over real tokens (``cumsum(mask) - 1``; pads get -1), for the new positions only."""
    mask = attention_mask.long()
    return (torch.cumsum(mask, dim=1) * mask - 1)[:, past_len:]


class OPTAttention(nn.Module):
    def __init__(self, config: OPTConfig, layer_idx: int) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim ** -0.5
        self.dropout = config.attention_dropout
        width, bias = config.hidden_size, config.enable_bias
        self.k_proj = Linear(width, width, bias=bias)
        self.v_proj = Linear(width, width, bias=bias)
        self.q_proj = Linear(width, width, bias=bias)
        self.out_proj = Linear(width, width, bias=bias)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None, cache: KVCache | None
                ) -> torch.Tensor:
        batch, seq, width = hidden.shape
        q, k, v = (proj(hidden).view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        q = q * self.scaling  # scaled before attention, as the reference does (bit-for-bit closer)
        past = 0
        if cache is not None:
            past = cache.get_seq_length(self.layer_idx)
            k, v = cache.update(self.layer_idx, k, v)
        bias, is_causal = attention_bias(attention_mask, seq, past, q.dtype, q.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=is_causal, scale=1.0,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(batch, seq, width))


class OPTDecoderLayer(nn.Module):
    """Attention then ReLU MLP, each with a residual; LayerNorm before each (most OPTs) or after (OPT-350m)."""

    def __init__(self, config: OPTConfig, layer_idx: int) -> None:
        super().__init__()
        width, affine = config.hidden_size, config.layer_norm_elementwise_affine
        self.self_attn = OPTAttention(config, layer_idx)
        self.do_layer_norm_before = config.do_layer_norm_before
        self.dropout = nn.Dropout(config.dropout)
        self.activation_fn = activation(config.activation_function)
        self.self_attn_layer_norm = nn.LayerNorm(width, elementwise_affine=affine)
        self.fc1 = Linear(width, config.ffn_dim, bias=config.enable_bias)
        self.fc2 = Linear(config.ffn_dim, width, bias=config.enable_bias)
        self.final_layer_norm = nn.LayerNorm(width, elementwise_affine=affine)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None, cache: KVCache | None
                ) -> torch.Tensor:
        pre = self.do_layer_norm_before
        attn_in = self.self_attn_layer_norm(hidden) if pre else hidden
        hidden = hidden + self.dropout(self.self_attn(attn_in, attention_mask, cache))
        if not pre:
            hidden = self.self_attn_layer_norm(hidden)
        mlp_in = self.final_layer_norm(hidden) if pre else hidden
        hidden = hidden + self.dropout(self.fc2(self.activation_fn(self.fc1(mlp_in))))
        return hidden if pre else self.final_layer_norm(hidden)


class OPTPreTrainedModel(PreTrainedModel):
    config_class: ClassVar[type[PretrainedConfig]] = OPTConfig
    base_model_prefix = "model"

    def init_weights(self, module: nn.Module) -> None:
        init_weights_normal(module, self.config.init_std)


class OPTDecoder(OPTPreTrainedModel):
    def __init__(self, config: OPTConfig) -> None:
        super().__init__(config)
        assert config.word_embed_proj_dim is not None
        width, proj = config.hidden_size, config.word_embed_proj_dim
        self.layerdrop = config.layerdrop
        self.embed_tokens = nn.Embedding(config.vocab_size, proj, padding_idx=config.pad_token_id)
        self.embed_positions = OPTLearnedPositionalEmbedding(config.max_position_embeddings, width)
        self.project_out = Linear(width, proj, bias=False) if proj != width else None
        self.project_in = Linear(proj, width, bias=False) if proj != width else None
        final_norm = config.do_layer_norm_before and not config._remove_final_layer_norm
        self.final_layer_norm = (nn.LayerNorm(width, elementwise_affine=config.layer_norm_elementwise_affine)
                                 if final_norm else None)
        self.layers = nn.ModuleList([OPTDecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embed_tokens

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                output_hidden_states: bool | None = None, **_: Any) -> BaseModelOutputWithPast:
        check_token_inputs(input_ids, inputs_embeds)
        embeds = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        if past_key_values is None and use_cache:
            past_key_values = DynamicCache()
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        batch, seq = embeds.shape[:2]
        if position_ids is None:
            position_mask = attention_mask if attention_mask is not None else torch.ones(
                batch, past + seq, dtype=torch.long, device=embeds.device)
            position_ids = mask_position_ids(position_mask, past)
        if self.project_in is not None:
            embeds = self.project_in(embeds)
        hidden = embeds + self.embed_positions(position_ids)
        all_hidden: list[torch.Tensor] = []
        for layer in self.layers:
            if output_hidden_states:
                all_hidden.append(hidden)
            if self.training and self.layerdrop > 0.0 and float(torch.rand([])) < self.layerdrop:
                continue
            hidden = layer(hidden, attention_mask, past_key_values)
        if self.final_layer_norm is not None:
            hidden = self.final_layer_norm(hidden)
        if self.project_out is not None:
            hidden = self.project_out(hidden)
        if output_hidden_states:
            all_hidden.append(hidden)
        return BaseModelOutputWithPast(last_hidden_state=hidden, past_key_values=past_key_values,
                                       hidden_states=tuple(all_hidden) if output_hidden_states else None)


class OPTModel(OPTPreTrainedModel):
    """``decoder`` wrapper, as in the reference (checkpoint names ``decoder.layers.N...``)."""

    def __init__(self, config: OPTConfig) -> None:
        super().__init__(config)
        self.decoder = OPTDecoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.decoder.embed_tokens

    def forward(self, *args: Any, **kwargs: Any) -> BaseModelOutputWithPast:
        out: BaseModelOutputWithPast = self.decoder(*args, **kwargs)
        return out


class OPTForCausalLM(OPTPreTrainedModel, CausalLMBase):
    tied_weights = {"lm_head.weight": "model.decoder.embed_tokens.weight"}
    learned_positions = True

    def __init__(self, config: OPTConfig) -> None:
        super().__init__(config)
        assert config.word_embed_proj_dim is not None
        self.model = OPTModel(config)
        self.lm_head = Linear(config.word_embed_proj_dim, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.decoder.embed_tokens
