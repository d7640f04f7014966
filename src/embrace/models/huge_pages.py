"""Large weight tensors in 2 MiB pages (Linux transparent huge pages), for faster decoding on a CPU.

Decoding one token streams every weight through the CPU once. With 4 KiB pages that is a TLB miss and a page
walk every 4 KiB; with 2 MiB pages the walks all but vanish and the same matmuls read memory faster. Most Linux
machines run transparent huge pages in ``madvise`` mode, where a process must ask for them per memory range,
so the loader asks for each large tensor it is about to fill (``empty_huge``): no extra copy, no extra memory.
Where the kernel says no (another OS, THP off) nothing changes. ``EMBRACE_HUGEPAGES=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

import torch

__all__ = ["advise_huge_pages", "empty_huge"]

_HUGE = 2 << 20
_MADV_HUGEPAGE = 14
_MIN_BYTES = 2 * _HUGE   # smaller tensors would not hold one whole aligned huge page worth the call


def _load_madvise() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux") or os.environ.get("EMBRACE_HUGEPAGES", "1").strip().lower() in (
            "0", "false", "no", "off"):
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


_MADVISE = _load_madvise()


def advise_huge_pages(tensor: torch.Tensor) -> bool:
    """Ask for 2 MiB pages under the whole aligned 2 MiB blocks of ``tensor``'s memory. Only memory not yet
    written benefits, so call it right after allocating. Returns whether the kernel accepted."""
    nbytes = tensor.numel() * tensor.element_size()
    if _MADVISE is None or tensor.device.type != "cpu" or nbytes < _MIN_BYTES:
        return False
    start = tensor.data_ptr()
    first = -(-start // _HUGE) * _HUGE
    last = (start + nbytes) // _HUGE * _HUGE
    return last > first and _MADVISE(first, last - first, _MADV_HUGEPAGE) == 0


def empty_huge(shape: tuple[int, ...] | list[int] | torch.Size, dtype: torch.dtype) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype)`` on the CPU, in huge pages where the kernel allows."""
    tensor = torch.empty(tuple(shape), dtype=dtype)
    advise_huge_pages(tensor)
    return tensor
