"""``Linear``: ``nn.Linear`` whose inference forward runs on oneDNN on the CPU.

torch's CPU ``F.linear`` calls MKL's sgemm. On AMD CPUs MKL takes generic code paths, and for the few rows of a
decode step (1 token, a handful of beams or a small batch) it reads the weight at a third to a half of the
memory bandwidth; a 50k-row LM head with 4 rows (beam search) runs at ~3 GB/s. oneDNN (torch's ``mkldnn``
backend, shipped in every CPU wheel) reads the same plain fp32 weight 1.3-2.8x faster at 1-16 rows and is no
slower for prompts (measured in ``bench/bench_generation.py`` and docs/benchmarks.md). Results are the same
fp32 matmul in another summation order (differences ~1e-6).

The fast path is taken only where it is exact in meaning: fp32 CPU tensors, no autograd graph being recorded
(training keeps ``F.linear`` and its backward), and a torch build with oneDNN. ``EMBRACE_ONEDNN=0`` turns it
off. The module is an ``nn.Linear`` subclass, so state dicts, LoRA wrapping and quantisation see a plain
``nn.Linear``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

from embrace.models.huge_pages import empty_huge

__all__ = ["Linear", "fast_path", "linear", "onednn_enabled", "packed_for_rows", "project_fused"]


def _probe() -> bool:
    if os.environ.get("EMBRACE_ONEDNN", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        op = torch.ops.mkldnn._linear_pointwise
        probe = op(torch.ones(1, 2), torch.ones(3, 2), torch.zeros(3), "none", [None], "")
        return bool(torch.equal(probe, torch.full((1, 3), 2.0)))
    except (AttributeError, RuntimeError):
        return False


_ONEDNN = _probe()
_PACK = _ONEDNN and os.environ.get("EMBRACE_ONEDNN_PACK", "1").strip().lower() not in ("0", "false", "no", "off")


def onednn_enabled() -> bool:
    """Whether inference linears on the CPU go through oneDNN in this process."""
    return _ONEDNN


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           owner: nn.Module | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``: ``x (..., in)``, ``weight (out, in)`` (any strides, e.g. a transposed
    ``(in, out)`` tensor's ``.t()``), ``bias (out,)`` -> ``(..., out)``; oneDNN at CPU fp32 inference.
    ``owner`` (the module the weight belongs to) holds the packed copy inside :func:`packed_for_rows`."""
    if (_ONEDNN and x.dtype == torch.float32 and weight.dtype == torch.float32 and x.device.type == "cpu"
            and not torch.compiler.is_compiling()   # inductor lowers this op only for frozen (constant) weights
            and weight.device.type == "cpu" and x.dim() >= 2 and not (torch.is_grad_enabled() and (
                x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)))
            and (bias is None or bias.dtype == torch.float32)):
        if (owner is not None and _PACKING.get() is not None
                and x.numel() <= PACK_ROWS.stop * x.shape[-1]):
            packed = _packed_weight(owner, weight)
            if packed is not None:
                weight = packed
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [None], "")
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` with :func:`linear` as its forward."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return linear(input, self.weight, self.bias, self)


# Rows of activations for which a pre-packed weight pays off: one row (greedy decoding) reads the plain weight
# as fast; from ~64 rows on (prompts, big batches) the matmul is compute-bound and packs on the fly cheaply.
PACK_ROWS = range(2, 33)
_PACKING: ContextVar[tuple[int, list[nn.Module]] | None] = ContextVar("embrace_onednn_packing", default=None)


KEEP_PACKED_BYTES = 2 << 30   # models up to this many weight bytes keep their packed copies between calls


@contextlib.contextmanager
def packed_for_rows(rows: int, model: nn.Module | None = None) -> Iterator[None]:
    """Within the block, inference linears read weights that oneDNN re-laid-out ("packed") for ``rows``
    activation rows, when ``rows`` is in :data:`PACK_ROWS` (beam search, batched or multi-sample decoding).

    oneDNN re-packs a plain weight on every call it makes with a few rows, which costs as much memory traffic
    as the matmul itself; packed once, the 4-row matmuls of beam-4 decoding run ~1.5x faster. Each layer packs
    at its first call with that many rows (a copy of its weight), and a weight changed in place is noticed and
    packed again. ``model``'s copies are kept for the next call when its weights take at most
    :data:`KEEP_PACKED_BYTES` (so its linear weights then take twice the memory: ``EMBRACE_ONEDNN_PACK=0``
    turns packing off); otherwise, or without ``model``, they are dropped when the block ends.
    """
    if not (_PACK and rows in PACK_ROWS):
        yield
        return
    owners: list[nn.Module] = []
    token = _PACKING.set((rows, owners))
    try:
        yield
    finally:
        _PACKING.reset(token)
        if model is None or sum(p.numel() * p.element_size() for p in model.parameters()) > KEEP_PACKED_BYTES:
            for owner in owners:
                owner.__dict__.pop("_onednn_packed", None)


def _packed_weight(owner: nn.Module, weight: torch.Tensor) -> torch.Tensor | None:
    state = _PACKING.get()
    if state is None:
        return None
    rows, owners = state
    key = (weight.data_ptr(), weight._version, tuple(weight.shape), weight.stride(), rows)
    cached = owner.__dict__.get("_onednn_packed")
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
    except RuntimeError:
        return None
    owner.__dict__["_onednn_packed"] = (key, packed)
    owners.append(owner)
    return packed


def fast_path(x: torch.Tensor) -> bool:
    """Whether :func:`linear` would take oneDNN for input ``x`` (CPU fp32, no autograd recording)."""
    return (_ONEDNN and x.dtype == torch.float32 and x.device.type == "cpu"
            and not (torch.is_grad_enabled() and x.requires_grad))


def project_fused(owner: nn.Module, names: tuple[str, ...], x: torch.Tensor) -> list[torch.Tensor]:
    """``[getattr(owner, name)(x) for name in names]``, as one matmul where it can be.

    Projections that read the same input (q/k/v, gate/up) are faster as one wide matmul on a CPU at decode
    time: one pass over a single weight instead of several small ones. At the first eligible call (CPU fp32
    inference, every layer a plain :class:`Linear`) the weights are concatenated once and each layer's
    ``weight``/``bias`` Parameter is re-pointed at its rows of the concatenation, so memory stays the same, the
    state dict, optimizers and in-place updates keep working, and every later call is one matmul. Anything that
    replaces a layer (LoRA, quantisation) or its storage (``.to(dtype)``) is noticed and the layers run one by
    one (or are fused again).
    """
    layers = [getattr(owner, name) for name in names]
    if torch.compiler.is_compiling():   # the compiler sees the plain layers (data_ptr checks do not trace)
        return [layer(x) for layer in layers]
    grad = torch.is_grad_enabled()
    if fast_path(x) and all(type(layer) is Linear and not (grad and layer.weight.requires_grad) for layer in layers):
        fused = _fused_weights(owner, layers)
        if fused is not None:
            weight, bias, sizes = fused
            return list(linear(x, weight, bias, owner).split(sizes, dim=-1))
    return [layer(x) for layer in layers]


def _fused_weights(owner: nn.Module, layers: list[nn.Linear]
                   ) -> tuple[torch.Tensor, torch.Tensor | None, list[int]] | None:
    cached = owner.__dict__.get("_fused_linears")
    if cached is not None and _still_fused(cached, layers):
        return cached[0], cached[1], cached[2]
    weights = [layer.weight for layer in layers]
    if any(w.dtype != torch.float32 or w.device.type != "cpu" or w.dim() != 2 for w in weights) or len(
            {w.shape[1] for w in weights}) != 1:
        return None
    has_bias = [layer.bias is not None for layer in layers]
    if any(has_bias) and not all(has_bias):
        return None
    sizes = [w.shape[0] for w in weights]
    with torch.inference_mode(False), torch.no_grad():   # normal tensors: training may follow inference
        weight = torch.cat([w.detach() for w in weights], out=empty_huge((sum(sizes), weights[0].shape[1]),
                                                                         torch.float32))
        bias = torch.cat([layer.bias.detach() for layer in layers]) if all(has_bias) else None
        start = 0
        for layer, size in zip(layers, sizes, strict=True):
            layer.weight.data = weight[start:start + size]
            if bias is not None:
                layer.bias.data = bias[start:start + size]
            start += size
    owner.__dict__["_fused_linears"] = (weight, bias, sizes)
    return weight, bias, sizes


def _still_fused(cached: tuple[torch.Tensor, torch.Tensor | None, list[int]], layers: list[nn.Linear]) -> bool:
    weight, bias, sizes = cached
    row = weight.stride(0) * weight.element_size()
    start = 0
    for layer, size in zip(layers, sizes, strict=True):
        if layer.weight.data_ptr() != weight.data_ptr() + start * row or layer.weight.shape[0] != size:
            return False
        if bias is not None and (layer.bias is None or layer.bias.data_ptr() != bias.data_ptr() + start * 4):
            return False
        start += size
    return True
