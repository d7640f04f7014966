"""Dequantising ggml tensor data into float tensors, vectorised in torch.

Each quantised type stores a tensor as a sequence of fixed-size blocks (see ``constants.BLOCK_LAYOUT``); every
``_dequant_*`` function below takes a ``(n_blocks, bytes_per_block)`` uint8 tensor and returns the
``(n_blocks, elements_per_block)`` float32 values, following llama.cpp's ``dequantize_row_*`` in
``ggml-quants.c``. The float operations are done in the same order as there (and as in the ``gguf`` Python
package), so results are bit-identical. Large tensors are processed in chunks of blocks to keep temporaries
small and cache-friendly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from embrace.models.gguf.constants import BLOCK_LAYOUT, QK_K, GGMLType, ggml_type_name
from embrace.models.gguf.errors import GGUFFormatError, GGUFQuantTypeError

_CHUNK_ELEMENTS = 1 << 20  # values produced per chunk


def _f16(blocks: torch.Tensor, start: int) -> torch.Tensor:
    """The float16 stored at byte ``start`` of each block, as float32 of shape (n_blocks, 1)."""
    return blocks[:, start : start + 2].contiguous().view(torch.float16).to(torch.float32)


def _nibbles(packed: torch.Tensor) -> torch.Tensor:
    """(n, m) bytes -> (n, 2m) values: all low nibbles first, then all high nibbles (ggml's order)."""
    return torch.cat([packed & 0x0F, packed >> 4], dim=-1)


def _bits(packed: torch.Tensor, count: int) -> torch.Tensor:
    """(n, count // 8) bytes -> (n, count) bits, bit j of the little-endian bit string at position j."""
    shifts = torch.arange(8, dtype=torch.uint8)
    return ((packed.unsqueeze(-1) >> shifts) & 1).reshape(packed.shape[0], count)


def _dequant_q8_0(blocks: torch.Tensor) -> torch.Tensor:
    d = _f16(blocks, 0)
    return blocks[:, 2:].view(torch.int8).to(torch.float32) * d


def _dequant_q4_0(blocks: torch.Tensor) -> torch.Tensor:
    d = _f16(blocks, 0)
    q = _nibbles(blocks[:, 2:]).to(torch.int8) - 8
    return d * q.to(torch.float32)


def _dequant_q4_1(blocks: torch.Tensor) -> torch.Tensor:
    d, m = _f16(blocks, 0), _f16(blocks, 2)
    return d * _nibbles(blocks[:, 4:]).to(torch.float32) + m


def _q5_values(qh: torch.Tensor, qs: torch.Tensor) -> torch.Tensor:
    """5-bit values of a Q5_0/Q5_1 block: low nibbles from ``qs``, fifth bit j from bit j of ``qh``."""
    return _nibbles(qs) | (_bits(qh, 32) << 4)


def _dequant_q5_0(blocks: torch.Tensor) -> torch.Tensor:
    d = _f16(blocks, 0)
    q = _q5_values(blocks[:, 2:6], blocks[:, 6:]).to(torch.int8) - 16
    return d * q.to(torch.float32)


def _dequant_q5_1(blocks: torch.Tensor) -> torch.Tensor:
    d, m = _f16(blocks, 0), _f16(blocks, 2)
    return d * _q5_values(blocks[:, 4:8], blocks[:, 8:]).to(torch.float32) + m


def _dequant_q2_k(blocks: torch.Tensor) -> torch.Tensor:
    n = blocks.shape[0]
    scales = blocks[:, :16]
    qs = blocks[:, 16:80]
    d, dmin = _f16(blocks, 80), _f16(blocks, 82)
    dl = (d * (scales & 0x0F).to(torch.float32)).reshape(n, 16, 1)
    ml = (dmin * (scales >> 4).to(torch.float32)).reshape(n, 16, 1)
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 1, 4, 1)
    q = ((qs.reshape(n, 2, 1, 32) >> shifts) & 3).reshape(n, 16, 16).to(torch.float32)
    return (dl * q - ml).reshape(n, QK_K)


def _dequant_q3_k(blocks: torch.Tensor) -> torch.Tensor:
    n = blocks.shape[0]
    hmask, qs, packed, d = blocks[:, :32], blocks[:, 32:96], blocks[:, 96:108], _f16(blocks, 108)
    # 16 six-bit scales: low 4 bits from bytes 0..7 (low nibbles, then high nibbles), high 2 bits from bytes 8..11
    low = _nibbles(packed[:, :8])
    high = ((packed[:, 8:12].unsqueeze(1) >> torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 4, 1)) & 3)
    scales = (low | (high.reshape(n, 16) << 4)).to(torch.int8) - 32
    dl = (d * scales.to(torch.float32)).reshape(n, 16, 1)
    ql = (qs.reshape(n, 2, 1, 32) >> torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 1, 4, 1)) & 3
    qh = (hmask.reshape(n, 1, 1, 32) >> torch.arange(8, dtype=torch.uint8).reshape(1, 1, 8, 1)) & 1
    # a clear high bit means "subtract 4"
    q = ql.reshape(n, 16, 16).to(torch.int8) - ((qh.reshape(n, 16, 16) ^ 1) << 2).to(torch.int8)
    return (dl * q.to(torch.float32)).reshape(n, QK_K)


def _k_scale_min(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8 six-bit scales and 8 six-bit mins packed into 12 bytes (Q4_K/Q5_K ``get_scale_min_k4``)."""
    d, m, md = packed[:, 0:4], packed[:, 4:8], packed[:, 8:12]
    scale = torch.cat([d & 0x3F, (md & 0x0F) | ((d >> 2) & 0x30)], dim=-1)
    minimum = torch.cat([m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)], dim=-1)
    return scale, minimum


def _k_scaled(blocks: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Apply Q4_K/Q5_K super-block scales: q has shape (n, 8, 32) of unsigned values."""
    n = blocks.shape[0]
    d, dmin = _f16(blocks, 0), _f16(blocks, 2)
    scale, minimum = _k_scale_min(blocks[:, 4:16])
    dl = (d * scale.to(torch.float32)).reshape(n, 8, 1)
    ml = (dmin * minimum.to(torch.float32)).reshape(n, 8, 1)
    return (dl * q.to(torch.float32) - ml).reshape(n, QK_K)


def _dequant_q4_k(blocks: torch.Tensor) -> torch.Tensor:
    n = blocks.shape[0]
    qs = blocks[:, 16:].reshape(n, 4, 32)
    q = torch.stack([qs & 0x0F, qs >> 4], dim=2).reshape(n, 8, 32)
    return _k_scaled(blocks, q)


def _dequant_q5_k(blocks: torch.Tensor) -> torch.Tensor:
    n = blocks.shape[0]
    qh, qs = blocks[:, 16:48], blocks[:, 48:].reshape(n, 4, 32)
    ql = torch.stack([qs & 0x0F, qs >> 4], dim=2).reshape(n, 8, 32)
    high = (qh.reshape(n, 1, 32) >> torch.arange(8, dtype=torch.uint8).reshape(1, 8, 1)) & 1
    return _k_scaled(blocks, ql | (high << 4))


def _dequant_q6_k(blocks: torch.Tensor) -> torch.Tensor:
    n = blocks.shape[0]
    ql, qh = blocks[:, :128], blocks[:, 128:192]
    scales = blocks[:, 192:208].view(torch.int8).to(torch.float32)
    d = _f16(blocks, 208)
    dl = (d * scales).reshape(n, 16, 1)
    low = ql.reshape(n, 2, 1, 64) >> torch.tensor([0, 4], dtype=torch.uint8).reshape(1, 1, 2, 1)
    low = (low & 0x0F).reshape(n, 8, 32)
    high = qh.reshape(n, 2, 1, 32) >> torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 1, 4, 1)
    high = (high & 3).reshape(n, 8, 32)
    q = (low | (high << 4)).to(torch.int8) - 32
    return (dl * q.reshape(n, 16, 16).to(torch.float32)).reshape(n, QK_K)


_BLOCK_DEQUANTISERS: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {
    GGMLType.Q8_0: _dequant_q8_0,
    GGMLType.Q4_0: _dequant_q4_0,
    GGMLType.Q4_1: _dequant_q4_1,
    GGMLType.Q5_0: _dequant_q5_0,
    GGMLType.Q5_1: _dequant_q5_1,
    GGMLType.Q2_K: _dequant_q2_k,
    GGMLType.Q3_K: _dequant_q3_k,
    GGMLType.Q4_K: _dequant_q4_k,
    GGMLType.Q5_K: _dequant_q5_k,
    GGMLType.Q6_K: _dequant_q6_k,
}

# plain (unquantised) types: ggml type -> dtype of the stored values
_PLAIN_DTYPES: dict[int, torch.dtype] = {
    GGMLType.F32: torch.float32,
    GGMLType.F16: torch.float16,
    GGMLType.BF16: torch.bfloat16,
    GGMLType.F64: torch.float64,
}

SUPPORTED_TYPES: tuple[GGMLType, ...] = tuple(GGMLType(t) for t in (*_PLAIN_DTYPES, *_BLOCK_DEQUANTISERS))


def dequantize(
    raw: torch.Tensor, ggml_type: int, shape: Sequence[int], name: str = "tensor", dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Decode the stored bytes of one tensor.

    Args:
        raw: 1-D uint8 tensor holding the tensor's data exactly (``numel / block_size * type_size`` bytes).
        ggml_type: the ggml type id the data is stored in.
        shape: the tensor's shape in PyTorch order (last dimension contiguous).
        name: used in error messages.
        dtype: output dtype; float32 by default. F16/BF16 data asked for in its own dtype is returned as is.

    Returns:
        A new tensor of ``shape`` that owns its memory.
    """
    shape = tuple(int(d) for d in shape)
    out_dtype = dtype or torch.float32
    layout = BLOCK_LAYOUT.get(ggml_type)
    if ggml_type not in _PLAIN_DTYPES and ggml_type not in _BLOCK_DEQUANTISERS:
        supported = ", ".join(t.name for t in SUPPORTED_TYPES)
        raise GGUFQuantTypeError(
            f"{name}: ggml type {ggml_type_name(ggml_type)} cannot be dequantised (supported: {supported}); "
            "re-quantise the model with one of these types (llama.cpp's llama-quantize)"
        )
    assert layout is not None
    block_size, type_size = layout
    numel = 1
    for dim in shape:
        numel *= dim
    if numel % block_size or raw.numel() != numel // block_size * type_size:
        raise GGUFFormatError(
            f"{name}: {raw.numel()} bytes of {ggml_type_name(ggml_type)} data do not hold a tensor of shape {list(shape)}"
        )
    if ggml_type in _PLAIN_DTYPES:
        values = raw.view(_PLAIN_DTYPES[ggml_type])
        return values.to(out_dtype, copy=True).reshape(shape)
    blocks = raw.reshape(-1, type_size)
    decode = _BLOCK_DEQUANTISERS[ggml_type]
    out = torch.empty(numel, dtype=out_dtype)
    step = max(1, _CHUNK_ELEMENTS // block_size)
    for start in range(0, blocks.shape[0], step):
        chunk = decode(blocks[start : start + step])
        out[start * block_size : start * block_size + chunk.numel()] = chunk.reshape(-1)
    return out.reshape(shape)
