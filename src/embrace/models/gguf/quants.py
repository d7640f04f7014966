"""Dequantising ggml tensor data into float tensors.

Each quantised type stores a tensor as a sequence of fixed-size blocks (see ``constants.BLOCK_LAYOUT``); every
``_dequant_*`` function below fills an ``(n_blocks, elements_per_block)`` float32 array from the
``(n_blocks, bytes_per_block)`` uint8 blocks, following llama.cpp's ``dequantize_row_*`` in ``ggml-quants.c``.
The integer codes are written (converted) into the output once and scaled there in place, with the float
operations in ggml's order (scale * q, then + min or - min), so results are bit-identical to llama.cpp's.

The decoders are vectorised numpy. A tensor is cut into cache-sized chunks decoded on a small thread pool
(numpy releases the GIL in its loops): chunks run independently, so there is no per-operation thread
barrier, which on a busy shared CPU costs a scheduler time slice per operation. The result is handed to torch
without a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from embrace.models.gguf.constants import BLOCK_LAYOUT, GGMLType, ggml_type_name
from embrace.models.gguf.errors import GGUFFormatError, GGUFQuantTypeError

_CHUNK_ELEMENTS = 1 << 16  # values per chunk: 256 KiB of float32 output
_POOL: ThreadPoolExecutor | None = None

_SHIFT_2BIT = np.array([0, 2, 4, 6], dtype=np.uint8)
_SHIFT_1BIT = np.arange(8, dtype=np.uint8)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(torch.get_num_threads(), 16)), thread_name_prefix="gguf")
    return _POOL


def _f16(blocks: np.ndarray, start: int) -> np.ndarray:
    """The float16 stored at byte ``start`` of each block, as float32 of shape (n_blocks, 1)."""
    return blocks[:, start : start + 2].view(np.float16).astype(np.float32)


def _put_nibbles(out: np.ndarray, packed: np.ndarray) -> None:
    """(n, m) bytes -> out (n, 2m): all low nibbles first, then all high nibbles (ggml's order)."""
    half = packed.shape[-1]
    out[..., :half] = packed & 0x0F
    out[..., half:] = packed >> 4


def _bits(packed: np.ndarray, count: int) -> np.ndarray:
    """(n, count // 8) bytes -> (n, count) bits, bit j of the little-endian bit string at position j."""
    return ((packed[..., None] >> _SHIFT_1BIT) & 1).reshape(packed.shape[0], count)


def _dequant_q8_0(blocks: np.ndarray, out: np.ndarray) -> None:
    out[...] = blocks[:, 2:].view(np.int8)
    out *= _f16(blocks, 0)


def _dequant_q4_0(blocks: np.ndarray, out: np.ndarray) -> None:
    _put_nibbles(out, blocks[:, 2:])
    out -= 8
    out *= _f16(blocks, 0)


def _dequant_q4_1(blocks: np.ndarray, out: np.ndarray) -> None:
    _put_nibbles(out, blocks[:, 4:])
    out *= _f16(blocks, 0)
    out += _f16(blocks, 2)


def _put_q5(out: np.ndarray, qh: np.ndarray, qs: np.ndarray) -> None:
    """5-bit values of a Q5_0/Q5_1 block: low nibbles from ``qs``, fifth bit j from bit j of ``qh``."""
    high = _bits(qh, 32) << 4
    out[:, :16] = (qs & 0x0F) | high[:, :16]
    out[:, 16:] = (qs >> 4) | high[:, 16:]


def _dequant_q5_0(blocks: np.ndarray, out: np.ndarray) -> None:
    _put_q5(out, blocks[:, 2:6], blocks[:, 6:])
    out -= 16
    out *= _f16(blocks, 0)


def _dequant_q5_1(blocks: np.ndarray, out: np.ndarray) -> None:
    _put_q5(out, blocks[:, 4:8], blocks[:, 8:])
    out *= _f16(blocks, 0)
    out += _f16(blocks, 2)


def _dequant_q2_k(blocks: np.ndarray, out: np.ndarray) -> None:
    n = blocks.shape[0]
    scales, qs = blocks[:, :16], blocks[:, 16:80]
    d, dmin = _f16(blocks, 80), _f16(blocks, 82)
    dl = (d * (scales & 0x0F).astype(np.float32)).reshape(n, 16, 1)
    ml = (dmin * (scales >> 4).astype(np.float32)).reshape(n, 16, 1)
    view = out.reshape(n, 16, 16)
    view[...] = ((qs.reshape(n, 2, 1, 32) >> _SHIFT_2BIT.reshape(1, 1, 4, 1)) & 3).reshape(n, 16, 16)
    view *= dl
    view -= ml


def _dequant_q3_k(blocks: np.ndarray, out: np.ndarray) -> None:
    n = blocks.shape[0]
    hmask, qs, packed, d = blocks[:, :32], blocks[:, 32:96], blocks[:, 96:108], _f16(blocks, 108)
    # 16 six-bit scales: low 4 bits from bytes 0..7 (low nibbles, then high nibbles), high 2 bits from bytes 8..11
    low = np.concatenate([packed[:, :8] & 0x0F, packed[:, :8] >> 4], axis=-1)
    high = (packed[:, 8:12].reshape(n, 1, 4) >> _SHIFT_2BIT.reshape(1, 4, 1)) & 3
    scales = (low | (high.reshape(n, 16) << 4)).view(np.int8) - np.int8(32)
    dl = (d * scales.astype(np.float32)).reshape(n, 16, 1)
    ql = (qs.reshape(n, 2, 1, 32) >> _SHIFT_2BIT.reshape(1, 1, 4, 1)) & 3
    qh = (hmask.reshape(n, 1, 1, 32) >> _SHIFT_1BIT.reshape(1, 1, 8, 1)) & 1
    # a clear high bit means "subtract 4"
    q = ql.reshape(n, 16, 16).view(np.int8) - ((qh.reshape(n, 16, 16) ^ 1) << 2).view(np.int8)
    view = out.reshape(n, 16, 16)
    view[...] = q
    view *= dl


def _k_scale_min(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8 six-bit scales and 8 six-bit mins packed into 12 bytes (Q4_K/Q5_K ``get_scale_min_k4``)."""
    d, m, md = packed[:, 0:4], packed[:, 4:8], packed[:, 8:12]
    scale = np.concatenate([d & 0x3F, (md & 0x0F) | ((d >> 2) & 0x30)], axis=-1)
    minimum = np.concatenate([m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)], axis=-1)
    return scale, minimum


def _k_scale(blocks: np.ndarray, out: np.ndarray) -> None:
    """Apply Q4_K/Q5_K super-block scales in place: ``out`` holds (n, 256) unsigned codes."""
    n = blocks.shape[0]
    d, dmin = _f16(blocks, 0), _f16(blocks, 2)
    scale, minimum = _k_scale_min(blocks[:, 4:16])
    view = out.reshape(n, 8, 32)
    view *= (d * scale.astype(np.float32)).reshape(n, 8, 1)
    view -= (dmin * minimum.astype(np.float32)).reshape(n, 8, 1)


def _dequant_q4_k(blocks: np.ndarray, out: np.ndarray) -> None:
    n = blocks.shape[0]
    qs = blocks[:, 16:].reshape(n, 4, 32)
    view = out.reshape(n, 4, 2, 32)  # sub-block 2i: low nibbles of byte group i, 2i + 1: its high nibbles
    view[:, :, 0] = qs & 0x0F
    view[:, :, 1] = qs >> 4
    _k_scale(blocks, out)


def _dequant_q5_k(blocks: np.ndarray, out: np.ndarray) -> None:
    n = blocks.shape[0]
    qh, qs = blocks[:, 16:48], blocks[:, 48:].reshape(n, 4, 32)
    high = (((qh.reshape(n, 1, 32) >> _SHIFT_1BIT.reshape(1, 8, 1)) & 1) << 4).reshape(n, 4, 2, 32)
    view = out.reshape(n, 4, 2, 32)
    view[:, :, 0] = (qs & 0x0F) | high[:, :, 0]
    view[:, :, 1] = (qs >> 4) | high[:, :, 1]
    _k_scale(blocks, out)


def _dequant_q6_k(blocks: np.ndarray, out: np.ndarray) -> None:
    n = blocks.shape[0]
    ql, qh = blocks[:, :128], blocks[:, 128:192]
    dl = (_f16(blocks, 208) * blocks[:, 192:208].view(np.int8).astype(np.float32)).reshape(n, 16, 1)
    low = (ql.reshape(n, 2, 1, 64) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)) & 0x0F
    high = (qh.reshape(n, 2, 1, 32) >> _SHIFT_2BIT.reshape(1, 1, 4, 1)) & 3
    view = out.reshape(n, 16, 16)
    view[...] = (low.reshape(n, 8, 32) | (high.reshape(n, 8, 32) << 4)).reshape(n, 16, 16)
    view -= 32
    view *= dl


def _copy_f32(blocks: np.ndarray, out: np.ndarray) -> None:
    out[...] = blocks.view(np.float32)


def _widen_f16(blocks: np.ndarray, out: np.ndarray) -> None:
    out[...] = blocks.view(np.float16)


def _widen_bf16(blocks: np.ndarray, out: np.ndarray) -> None:
    bits = out.view(np.uint32)  # bfloat16 is the top half of a float32
    bits[...] = blocks.view(np.uint16)
    bits <<= 16


# plain types decoded to float32 through the same chunked pool (one "block" per value)
_PLAIN_TO_F32: dict[int, Callable[[np.ndarray, np.ndarray], None]] = {
    GGMLType.F32: _copy_f32,
    GGMLType.F16: _widen_f16,
    GGMLType.BF16: _widen_bf16,
}

_BLOCK_DEQUANTISERS: dict[int, Callable[[np.ndarray, np.ndarray], None]] = {
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
    raw: torch.Tensor | np.ndarray,
    ggml_type: int,
    shape: Sequence[int],
    name: str = "tensor",
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Decode the stored bytes of one tensor.

    Args:
        raw: 1-D uint8 tensor or array holding the tensor's data exactly (``numel / block_size * type_size``
            bytes). It is only read.
        ggml_type: the ggml type id the data is stored in.
        shape: the tensor's shape in PyTorch order (last dimension contiguous).
        name: used in error messages.
        dtype: output dtype; float32 by default. F16/BF16 data asked for in its own dtype is returned as is.

    Returns:
        A new tensor of ``shape`` that owns its memory.
    """
    shape = tuple(int(d) for d in shape)
    out_dtype = dtype or torch.float32
    if ggml_type not in _PLAIN_DTYPES and ggml_type not in _BLOCK_DEQUANTISERS:
        supported = ", ".join(t.name for t in SUPPORTED_TYPES)
        raise GGUFQuantTypeError(
            f"{name}: ggml type {ggml_type_name(ggml_type)} cannot be dequantised (supported: {supported}); "
            "re-quantise the model with one of these types (llama.cpp's llama-quantize)"
        )
    block_size, type_size = BLOCK_LAYOUT[ggml_type]
    numel = 1
    for dim in shape:
        numel *= dim
    data = raw.numpy() if isinstance(raw, torch.Tensor) else raw
    if numel % block_size or data.size != numel // block_size * type_size:
        raise GGUFFormatError(
            f"{name}: {data.size} bytes of {ggml_type_name(ggml_type)} data do not hold a tensor of shape {list(shape)}"
        )
    decode = _PLAIN_TO_F32.get(ggml_type) if out_dtype == torch.float32 else None
    if ggml_type in _PLAIN_DTYPES and decode is None:
        values = torch.from_numpy(data).view(_PLAIN_DTYPES[ggml_type])
        return values.to(out_dtype, copy=True).reshape(shape)
    blocks = data.reshape(-1, type_size)
    out = np.empty((blocks.shape[0], block_size), dtype=np.float32)
    _decode_blocks(decode or _BLOCK_DEQUANTISERS[ggml_type], blocks, out)
    result = torch.from_numpy(out).reshape(shape)
    return result if out_dtype == torch.float32 else result.to(out_dtype)


def _decode_blocks(decode: Callable[[np.ndarray, np.ndarray], None], blocks: np.ndarray, out: np.ndarray) -> None:
    """Run ``decode`` over cache-sized chunks of blocks, on the pool when there are enough of them."""
    step = max(1, _CHUNK_ELEMENTS // out.shape[1])
    starts = range(0, blocks.shape[0], step)

    def decode_chunk(start: int) -> None:
        decode(blocks[start : start + step], out[start : start + step])

    if len(starts) < 4 or torch.get_num_threads() == 1:
        for start in starts:
            decode_chunk(start)
    else:
        for _ in _pool().map(decode_chunk, starts):
            pass
