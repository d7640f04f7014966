"""Shared building blocks: activations, attention on torch's scaled_dot_product_attention, and masks."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def _quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


# config.json "hidden_act" / "activation" names, as the reference spells them
ACT2FN: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": _gelu_tanh,
    "gelu_fast": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "quick_gelu": _quick_gelu,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        return ACT2FN[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; supported: {sorted(ACT2FN)}") from None


def padding_mask_to_bias(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """``(batch, key_len)`` 1/0 mask -> additive bias ``(batch, 1, 1, key_len)``: 0 where kept, dtype-min where masked."""
    if attention_mask is None:
        return None
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must have shape (batch, seq_len), got {tuple(attention_mask.shape)}")
    keep = attention_mask[:, None, None, :].to(torch.bool)
    return torch.zeros(keep.shape, dtype=dtype, device=attention_mask.device).masked_fill(~keep, torch.finfo(dtype).min)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(batch, seq, heads*dim)`` -> ``(batch, heads, seq, dim)``."""
    batch, seq, width = x.shape
    return x.view(batch, seq, num_heads, width // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(batch, heads, seq, dim)`` -> ``(batch, seq, heads*dim)``."""
    batch, heads, seq, dim = x.shape
    return x.transpose(1, 2).reshape(batch, seq, heads * dim)


def attend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    dropout: float = 0.0,
    scale: float | None = None,
    is_causal: bool = False,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scaled dot-product attention over ``(batch, heads, seq, head_dim)`` tensors.

    ``bias`` is added to the scores (a padding mask from :func:`padding_mask_to_bias`, a relative position bias,
    or both). Uses ``F.scaled_dot_product_attention`` unless the attention weights are requested.
    Returns ``(output (batch, heads, q_len, head_dim), weights (batch, heads, q_len, k_len) or None)``.
    """
    if not need_weights:
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=bias, dropout_p=dropout, is_causal=is_causal and bias is None, scale=scale
        )
        return out, None
    scale = scale if scale is not None else 1.0 / math.sqrt(query.shape[-1])
    scores = torch.matmul(query, key.transpose(-1, -2)) * scale
    if is_causal:
        q_len, k_len = scores.shape[-2:]
        causal = torch.ones(q_len, k_len, dtype=torch.bool, device=scores.device).tril(k_len - q_len)
        scores = scores.masked_fill(~causal, torch.finfo(scores.dtype).min)
    if bias is not None:
        scores = scores + bias
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=dropout > 0)
    return torch.matmul(weights, value), weights


def multi_head_self_attention(
    hidden: torch.Tensor,
    projections: tuple[nn.Module, nn.Module, nn.Module],
    num_heads: int,
    bias: torch.Tensor | None,
    *,
    dropout: float = 0.0,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Project ``hidden`` (batch, seq, width) with the (query, key, value) modules, attend, and merge the heads
    back to (batch, seq, width); the output projection is left to the caller (its name differs per family)."""
    q, k, v = (split_heads(proj(hidden), num_heads) for proj in projections)
    out, weights = attend(q, k, v, bias, dropout=dropout, need_weights=need_weights)
    return merge_heads(out), weights


def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool = True, num_buckets: int = 32,
                             max_distance: int = 128) -> torch.Tensor:
    """T5/MPNet relative position buckets of ``relative_position = key_pos - query_pos``.

    Half of the buckets are exact small distances, the rest log-spaced up to ``max_distance``. Bidirectional
    (encoders) splits the buckets between keys before and after the query; unidirectional (causal decoders) only
    counts keys at or before it.
    """
    if bidirectional:
        num_buckets //= 2
        buckets = (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        buckets = torch.zeros_like(relative_position)
        distance = -torch.clamp(relative_position, max=0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    large = max_exact + (
        torch.log(distance.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).long()
    large = large.clamp(max=num_buckets - 1)
    return buckets + torch.where(is_small, distance, large)


def position_ids_from_input_ids(input_ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """RoBERTa-style positions: count non-pad tokens from ``padding_idx + 1``; pads keep ``padding_idx``."""
    mask = input_ids.ne(padding_idx).int()
    return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + padding_idx


def padding_aware_position_ids(input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor, padding_idx: int
                               ) -> torch.Tensor:
    """RoBERTa/MPNet positions from ids (pads keep ``padding_idx``), or ``padding_idx + 1 ...`` for embeddings."""
    if input_ids is not None:
        return position_ids_from_input_ids(input_ids, padding_idx)
    seq = inputs_embeds.shape[1]
    return torch.arange(padding_idx + 1, seq + padding_idx + 1, device=inputs_embeds.device).unsqueeze(0)


class TokenPositionEmbeddings(nn.Module):
    """Word + learned absolute position embeddings -> LayerNorm -> dropout (no token types): DistilBERT, MPNet.
    Subclasses change how default position ids are made (``make_position_ids``)."""

    def __init__(self, vocab_size: int, width: int, max_positions: int, *, eps: float, dropout: float,
                 word_padding_idx: int | None, position_padding_idx: int | None = None) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, width, padding_idx=word_padding_idx)
        self.position_embeddings = nn.Embedding(max_positions, width, padding_idx=position_padding_idx)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def make_position_ids(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device).unsqueeze(0)

    def forward(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None,
                position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Token ids (batch, seq) or embeddings (batch, seq, width) -> (batch, seq, width)."""
        if inputs_embeds is None:
            assert input_ids is not None
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:
            position_ids = self.make_position_ids(input_ids, inputs_embeds)
        return self.dropout(self.LayerNorm(inputs_embeds + self.position_embeddings(position_ids)))


def init_weights_normal(module: nn.Module, std: float) -> None:
    """The reference's default init: normal(0, std) for Linear/Embedding, zero biases, LayerNorm to (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        if module.weight is not None:
            nn.init.ones_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
