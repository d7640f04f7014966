"""Key/value caches for causal attention: a growing one and a preallocated one, behind one small protocol.

Tensors are ``(batch, kv_heads, seq, head_dim)``. Layers call ``update(layer, key, value)`` with the new
positions and get back the full keys/values to attend over. Lengths are Python ints kept on the host, so the
decode loop never reads the device to know where to write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

from embrace.errors import EmbraceError


class CacheFullError(EmbraceError, ValueError):
    """A preallocated cache was asked to hold more positions than it was built for."""


@runtime_checkable
class KVCache(Protocol):
    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``key``/``value`` (batch, kv_heads, new, head_dim) for ``layer``; return all keys/values so far."""
        ...

    def get_seq_length(self, layer: int = 0) -> int:
        """Positions cached for ``layer`` (before this step's update when called at the start of a forward)."""
        ...

    def reorder(self, index: torch.Tensor) -> None:
        """Reorder the batch rows (beam search): row ``i`` becomes old row ``index[i]``."""
        ...


class DynamicCache:
    """Grows by concatenation; no size limit. Simple and right for short or one-off forwards."""

    def __init__(self) -> None:
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if layer == len(self.keys):
            self.keys.append(key)
            self.values.append(value)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], key), dim=-2)
            self.values[layer] = torch.cat((self.values[layer], value), dim=-2)
        return self.keys[layer], self.values[layer]

    def get_seq_length(self, layer: int = 0) -> int:
        return self.keys[layer].shape[-2] if layer < len(self.keys) else 0

    def reorder(self, index: torch.Tensor) -> None:
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]


class StaticCache:
    """Preallocated to ``max_length`` positions per layer on first use; new positions are written by index,
    so decoding allocates nothing per token. Returned keys/values are views of the filled prefix."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.lengths: list[int] = []

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if layer == len(self.keys):
            batch, heads, _, dim = key.shape
            self.keys.append(key.new_empty(batch, heads, self.max_length, dim))
            self.values.append(value.new_empty(batch, heads, self.max_length, value.shape[-1]))
            self.lengths.append(0)
        start = self.lengths[layer]
        end = start + key.shape[-2]
        if end > self.max_length:
            raise CacheFullError(f"StaticCache holds {self.max_length} positions; step needs {end}. "
                                 "Build it with a larger max_length (prompt length + max_new_tokens).")
        self.keys[layer][:, :, start:end] = key
        self.values[layer][:, :, start:end] = value
        self.lengths[layer] = end
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def get_seq_length(self, layer: int = 0) -> int:
        return self.lengths[layer] if layer < len(self.lengths) else 0

    def reorder(self, index: torch.Tensor) -> None:
        for i in range(len(self.keys)):
            self.keys[i] = self.keys[i].index_select(0, index)
            self.values[i] = self.values[i].index_select(0, index)


class EncoderDecoderCache:
    """The cache of a seq2seq decoder: a self-attention cache and a cross-attention cache (each a
    :class:`DynamicCache` or :class:`StaticCache`).

    Cross-attention keys/values depend only on the encoder output, so each layer computes them once (first decoder
    step) through :meth:`cross_attention` and reuses them afterwards. ``update``/``get_seq_length`` act on the
    self-attention cache, so this object is also a :class:`KVCache`. ``reorder`` moves the rows of both.
    """

    def __init__(self, self_attention_cache: DynamicCache | StaticCache | None = None,
                 cross_attention_cache: DynamicCache | StaticCache | None = None) -> None:
        self.self_attention_cache = self_attention_cache if self_attention_cache is not None else DynamicCache()
        self.cross_attention_cache = cross_attention_cache if cross_attention_cache is not None else DynamicCache()

    @property
    def is_updated(self) -> set[int]:
        """Layers whose cross-attention keys/values are cached."""
        cache = self.cross_attention_cache
        return {layer for layer in range(len(cache.keys)) if cache.get_seq_length(layer) > 0}

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.self_attention_cache.update(layer, key, value)

    def get_seq_length(self, layer: int = 0) -> int:
        return self.self_attention_cache.get_seq_length(layer)

    def cross_attention(self, layer: int, compute: Callable[[], tuple[torch.Tensor, torch.Tensor]]
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's cross-attention keys/values: ``compute()`` them on first use, then the cached ones."""
        cache = self.cross_attention_cache
        length = cache.get_seq_length(layer)
        if length > 0:
            return cache.keys[layer][:, :, :length], cache.values[layer][:, :, :length]
        key, value = compute()
        return cache.update(layer, key, value)

    def reorder(self, index: torch.Tensor) -> None:
        self.self_attention_cache.reorder(index)
        cross = self.cross_attention_cache
        rows = cross.keys[0].shape[0] if cross.keys else len(index)
        if rows != len(index) and len(index) % rows == 0:
            # one cross-attention row per group of decoder rows (beams); beams never leave their group
            group = len(index) // rows
            index = index[::group] // group
        cross.reorder(index)

    def reorder_self_attention(self, index: torch.Tensor) -> None:
        """Beam search: beams of one prompt share the encoder output, so only the self-attention rows move."""
        self.self_attention_cache.reorder(index)
