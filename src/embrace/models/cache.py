"""Key/value caches for causal attention: a growing one and a preallocated one, behind one small protocol.

Tensors are ``(batch, kv_heads, seq, head_dim)``. Layers call ``update(layer, key, value)`` with the new
positions and get back the full keys/values to attend over. Lengths are Python ints kept on the host, so the
decode loop never reads the device to know where to write.
"""

from __future__ import annotations

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
