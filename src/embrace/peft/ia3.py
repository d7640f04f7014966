"""(IA)^3 layers: a learned vector ``ia3_l[adapter]`` rescales a Linear / GPT-2 Conv1D layer's output
(shape ``(out_features, 1)``), or for a feed-forward module its input (``(1, in_features)``), as in the PEFT
library (same names, shapes and init, so files and seeded runs match)."""

from __future__ import annotations

import re
from typing import Any, cast

import torch
from torch import nn

from embrace.peft.config import IA3Config
from embrace.peft.layers import AdapterLayer, is_conv1d, is_linear_like, param


class IA3Linear(AdapterLayer):
    """``y = base(x) * l`` (``l`` broadcast over output features), or ``y = base(x * l)`` when feed-forward."""

    adapter_layer_names = ("ia3_l",)

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: IA3Config, is_feedforward: bool) -> None:
        super().__init__(base_layer)
        self.fan_in_fan_out = is_conv1d(base_layer)
        rows, cols = param(base_layer).shape
        self.in_features, self.out_features = (rows, cols) if self.fan_in_fan_out else (cols, rows)
        self.is_feedforward = is_feedforward
        self.ia3_l = nn.ParameterDict()
        self.add_adapter(adapter_name, config)

    def add_adapter(self, adapter_name: str, config: IA3Config) -> None:
        shape = (1, self.in_features) if self.is_feedforward else (self.out_features, 1)
        self.ia3_l[adapter_name] = nn.Parameter(torch.randn(shape))
        if config.init_ia3_weights:
            nn.init.constant_(self.ia3_l[adapter_name], 1.0)
        self._place_adapter(adapter_name)

    def _vector(self, adapter_name: str) -> torch.Tensor:
        return cast(torch.Tensor, self.ia3_l[adapter_name])

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disabled and self.merged:
            self.unmerge()
        if self.disabled or self.merged:
            return self.base_layer(x, *args, **kwargs)
        active = [name for name in self.active_adapters if name in self.ia3_l]
        if not active:
            return self.base_layer(x, *args, **kwargs)
        scaling = self._vector(active[0]).flatten()
        for name in active[1:]:
            scaling = scaling * self._vector(name).flatten()
        if self.is_feedforward:
            return self.base_layer((x.to(scaling.dtype) * scaling).to(x.dtype), *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        return (result * scaling).to(result.dtype)

    def _weight_scale(self, adapter_name: str) -> torch.Tensor:
        vector = self._vector(adapter_name).data
        return vector.T if self.fan_in_fan_out else vector

    def merge(self, adapter_names: list[str] | None = None, safe_merge: bool = False) -> None:
        base = self.base_layer
        weight, bias = param(base), getattr(base, "bias", None)
        for name in adapter_names if adapter_names is not None else self.active_adapters:
            if name not in self.ia3_l or name in self.merged_adapters:
                continue
            merged = weight.data * self._weight_scale(name)
            if safe_merge and not torch.isfinite(merged).all():
                raise ValueError(f"merging adapter {name!r} gives NaN/inf weights; the adapter is broken")
            weight.data = merged.to(weight.dtype)
            if not self.is_feedforward and isinstance(bias, torch.Tensor):
                bias.data = (bias.data * self._vector(name).data.reshape(bias.shape)).to(bias.dtype)
            self.merged_adapters.append(name)

    def unmerge(self) -> None:
        """Divide the vectors back out (exact up to rounding; a zero entry cannot be undone, as in PEFT)."""
        base = self.base_layer
        weight, bias = param(base), getattr(base, "bias", None)
        while self.merged_adapters:
            name = self.merged_adapters.pop()
            weight.data = (weight.data / (self._weight_scale(name) + 1e-8)).to(weight.dtype)
            if not self.is_feedforward and isinstance(bias, torch.Tensor):
                scale = self._vector(name).data.reshape(bias.shape) + 1e-8
                bias.data = (bias.data / scale).to(bias.dtype)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"feedforward={self.is_feedforward}, adapters={self.adapter_names()}")


def is_feedforward(config: IA3Config, key: str) -> bool:
    modules = config.feedforward_modules
    if not modules:
        return False
    if isinstance(modules, str):
        return re.fullmatch(modules, key) is not None
    return any(key.endswith(name) for name in modules)


def make_ia3_layer(target: nn.Module, adapter_name: str, config: IA3Config, key: str) -> IA3Linear | None:
    """The (IA)^3 wrapper for ``target`` (named ``key``), or None when it cannot wrap that layer type."""
    if is_linear_like(target):
        return IA3Linear(target, adapter_name, config, is_feedforward(config, key))
    return None
