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

import os

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Linear", "linear", "onednn_enabled"]


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


def onednn_enabled() -> bool:
    """Whether inference linears on the CPU go through oneDNN in this process."""
    return _ONEDNN


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``: ``x (..., in)``, ``weight (out, in)`` (any strides, e.g. a transposed
    ``(in, out)`` tensor's ``.t()``), ``bias (out,)`` -> ``(..., out)``; oneDNN at CPU fp32 inference."""
    if (_ONEDNN and x.dtype == torch.float32 and weight.dtype == torch.float32 and x.device.type == "cpu"
            and weight.device.type == "cpu" and x.dim() >= 2 and not (torch.is_grad_enabled() and (
                x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)))
            and (bias is None or bias.dtype == torch.float32)):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [None], "")
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` with :func:`linear` as its forward."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return linear(input, self.weight, self.bias)
