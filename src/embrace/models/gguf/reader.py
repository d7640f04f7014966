"""Reading GGUF (llama.cpp) files: header, metadata, tensor infos, memory-mapped tensor data.

Layout (little-endian), versions 2 and 3::

    magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
    kv_count x   (key: string, value_type: u32, value)
    tensor_count x (name: string, n_dims: u32, dims: u64[n_dims], ggml_type: u32, offset: u64)
    padding to `general.alignment` (default 32) | tensor data (each tensor at data_offset + offset)

A string is a u64 byte length followed by UTF-8 bytes; an array is (element type u32, count u64, elements).
The whole file is memory-mapped copy-on-write: nothing is read into memory until a tensor is asked for, and
the raw views handed out can never write back to the file.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embrace.models.gguf.constants import (
    BLOCK_LAYOUT,
    DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    SUPPORTED_VERSIONS,
    VALUE_NUMPY_DTYPES,
    GGUFValueType,
    ggml_type_name,
)
from embrace.models.gguf.errors import GGUFFormatError, GGUFQuantTypeError, GGUFTruncatedError, GGUFVersionError

if TYPE_CHECKING:
    import torch

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_SCALAR_STRUCTS: dict[int, struct.Struct] = {
    GGUFValueType.UINT8: struct.Struct("<B"),
    GGUFValueType.INT8: struct.Struct("<b"),
    GGUFValueType.UINT16: struct.Struct("<H"),
    GGUFValueType.INT16: struct.Struct("<h"),
    GGUFValueType.UINT32: _U32,
    GGUFValueType.INT32: struct.Struct("<i"),
    GGUFValueType.FLOAT32: struct.Struct("<f"),
    GGUFValueType.BOOL: struct.Struct("<?"),
    GGUFValueType.UINT64: _U64,
    GGUFValueType.INT64: struct.Struct("<q"),
    GGUFValueType.FLOAT64: struct.Struct("<d"),
}
_MAX_COUNT = 1 << 32
_MAX_DIMS = 8  # ggml's GGML_MAX_DIMS is 4; anything far beyond that means a corrupt header


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One tensor of a GGUF file.

    ``shape`` is in PyTorch/numpy order (slowest dimension first), i.e. ggml's ``ne`` reversed, so a
    ``[n_embd, n_vocab]`` ggml embedding has shape ``(n_vocab, n_embd)`` here, as in Hugging Face checkpoints.
    ``offset`` is absolute (from the start of the file); ``nbytes`` is the size of its (possibly quantised) data.
    """

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    nbytes: int

    @property
    def type_name(self) -> str:
        return ggml_type_name(self.ggml_type)

    @property
    def numel(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


class _Cursor:
    """Bounds-checked little-endian reads from a buffer; every overrun becomes GGUFTruncatedError."""

    def __init__(self, buf: mmap.mmap | bytes, path: str) -> None:
        self.buf = buf
        self.size = len(buf)
        self.pos = 0
        self.path = path

    def _need(self, count: int, what: str) -> None:
        if count < 0 or self.pos + count > self.size:
            raise GGUFTruncatedError(
                f"{self.path}: file ends at byte {self.size} while reading {what} at byte {self.pos} "
                f"({count} bytes needed); the GGUF file is truncated or corrupt, download it again"
            )

    def scalar(self, fmt: struct.Struct, what: str) -> Any:
        self._need(fmt.size, what)
        (value,) = fmt.unpack_from(self.buf, self.pos)
        self.pos += fmt.size
        return value

    def u32(self, what: str) -> int:
        return int(self.scalar(_U32, what))

    def u64(self, what: str) -> int:
        return int(self.scalar(_U64, what))

    def string(self, what: str) -> str:
        length = self.u64(what)
        self._need(length, what)
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        # Some vocabularies hold tokens that are not valid UTF-8 on their own; keep their bytes recoverable.
        return bytes(raw).decode("utf-8", errors="surrogateescape")

    def array(self, what: str) -> list[Any]:
        element_type = self.u32(what)
        count = self.u64(what)
        if element_type == GGUFValueType.STRING:
            return [self.string(what) for _ in range(count)]
        if element_type == GGUFValueType.ARRAY:
            return [self.array(what) for _ in range(count)]
        if count > self.size:
            raise GGUFTruncatedError(f"{self.path}: {what} claims {count} elements, more than the file holds")
        dtype = VALUE_NUMPY_DTYPES.get(element_type)
        if dtype is None:
            raise GGUFFormatError(f"{self.path}: unknown array element type {element_type} in {what}")
        itemsize = np.dtype(dtype).itemsize
        self._need(count * itemsize, what)
        values = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += count * itemsize
        if element_type == GGUFValueType.BOOL:
            return [bool(v) for v in values]
        return values.tolist()

    def value(self, value_type: int, what: str) -> Any:
        if value_type == GGUFValueType.STRING:
            return self.string(what)
        if value_type == GGUFValueType.ARRAY:
            return self.array(what)
        fmt = _SCALAR_STRUCTS.get(value_type)
        if fmt is None:
            raise GGUFFormatError(f"{self.path}: unknown metadata value type {value_type} in {what}")
        return self.scalar(fmt, what)


class GGUFReader:
    """A GGUF file opened for reading.

    Attributes:
        path: the file.
        version: GGUF version (2 or 3).
        metadata: every key/value pair, in file order; arrays are Python lists, strings are ``str``.
        value_types: metadata key -> value type (and element type for arrays), for writing back.
        tensors: tensor name -> :class:`GGUFTensorInfo`, in file order.
        alignment, data_offset: where tensor data starts.

    Use as a context manager (or call :meth:`close`) to release the memory map early.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size == 0:
                    raise GGUFTruncatedError(f"{self.path}: the file is empty, not a GGUF file")
                # ACCESS_COPY: a private copy-on-write map, so tensors built on it are writable
                # without ever touching the file, and pages are only read when used.
                self._map: mmap.mmap | None = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
        except FileNotFoundError as err:
            from embrace.errors import EmbraceFileNotFoundError

            raise EmbraceFileNotFoundError(f"GGUF file not found: {self.path}") from err
        self.size = size
        self.metadata: dict[str, Any] = {}
        self.value_types: dict[str, tuple[int, ...]] = {}
        self.tensors: dict[str, GGUFTensorInfo] = {}
        self._parse()

    # -- parsing -------------------------------------------------------------------------------------------------

    def _parse(self) -> None:
        assert self._map is not None
        cur = _Cursor(self._map, str(self.path))
        cur._need(4, "the magic number")
        magic = bytes(self._map[0:4])
        if magic != GGUF_MAGIC:
            raise GGUFFormatError(
                f"{self.path}: not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r}); "
                "pass a llama.cpp .gguf file"
            )
        cur.pos = 4
        version = cur.u32("the version")
        if version not in SUPPORTED_VERSIONS:
            swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
            hint = " (it is a big-endian GGUF; convert it to little-endian)" if swapped in SUPPORTED_VERSIONS else ""
            raise GGUFVersionError(
                f"{self.path}: GGUF version {version} is not supported{hint}; supported versions: "
                f"{', '.join(map(str, SUPPORTED_VERSIONS))}"
            )
        self.version = version
        tensor_count = cur.u64("the tensor count")
        kv_count = cur.u64("the metadata count")
        # Loops over plausible counts stop at the end of the file with GGUFTruncatedError; absurd ones are corrupt.
        if tensor_count > _MAX_COUNT or kv_count > _MAX_COUNT:
            raise GGUFFormatError(
                f"{self.path}: header claims {tensor_count} tensors and {kv_count} metadata entries, more than "
                "the file can hold; the file is corrupt"
            )
        for index in range(kv_count):
            key = cur.string(f"metadata key #{index}")
            value_type = cur.u32(f"the type of metadata {key!r}")
            types: tuple[int, ...] = (value_type,)
            if value_type == GGUFValueType.ARRAY:
                element_type = _U32.unpack_from(self._map, cur.pos)[0] if cur.pos + 4 <= self.size else -1
                types = (value_type, element_type)
            self.metadata[key] = cur.value(value_type, f"metadata {key!r}")
            self.value_types[key] = types
        infos = []
        for index in range(tensor_count):
            name = cur.string(f"the name of tensor #{index}")
            n_dims = cur.u32(f"the rank of tensor {name!r}")
            if n_dims > _MAX_DIMS:
                raise GGUFFormatError(f"{self.path}: tensor {name!r} claims {n_dims} dimensions; the file is corrupt")
            dims = [cur.u64(f"the shape of tensor {name!r}") for _ in range(n_dims)]
            ggml_type = cur.u32(f"the type of tensor {name!r}")
            offset = cur.u64(f"the offset of tensor {name!r}")
            infos.append((name, tuple(reversed(dims)), ggml_type, offset))
        alignment = self.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise GGUFFormatError(f"{self.path}: general.alignment={alignment!r} is not a power of two")
        self.alignment = alignment
        self.data_offset = -(-cur.pos // alignment) * alignment
        for name, shape, ggml_type, offset in infos:
            try:
                nbytes = _nbytes(shape, ggml_type)
            except GGUFFormatError as err:
                raise GGUFFormatError(f"{self.path}: tensor {name!r}: {err}") from None
            info = GGUFTensorInfo(name, shape, ggml_type, self.data_offset + offset, nbytes)
            if info.nbytes >= 0 and info.offset + info.nbytes > self.size:
                raise GGUFTruncatedError(
                    f"{self.path}: tensor {name!r} ({info.type_name}, shape {list(shape)}) needs bytes "
                    f"{info.offset}..{info.offset + info.nbytes} but the file has {self.size}; "
                    "the GGUF file is truncated, download it again"
                )
            if name in self.tensors:
                raise GGUFFormatError(f"{self.path}: tensor {name!r} appears twice")
            self.tensors[name] = info

    # -- access --------------------------------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """Metadata value of ``key``, or ``default``."""
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str:
        """``general.architecture`` (e.g. ``"llama"``)."""
        arch = self.metadata.get("general.architecture")
        if not isinstance(arch, str):
            raise GGUFFormatError(f"{self.path}: metadata has no general.architecture string")
        return arch

    def raw(self, name: str) -> np.ndarray:
        """The stored bytes of tensor ``name`` as a uint8 array viewing the memory map (no copy)."""
        info = self._info(name)
        if info.nbytes < 0:
            raise GGUFQuantTypeError(f"{self.path}: tensor {name!r} has {info.type_name}, whose size is unknown")
        if self._map is None:
            raise ValueError(f"{self.path}: the reader is closed")
        return np.frombuffer(self._map, dtype=np.uint8, count=info.nbytes, offset=info.offset)

    def tensor(self, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Tensor ``name`` dequantised to a new float tensor of shape ``info.shape`` (float32 unless ``dtype``)."""
        from embrace.models.gguf.quants import dequantize

        info = self._info(name)
        return dequantize(self.raw(name), info.ggml_type, info.shape, name=name, dtype=dtype)

    def _info(self, name: str) -> GGUFTensorInfo:
        info = self.tensors.get(name)
        if info is None:
            raise KeyError(f"{self.path}: no tensor named {name!r}")
        return info

    def close(self) -> None:
        """Release the memory map. Tensors already dequantised stay valid (they own their memory)."""
        if self._map is not None:
            # a raw() view still alive keeps the map open; it is released with the last view
            with contextlib.suppress(BufferError):
                self._map.close()
            self._map = None

    def __enter__(self) -> GGUFReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"GGUFReader({str(self.path)!r}, version={self.version}, tensors={len(self.tensors)}, "
            f"metadata={len(self.metadata)})"
        )


def _nbytes(shape: tuple[int, ...], ggml_type: int) -> int:
    """Bytes of a tensor's data, or -1 for a type of unknown layout."""
    layout = BLOCK_LAYOUT.get(ggml_type)
    if layout is None:
        return -1
    block_size, type_size = layout
    numel = 1
    for dim in shape:
        numel *= dim
    if shape and shape[-1] % block_size:
        raise GGUFFormatError(
            f"row length {shape[-1]} is not a multiple of the {ggml_type_name(ggml_type)} block size {block_size}"
        )
    return numel // block_size * type_size
