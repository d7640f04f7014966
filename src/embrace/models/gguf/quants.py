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

from embrace.models.gguf.constants import BLOCK_LAYOUT, GGMLType, ggml_type_name
from embrace.models.gguf.errors import GGUFFormatError, GGUFQuantTypeError

_CHUNK_ELEMENTS = 1 << 18  # values per chunk: 1 MiB of float32 output, cache-sized


def _f16(blocks: torch.Tensor, start: int) -> torch.Tensor:
    """The float16 stored at byte ``start`` of each block, as float32 of shape (n_blocks, 1)."""
    return blocks[:, start : start + 2].contiguous().view(torch.float16).to(torch.float32)


def _put_nibbles(out: torch.Tensor, packed: torch.Tensor) -> None:
    """(n, m) bytes -> out (n, 2m): all low nibbles first, then all high nibbles (ggml's order)."""
    half = packed.shape[-1]
    out[..., :half].copy_(packed & 0x0F)
    out[..., half:].copy_(packed >> 4)


def _bits(packed: torch.Tensor, count: int) -> torch.Tensor:
    """(n, count // 8) bytes -> (n, count) bits, bit j of the little-endian bit string at position j."""
    shifts = torch.arange(8, dtype=torch.uint8)
    return ((packed.unsqueeze(-1) >> shifts) & 1).reshape(packed.shape[0], count)


# Each decoder fills ``out`` (n_blocks, block_size) float32 from ``blocks`` (n_blocks, type_size) uint8, in place:
# the integer codes are copied (converted) into ``out`` once and scaled there, with the float operations in
# ggml's order (scale * q, then + min or - min) so the results are bit-identical.


def _dequant_q8_0(blocks: torch.Tensor, out: torch.Tensor) -> None:
    out.copy_(blocks[:, 2:].view(torch.int8))
    out.mul_(_f16(blocks, 0))


def _dequant_q4_0(blocks: torch.Tensor, out: torch.Tensor) -> None:
    _put_nibbles(out, blocks[:, 2:])
    out.sub_(8).mul_(_f16(blocks, 0))


def _dequant_q4_1(blocks: torch.Tensor, out: torch.Tensor) -> None:
    _put_nibbles(out, blocks[:, 4:])
    out.mul_(_f16(blocks, 0)).add_(_f16(blocks, 2))


def _put_q5(out: torch.Tensor, qh: torch.Tensor, qs: torch.Tensor) -> None:
    """5-bit values of a Q5_0/Q5_1 block: low nibbles from ``qs``, fifth bit j from bit j of ``qh``."""
    high = _bits(qh, 32) << 4
    out[:, :16].copy_((qs & 0x0F) | high[:, :16])
    out[:, 16:].copy_((qs >> 4) | high[:, 16:])


def _dequant_q5_0(blocks: torch.Tensor, out: torch.Tensor) -> None:
    _put_q5(out, blocks[:, 2:6], blocks[:, 6:])
    out.sub_(16).mul_(_f16(blocks, 0))


def _dequant_q5_1(blocks: torch.Tensor, out: torch.Tensor) -> None:
    _put_q5(out, blocks[:, 4:8], blocks[:, 8:])
    out.mul_(_f16(blocks, 0)).add_(_f16(blocks, 2))


def _dequant_q2_k(blocks: torch.Tensor, out: torch.Tensor) -> None:
    n = blocks.shape[0]
    scales, qs = blocks[:, :16], blocks[:, 16:80]
    d, dmin = _f16(blocks, 80), _f16(blocks, 82)
    dl = (d * (scales & 0x0F).to(torch.float32)).reshape(n, 16, 1)
    ml = (dmin * (scales >> 4).to(torch.float32)).reshape(n, 16, 1)
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 1, 4, 1)
    view = out.view(n, 16, 16)
    view.copy_(((qs.reshape(n, 2, 1, 32) >> shifts) & 3).reshape(n, 16, 16))
    view.mul_(dl).sub_(ml)


def _dequant_q3_k(blocks: torch.Tensor, out: torch.Tensor) -> None:
    n = blocks.shape[0]
    hmask, qs, packed, d = blocks[:, :32], blocks[:, 32:96], blocks[:, 96:108], _f16(blocks, 108)
    # 16 six-bit scales: low 4 bits from bytes 0..7 (low nibbles, then high nibbles), high 2 bits from bytes 8..11
    low = torch.cat([packed[:, :8] & 0x0F, packed[:, :8] >> 4], dim=-1)
    high = (packed[:, 8:12].unsqueeze(1) >> torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 4, 1)) & 3
    scales = (low | (high.reshape(n, 16) << 4)).to(torch.int8) - 32
    dl = (d * scales.to(torch.float32)).reshape(n, 16, 1)
    ql = (qs.reshape(n, 2, 1, 32) >> torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 1, 4, 1)) & 3
    qh = (hmask.reshape(n, 1, 1, 32) >> torch.arange(8, dtype=torch.uint8).reshape(1, 1, 8, 1)) & 1
    # a clear high bit means "subtract 4"
    q = ql.reshape(n, 16, 16).view(torch.int8) - ((qh.reshape(n, 16, 16) ^ 1) << 2).view(torch.int8)
    view = out.view(n, 16, 16)
    view.copy_(q)
    view.mul_(dl)


def _k_scale_min(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The 8 six-bit scales and 8 six-bit mins packed into 12 bytes (Q4_K/Q5_K ``get_scale_min_k4``)."""
    d, m, md = packed[:, 0:4], packed[:, 4:8], packed[:, 8:12]
    scale = torch.cat([d & 0x3F, (md & 0x0F) | ((d >> 2) & 0x30)], dim=-1)
    minimum = torch.cat([m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)], dim=-1)
    return scale, minimum


def _k_scale(blocks: torch.Tensor, out: torch.Tensor) -> None:
    """Apply Q4_K/Q5_K super-block scales in place: ``out`` holds (n, 256) unsigned codes."""
    n = blocks.shape[0]
    d, dmin = _f16(blocks, 0), _f16(blocks, 2)
    scale, minimum = _k_scale_min(blocks[:, 4:16])
    dl = (d * scale.to(torch.float32)).reshape(n, 8, 1)
    ml = (dmin * minimum.to(torch.float32)).reshape(n, 8, 1)
    out.view(n, 8, 32).mul_(dl).sub_(ml)


def _dequant_q4_k(blocks: torch.Tensor, out: torch.Tensor) -> None:
    n = blocks.shape[0]
    qs = blocks[:, 16:].reshape(n, 4, 32)
    view = out.view(n, 4, 2, 32)  # sub-block 2i: low nibbles of byte group i, 2i + 1: its high nibbles
    view[:, :, 0].copy_(qs & 0x0F)
    view[:, :, 1].copy_(qs >> 4)
    _k_scale(blocks, out)


def _dequant_q5_k(blocks: torch.Tensor, out: torch.Tensor) -> None:
    n = blocks.shape[0]
    qh, qs = blocks[:, 16:48], blocks[:, 48:].reshape(n, 4, 32)
    high = ((qh.reshape(n, 1, 32) >> torch.arange(8, dtype=torch.uint8).reshape(1, 8, 1)) & 1) << 4
    high = high.reshape(n, 4, 2, 32)
    view = out.view(n, 4, 2, 32)
    view[:, :, 0].copy_((qs & 0x0F) | high[:, :, 0])
    view[:, :, 1].copy_((qs >> 4) | high[:, :, 1])
    _k_scale(blocks, out)


def _dequant_q6_k(blocks: torch.Tensor, out: torch.Tensor) -> None:
    n = blocks.shape[0]
    ql, qh = blocks[:, :128], blocks[:, 128:192]
    dl = (_f16(blocks, 208) * blocks[:, 192:208].view(torch.int8).to(torch.float32)).reshape(n, 16, 1)
    low = ql.reshape(n, 2, 1, 64) >> torch.tensor([0, 4], dtype=torch.uint8).reshape(1, 1, 2, 1)
    low = (low & 0x0F).reshape(n, 8, 32)
    high = qh.reshape(n, 2, 1, 32) >> torch.tensor([0, 2, 4, 6], dtype=torch.uint8).reshape(1, 1, 4, 1)
    high = (high & 3).reshape(n, 8, 32)
    view = out.view(n, 16, 16)
    view.copy_((low | (high << 4)).view(torch.int8).reshape(n, 16, 16))
    view.sub_(32).mul_(dl)


_BLOCK_DEQUANTISERS: dict[int, Callable[[torch.Tensor, torch.Tensor], None]] = {
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
    n_blocks = blocks.shape[0]
    decode = _BLOCK_DEQUANTISERS[ggml_type]
    out = torch.empty(n_blocks, block_size, dtype=out_dtype)
    step = max(1, _CHUNK_ELEMENTS // block_size)
    # float32 output is decoded in place; other dtypes go through one float32 chunk buffer
    buffer = None if out_dtype == torch.float32 else torch.empty(min(step, n_blocks), block_size)
    for start in range(0, n_blocks, step):
        chunk = blocks[start : start + step]
        if buffer is None:
            decode(chunk, out[start : start + step])
        else:
            target = buffer[: chunk.shape[0]]
            decode(chunk, target)
            out[start : start + step].copy_(target)
    return out.reshape(shape)
