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
from embrace.peft.layers import AdapterLayer, is_conv1d, is_linear_like, param


class LoraLayer(AdapterLayer):
    """Common state of a LoRA-wrapped layer: per-adapter rank, scaling and dropout; forward and merging."""

    other_adapter_names = ("lora_dropout", "r", "lora_alpha", "scaling")

    def __init__(self, base_layer: nn.Module) -> None:
        super().__init__(base_layer)
        self.r: dict[str, int] = {}
        self.lora_alpha: dict[str, float] = {}
        self.scaling: dict[str, float] = {}
        self.lora_dropout = nn.ModuleDict()

    def _register_common(self, adapter_name: str, config: LoraConfig) -> None:
        self.r[adapter_name] = config.r
        self.lora_alpha[adapter_name] = config.lora_alpha
        self.scaling[adapter_name] = config.scaling
        self.lora_dropout[adapter_name] = nn.Dropout(config.lora_dropout) if config.lora_dropout > 0 else nn.Identity()

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
