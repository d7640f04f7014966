"""LoRA layers: wrap an existing Linear / Embedding / GPT-2 Conv1D in place and add low-rank updates.

Names follow the PEFT library so state dicts line up key for key: the wrapped layer is ``base_layer``; a
Linear-like layer holds ``lora_A[adapter]`` (``nn.Linear(in, r)``) and ``lora_B[adapter]`` (``nn.Linear(r,
out)``); an Embedding holds ``lora_embedding_A[adapter]`` ``(r, num_embeddings)`` and ``lora_embedding_B[adapter]``
``(embedding_dim, r)``. Several named adapters can live side by side; the active ones are added in ``forward``.

Adapter weights are created in float32 even on a bf16/fp16 base (as PEFT's default ``autocast_adapter_dtype``):
the input is cast to the adapter's dtype for the low-rank path and the sum is cast back to the base output dtype.
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from embrace.peft.config import LoraConfig


def is_conv1d(module: nn.Module) -> bool:
    """GPT-2-style ``Conv1D``: a linear layer whose weight is stored ``(in_features, out_features)``."""
    weight = getattr(module, "weight", None)
    return type(module).__name__ == "Conv1D" and isinstance(weight, torch.Tensor) and weight.dim() == 2


def param(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """``module.<name>`` typed as a tensor."""
    return cast(torch.Tensor, getattr(module, name))


def is_linear_like(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or is_conv1d(module)


class LoraLayer(nn.Module):
    """Common state of a LoRA-wrapped layer: per-adapter rank, scaling, dropout, and the merge bookkeeping."""

    adapter_layer_names: tuple[str, ...] = ()

    def __init__(self, base_layer: nn.Module) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.r: dict[str, int] = {}
        self.lora_alpha: dict[str, float] = {}
        self.scaling: dict[str, float] = {}
        self.lora_dropout = nn.ModuleDict()
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
        return list(self.r)

    def _register_common(self, adapter_name: str, config: LoraConfig) -> None:
        self.r[adapter_name] = config.r
        self.lora_alpha[adapter_name] = config.lora_alpha
        self.scaling[adapter_name] = config.scaling
        self.lora_dropout[adapter_name] = nn.Dropout(config.lora_dropout) if config.lora_dropout > 0 else nn.Identity()

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
        for name in (*self.adapter_layer_names, "lora_dropout"):
            container = getattr(self, name)
            if adapter_name in container:
                del container[adapter_name]
        for table in (self.r, self.lora_alpha, self.scaling):
            table.pop(adapter_name, None)
        self.active_adapters = [a for a in self.active_adapters if a != adapter_name]

    # ---- running -----------------------------------------------------------------------------------------------
    def adapter_output(self, adapter_name: str, x: torch.Tensor) -> torch.Tensor:
        """What one adapter adds to the base layer's output for input ``x``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disabled and self.merged:
            self.unmerge()
        result = self.base_layer(x, *args, **kwargs)
        if self.disabled or self.merged:
            return result
        out_dtype = result.dtype
        for name in self.active_adapters:
            if name in self.r:
                result = result + self.adapter_output(name, x)
        return result.to(out_dtype)

    # ---- merging -----------------------------------------------------------------------------------------------
    def delta_weight(self, adapter_name: str) -> torch.Tensor:
        raise NotImplementedError

    def merge(self, adapter_names: list[str] | None = None, safe_merge: bool = False) -> None:
        """Add the adapters' deltas into the base weight (computed in float32 when the base is half precision)."""
        weight = param(self.base_layer)
        for name in adapter_names if adapter_names is not None else self.active_adapters:
            if name not in self.r or name in self.merged_adapters:
                continue
            delta = self.delta_weight(name)
            if safe_merge:
                merged = weight.data.float() + delta.float()
                if not torch.isfinite(merged).all():
                    raise ValueError(f"merging adapter {name!r} gives NaN/inf weights; the adapter is broken")
            weight.data += delta.to(weight.dtype)
            self.merged_adapters.append(name)

    def unmerge(self) -> None:
        weight = param(self.base_layer)
        while self.merged_adapters:
            name = self.merged_adapters.pop()
            weight.data -= self.delta_weight(name).to(weight.dtype)


class LoraLinear(LoraLayer):
    """LoRA around ``nn.Linear`` (or GPT-2 ``Conv1D`` with ``fan_in_fan_out``): ``y = base(x) + B(A(drop(x))) * s``."""

    adapter_layer_names = ("lora_A", "lora_B")

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: LoraConfig) -> None:
        super().__init__(base_layer)
        self.fan_in_fan_out = is_conv1d(base_layer)
        rows, cols = param(base_layer).shape
        self.in_features, self.out_features = (rows, cols) if self.fan_in_fan_out else (cols, rows)
        self.lora_A = nn.ModuleDict()
        self.lora_B = nn.ModuleDict()
        self.add_adapter(adapter_name, config)

    def add_adapter(self, adapter_name: str, config: LoraConfig) -> None:
        self._register_common(adapter_name, config)
        # built exactly as PEFT builds them (two nn.Linear, then the LoRA init) so a seeded run draws the same numbers
        self.lora_A[adapter_name] = nn.Linear(self.in_features, config.r, bias=False)
        self.lora_B[adapter_name] = nn.Linear(config.r, self.out_features, bias=False)
        init = config.init_lora_weights
        if init is not False:
            a = param(self.lora_A[adapter_name])
            if init == "gaussian":
                nn.init.normal_(a, std=1 / config.r)
            else:
                nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            nn.init.zeros_(param(self.lora_B[adapter_name]))
        self._place_adapter(adapter_name)

    def delta_weight(self, adapter_name: str) -> torch.Tensor:
        a, b = param(self.lora_A[adapter_name]), param(self.lora_B[adapter_name])
        delta = (b.float() @ a.float()) * self.scaling[adapter_name]
        return (delta.T if self.fan_in_fan_out else delta).to(b.dtype)

    def adapter_output(self, adapter_name: str, x: torch.Tensor) -> torch.Tensor:
        lora_a, lora_b = self.lora_A[adapter_name], self.lora_B[adapter_name]
        x = x.to(param(lora_a).dtype)
        return lora_b(lora_a(self.lora_dropout[adapter_name](x))) * self.scaling[adapter_name]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, adapters={self.adapter_names()}"


class LoraEmbedding(LoraLayer):
    """LoRA around ``nn.Embedding``: ``y = E[ids] + (A^T[ids] @ B^T) * s`` (A starts at zero, B normal)."""

    adapter_layer_names = ("lora_embedding_A", "lora_embedding_B")

    def __init__(self, base_layer: nn.Embedding, adapter_name: str, config: LoraConfig) -> None:
        super().__init__(base_layer)
        self.in_features, self.out_features = base_layer.num_embeddings, base_layer.embedding_dim
        self.lora_embedding_A = nn.ParameterDict()
        self.lora_embedding_B = nn.ParameterDict()
        self.add_adapter(adapter_name, config)

    def add_adapter(self, adapter_name: str, config: LoraConfig) -> None:
        self._register_common(adapter_name, config)
        self.lora_embedding_A[adapter_name] = nn.Parameter(torch.randn(config.r, self.in_features))
        self.lora_embedding_B[adapter_name] = nn.Parameter(torch.randn(self.out_features, config.r))
        if config.init_lora_weights is not False:
            nn.init.zeros_(self.lora_embedding_A[adapter_name])
            nn.init.normal_(self.lora_embedding_B[adapter_name])
        self._place_adapter(adapter_name)

    def delta_weight(self, adapter_name: str) -> torch.Tensor:
        a, b = cast(torch.Tensor, self.lora_embedding_A[adapter_name]), cast(torch.Tensor, self.lora_embedding_B[adapter_name])
        return ((b.float() @ a.float()).T * self.scaling[adapter_name]).to(a.dtype)

    def adapter_output(self, adapter_name: str, x: torch.Tensor) -> torch.Tensor:
        base: nn.Embedding = self.base_layer  # type: ignore[assignment]
        after_a = F.embedding(x, self.lora_embedding_A[adapter_name].T, padding_idx=base.padding_idx,
                              max_norm=base.max_norm, norm_type=base.norm_type,
                              scale_grad_by_freq=base.scale_grad_by_freq, sparse=base.sparse)
        return (after_a @ self.lora_embedding_B[adapter_name].T) * self.scaling[adapter_name]

    def extra_repr(self) -> str:
        return f"num_embeddings={self.in_features}, embedding_dim={self.out_features}, adapters={self.adapter_names()}"


def make_lora_layer(target: nn.Module, adapter_name: str, config: LoraConfig) -> LoraLayer | None:
    """The LoRA wrapper for ``target``, or None when LoRA cannot wrap that layer type."""
    if isinstance(target, nn.Embedding):
        return LoraEmbedding(target, adapter_name, config)
    if is_linear_like(target):
        return LoraLinear(target, adapter_name, config)
    return None


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
        import copy

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
