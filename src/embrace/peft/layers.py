"""What every adapter layer shares: the wrapped ``base_layer``, the per-adapter parameter containers, which
adapters are active, merge bookkeeping; and :class:`ModulesToSaveWrapper` (a module trained in full per adapter).
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
from torch import nn


def is_conv1d(module: nn.Module) -> bool:
    """GPT-2-style ``Conv1D``: a linear layer whose weight is stored ``(in_features, out_features)``."""
    weight = getattr(module, "weight", None)
    return type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor) and weight.dim() == 2


def param(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """``module.<name>`` typed as a tensor."""
    return cast(torch.Tensor, getattr(module, name))


def is_linear_like(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or is_conv1d(module)


class AdapterLayer(nn.Module):
    """A wrapped layer (``base_layer``) plus per-adapter parameters held in the containers named by
    ``adapter_layer_names`` (``nn.ModuleDict``/``nn.ParameterDict`` keyed by adapter name)."""

    adapter_layer_names: tuple[str, ...] = ()
    other_adapter_names: tuple[str, ...] = ()  # per-adapter dicts/containers without trainable weights

    def __init__(self, base_layer: nn.Module) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.active_adapters: list[str] = []
        self.merged_adapters: list[str] = []
        self.disabled = False

    # ---- bookkeeping -------------------------------------------------------------------------------------------
    @property
    def merged(self) -> bool:
        return bool(self.merged_adapters)

    @property
    def weight(self) -> torch.Tensor:
        """The base layer's weight (code that reads ``layer.weight`` keeps working after wrapping)."""
        return param(self.base_layer)

    @property
    def bias(self) -> torch.Tensor | None:
        return getattr(self.base_layer, "bias", None)

    def adapter_names(self) -> list[str]:
        names: list[str] = []
        for attr in self.adapter_layer_names:
            names += [name for name in getattr(self, attr) if name not in names]
        return names

    def _adapter_tensors(self, adapter_name: str) -> list[nn.Parameter]:
        out: list[nn.Parameter] = []
        for name in self.adapter_layer_names:
            container = getattr(self, name)
            if adapter_name in container:
                item = container[adapter_name]
                out.extend(item.parameters() if isinstance(item, nn.Module) else [cast(nn.Parameter, item)])
        return out

    def _place_adapter(self, adapter_name: str) -> None:
        """Put the new adapter on the base layer's device; cast through the base dtype, then keep float32 for a
        half-precision base (what PEFT does, so a seeded init gives the same numbers)."""
        weight = param(self.base_layer)
        for name in self.adapter_layer_names:
            container = getattr(self, name)
            if adapter_name not in container:
                continue
            item = container[adapter_name]
            placed = item.to(weight.device, dtype=weight.dtype)
            if weight.dtype in (torch.float16, torch.bfloat16):
                placed = placed.to(torch.float32)
            if isinstance(container, nn.ParameterDict):
                container[adapter_name] = nn.Parameter(placed.data if isinstance(placed, nn.Parameter) else placed)
            else:
                container[adapter_name] = placed

    def set_active(self, adapter_names: list[str], trainable: bool) -> None:
        """Make ``adapter_names`` the active adapters; only their weights require grad (when ``trainable``)."""
        self.active_adapters = list(adapter_names)
        for name in self.adapter_names():
            for param in self._adapter_tensors(name):
                param.requires_grad_(trainable and name in adapter_names)

    def delete_adapter(self, adapter_name: str) -> None:
        for name in (*self.adapter_layer_names, *self.other_adapter_names):
            container = getattr(self, name)
            if adapter_name in container:
                del container[adapter_name]
        self.active_adapters = [a for a in self.active_adapters if a != adapter_name]

    def merge(self, adapter_names: list[str] | None = None, safe_merge: bool = False) -> None:
        raise NotImplementedError

    def unmerge(self) -> None:
        raise NotImplementedError


class ModulesToSaveWrapper(nn.Module):
    """A module trained in full for an adapter (e.g. the classification head): the frozen ``original_module`` and
    one trainable copy per adapter in ``modules_to_save[adapter]``; ``forward`` runs the active adapter's copy."""

    def __init__(self, module: nn.Module, adapter_name: str) -> None:
        super().__init__()
        self.original_module = module
        self.modules_to_save = nn.ModuleDict()
        self.active_adapter: str | None = None
        self.disabled = False
        module.requires_grad_(False)
        self.add_adapter(adapter_name)

    def add_adapter(self, adapter_name: str) -> None:
        if adapter_name not in self.modules_to_save:
            self.modules_to_save[adapter_name] = copy.deepcopy(self.original_module)

    def adapter_names(self) -> list[str]:
        return list(self.modules_to_save)

    def set_active(self, adapter_names: list[str], trainable: bool) -> None:
        active = [n for n in adapter_names if n in self.modules_to_save]
        self.active_adapter = active[0] if active else None
        for name, module in self.modules_to_save.items():
            module.requires_grad_(trainable and name == self.active_adapter)

    def delete_adapter(self, adapter_name: str) -> None:
        if adapter_name in self.modules_to_save:
            del self.modules_to_save[adapter_name]
        if self.active_adapter == adapter_name:
            self.active_adapter = None

    def current(self) -> nn.Module:
        if self.disabled or self.active_adapter is None:
            return self.original_module
        return self.modules_to_save[self.active_adapter]

    @property
    def weight(self) -> torch.Tensor:
        return param(self.current())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.current()(*args, **kwargs)
