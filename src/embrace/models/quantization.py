"""Weight-only quantisation of linear layers: ``"int8"`` and ``"bf16"`` (less memory; faster decoding where the
CPU's kernels keep up with memory).

Decoding one token reads every weight once, so on a CPU its speed is bounded by memory bandwidth: halving the
bytes per weight (bf16) or quartering them (int8, one float scale per output row) raises that bound. On AVX2-only
CPUs torch's bf16/int8 decode kernels are compute-bound and may not beat fp32 (see docs/benchmarks.md). Activations,
norms, attention and the KV cache stay in the model's dtype; only the linear layers (the LM head included)
change. Usage, as with the reference's ``quantization_config``::

    model = AutoModelForCausalLM.from_pretrained(path, quantization="int8")   # or "bf16"
    model = AutoModelForCausalLM.from_pretrained(path).quantize("int8")       # the same, after loading

Kernels: for a few rows (decoding) int8 uses torch's ``_weight_int8pack_mm`` with bfloat16 activations and bf16
uses a bfloat16 matmul; for many rows (a prompt) both dequantise to the activation dtype and use the float
matmul, which is faster there on CPUs without native bf16/int8 instructions. A quantised model cannot be saved
in the reference format: save the float model and quantise when loading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from embrace.errors import EmbraceError

SCHEMES = ("int8", "bf16")
_ALIASES = {"int8": "int8", "int8_weight_only": "int8", "int8wo": "int8", "qint8": "int8",
            "bf16": "bf16", "bfloat16": "bf16", "bf16_weight_only": "bf16"}
DECODE_ROWS = 4   # up to this many activation rows use the decode kernel; more use dequantise + float matmul


class QuantizationError(EmbraceError, ValueError):
    """An unknown quantisation scheme or config, or an operation a quantised model cannot do."""


def resolve_scheme(quantization: Any) -> str:
    """``"int8"``/``"bf16"`` from a name or a reference-style config (``load_in_8bit``, ``weights="int8"``,
    ``quant_type="int8_weight_only"``, as dict or object)."""
    value = quantization
    if not isinstance(value, str):
        get = value.get if isinstance(value, dict) else (lambda k, d=None: getattr(value, k, d))
        if get("load_in_4bit", False):
            raise QuantizationError("4-bit quantisation is not supported; use quantization='int8' or 'bf16'")
        value = "int8" if get("load_in_8bit", False) else get("weights", None) or get("quant_type", None)
    scheme = _ALIASES.get(str(value).lower()) if value is not None else None
    if scheme is None:
        raise QuantizationError(f"unknown quantization {quantization!r}; use one of {SCHEMES} "
                                "(weight-only: int8 with a per-row scale, or bfloat16 weights)")
    return scheme


class WeightOnlyLinear(nn.Module):
    """Shared part of the quantised linears: ``(…, in_features) -> (…, out_features)`` plus an optional bias."""

    def __init__(self, in_features: int, out_features: int, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.bias = nn.Parameter(bias.detach(), requires_grad=False) if bias is not None else None

    def matmul(self, rows: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.matmul(x.reshape(-1, self.in_features))
        if self.bias is not None:
            out = out + self.bias
        return out.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Int8Linear(WeightOnlyLinear):
    """Symmetric per-output-row int8 weights: ``W ≈ weight_int8 * scale[:, None]``."""

    weight: torch.Tensor
    scale: torch.Tensor
    scale_bf16: torch.Tensor

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        out_features, in_features = weight.shape
        super().__init__(in_features, out_features, bias)
        w = weight.detach().float().contiguous()
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        self.register_buffer("weight", torch.round(w / scale[:, None]).clamp_(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(weight.dtype))
        self.register_buffer("scale_bf16", scale.to(torch.bfloat16))

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self.weight.to(dtype) * self.scale.to(dtype)[:, None]

    def matmul(self, rows: torch.Tensor) -> torch.Tensor:
        if rows.shape[0] <= DECODE_ROWS and rows.device.type == "cpu":
            return torch.ops.aten._weight_int8pack_mm(rows.to(torch.bfloat16), self.weight,
                                                      self.scale_bf16).to(rows.dtype)
        return F.linear(rows, self.dequantize(rows.dtype))


class BF16Linear(WeightOnlyLinear):
    """bfloat16 weights; activations of other dtypes are cast for the product and the result cast back."""

    weight: torch.Tensor

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        out_features, in_features = weight.shape
        super().__init__(in_features, out_features, bias)
        self.register_buffer("weight", weight.detach().to(torch.bfloat16).contiguous())

    def matmul(self, rows: torch.Tensor) -> torch.Tensor:
        if rows.shape[0] <= DECODE_ROWS or rows.device.type != "cpu":
            return F.linear(rows.to(torch.bfloat16), self.weight).to(rows.dtype)
        return F.linear(rows.float(), self.weight.float()).to(rows.dtype)


_LAYER_CLASSES: dict[str, type[Int8Linear] | type[BF16Linear]] = {"int8": Int8Linear, "bf16": BF16Linear}


def linear_weight(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """``(weight (out, in), bias)`` of a linear-like module (``nn.Linear`` or GPT-2's ``Conv1D``), else None."""
    if isinstance(module, nn.Linear):
        return module.weight, module.bias
    if type(module).__name__ == "Conv1D" and isinstance(getattr(module, "weight", None), torch.Tensor):
        return module.weight.t(), module.bias  # type: ignore[operator, return-value]
    return None


def quantize_model(model: nn.Module, quantization: Any, *, skip: Iterable[str] = ()) -> nn.Module:
    """Replace every linear layer of ``model`` in place by its weight-only quantised version; returns ``model``.

    ``skip``: regexes of module names to leave in float (``skip=[r"lm_head"]``). Tied weights are untied: the
    input embedding keeps its float table (a lookup reads one row per token) and the head gets its own copy.
    """
    scheme = resolve_scheme(quantization)
    patterns = [re.compile(p) for p in skip]
    layer_class = _LAYER_CLASSES[scheme]
    targets = [(name, module) for name, module in model.named_modules()
               if name and linear_weight(module) is not None and not any(p.search(name) for p in patterns)]
    if not targets:
        raise QuantizationError(f"{type(model).__name__} has no linear layers to quantise (skip={list(skip)})")
    for name, module in targets:
        weight_bias = linear_weight(module)
        assert weight_bias is not None
        if weight_bias[0].is_meta:
            raise QuantizationError(f"{name} has no weights yet (meta device); load the model first")
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer_class(*weight_bias))
    vars(model)["quantization"] = scheme  # a plain attribute, read by save_pretrained and is_quantized
    return model


def is_quantized(model: nn.Module) -> bool:
    return getattr(model, "quantization", None) is not None
