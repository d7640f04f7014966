"""Checkpoint files: find them, validate them, read them lazily, and rename keys with reversible rules.

Supported: ``model.safetensors``, sharded ``model.safetensors.index.json``, ``pytorch_model.bin`` (and its sharded
index), loaded with ``weights_only=True``. Safetensors tensors are read one at a time straight into their final
memory, so peak memory stays near one copy of the model.
"""

from __future__ import annotations

import functools
import json
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from embrace.errors import CheckpointError, EmbraceFileNotFoundError
from embrace.models.huge_pages import empty_huge

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
WEIGHTS_NAME = "pytorch_model.bin"
WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
WEIGHT_FILE_CANDIDATES = (SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME, WEIGHTS_INDEX_NAME, WEIGHTS_NAME)

_SAFETENSORS_DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2",
                       "U16", "U32", "U64", "F8_E8M0", "F4"}


# ---- reversible rename rules --------------------------------------------------------------------------------------
def _template_regex(template: str) -> re.Pattern[str]:
    """``"{prefix}.gamma"`` -> ``^(?P<prefix>.+?)\\.gamma$``: placeholders match any non-empty text."""
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(f"^{pattern}$")


@dataclass(frozen=True)
class RenameRule:
    """One reversible key rename between a checkpoint's names and the model's, with optional tensor transforms.

    ``RenameRule("{p}.LayerNorm.gamma", "{p}.LayerNorm.weight")`` maps old TF-era names on load and is inverted on
    save; ``to_model``/``to_checkpoint`` reshape the tensor (e.g. a transpose) in each direction. A rule with
    ``load_only=True`` is not applied on save (legacy names we read but never write).
    """

    checkpoint: str
    model: str
    to_model: Callable[[torch.Tensor], torch.Tensor] | None = None
    to_checkpoint: Callable[[torch.Tensor], torch.Tensor] | None = None
    load_only: bool = False

    def apply(self, key: str, *, reverse: bool = False) -> str | None:
        source, target = (self.model, self.checkpoint) if reverse else (self.checkpoint, self.model)
        match = _template_regex(source).match(key)
        return target.format(**match.groupdict()) if match else None


def rename_to_model(key: str, rules: tuple[RenameRule, ...]) -> tuple[str, RenameRule | None]:
    for rule in rules:
        renamed = rule.apply(key)
        if renamed is not None:
            return renamed, rule
    return key, None


def rename_to_checkpoint(key: str, rules: tuple[RenameRule, ...]) -> tuple[str, RenameRule | None]:
    for rule in rules:
        if rule.load_only:
            continue
        renamed = rule.apply(key, reverse=True)
        if renamed is not None:
            return renamed, rule
    return key, None


# ---- finding and validating files ---------------------------------------------------------------------------------
def find_weight_files(resolve: Callable[[str], Path | None], source: str) -> list[Path]:
    """The weight files of a checkpoint, preferring safetensors. ``resolve(filename)`` returns a local path or None."""
    for name in WEIGHT_FILE_CANDIDATES:
        path = resolve(name)
        if path is None:
            continue
        if name.endswith(".index.json"):
            index = _read_index(path)
            shards = sorted(set(index["weight_map"].values()))
            files = []
            for shard in shards:
                shard_path = resolve(shard)
                if shard_path is None:
                    raise EmbraceFileNotFoundError(
                        f"{path} lists shard {shard!r}, which is missing from {source}. Re-download or re-save the model."
                    )
                files.append(shard_path)
            return files
        return [path]
    raise EmbraceFileNotFoundError(
        f"no weights in {source}: expected one of {', '.join(WEIGHT_FILE_CANDIDATES)}. "
        "Save the model with save_pretrained(), or download the full repo."
    )


def _read_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a valid JSON shard index: {exc}") from exc
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
        raise CheckpointError(f"{path} has no 'weight_map' object; it is not a shard index")
    return index


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """Parse and validate a safetensors header (8-byte little-endian length + JSON) with errors naming the file."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw_len = handle.read(8)
        if len(raw_len) < 8:
            raise CheckpointError(f"{path} is truncated ({size} bytes): not a safetensors file. Re-download or re-save it.")
        (header_len,) = struct.unpack("<Q", raw_len)
        if header_len > min(size - 8, 100_000_000):
            raise CheckpointError(
                f"{path} has a corrupt safetensors header (declared length {header_len}, file size {size}). "
                "The file is truncated or not safetensors; re-download or re-save it."
            )
        try:
            header = json.loads(handle.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{path} has a corrupt safetensors header ({exc}); re-download or re-save it.") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} has a corrupt safetensors header (not a JSON object)")
    data_size = size - 8 - header_len
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not offsets or info.get("dtype") not in _SAFETENSORS_DTYPES or offsets[1] > data_size:
            raise CheckpointError(
                f"{path}: tensor {name!r} has an invalid entry or lies beyond the end of the file "
                f"(file truncated?). Re-download or re-save the model."
            )
    return header


def iter_checkpoint(files: list[Path]) -> Iterator[tuple[str, Callable[[], torch.Tensor], tuple[int, ...]]]:
    """Yield ``(key, load_tensor, shape)`` for every tensor of every file, loading each tensor only when asked."""
    for path in files:
        if path.name.endswith(".safetensors"):
            yield from _iter_safetensors(path)
        else:
            yield from _iter_torch_file(path)


_TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
    "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2, "U16": torch.uint16, "U32": torch.uint32,
    "U64": torch.uint64,
}


def _read_safetensor(path: Path, data_start: int, info: dict[str, Any]) -> torch.Tensor:
    """Read one tensor straight into its own (writable, anonymous) memory with one ``readinto``.

    Not memory-mapped on purpose: a mapped tensor counts its file pages in RSS *and* gets a private copy on the
    first in-place update (optimizer steps), doubling memory; reading into place keeps peak RSS ~1x the weights.
    """
    dtype = _TORCH_DTYPES.get(info["dtype"])
    if dtype is None:
        raise CheckpointError(f"{path}: tensor dtype {info['dtype']} is not supported")
    start, end = info["data_offsets"]
    tensor = empty_huge(info["shape"], dtype)   # filled below: the pages are faulted in as 2 MiB pages
    nbytes = tensor.numel() * tensor.element_size()
    if nbytes != end - start:
        raise CheckpointError(f"{path}: a tensor's byte size does not match its shape {info['shape']} ({info['dtype']})")
    if nbytes:
        view = tensor.view(-1).view(torch.uint8).numpy().data  # a writable memoryview on the tensor
        with path.open("rb") as handle:
            handle.seek(data_start + start)
            if handle.readinto(view) != nbytes:
                raise CheckpointError(f"{path} is truncated; re-download or re-save it")
    return tensor


def _iter_safetensors(path: Path) -> Iterator[tuple[str, Callable[[], torch.Tensor], tuple[int, ...]]]:
    header = read_safetensors_header(path)
    with path.open("rb") as handle:
        data_start = 8 + struct.unpack("<Q", handle.read(8))[0]
    for key, info in header.items():
        if key == "__metadata__":
            continue
        yield key, functools.partial(_read_safetensor, path, data_start, info), tuple(info["shape"])


def _iter_torch_file(path: Path) -> Iterator[tuple[str, Callable[[], torch.Tensor], tuple[int, ...]]]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # pickle errors, zip errors: all mean a bad file
        raise CheckpointError(
            f"{path} could not be read as a PyTorch checkpoint with weights_only=True ({exc}). "
            "It is corrupt, or it holds pickled code we refuse to run; convert it to safetensors."
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    for key, tensor in state.items():
        if isinstance(tensor, torch.Tensor):
            yield key, functools.partial(_identity, tensor), tuple(tensor.shape)


def _identity(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


# ---- sizes -----------------------------------------------------------------------------------------------------------
_SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(size: int | str) -> int:
    """``"5GB"`` -> 5_000_000_000, ``"200MiB"`` -> 209_715_200; ints pass through."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", size)
    unit = match.group(2).upper() if match else ""
    if not match or (unit and unit not in _SIZE_UNITS):
        raise ValueError(f"invalid size {size!r}: use an int (bytes) or a string like '5GB' or '200MB'")
    return int(float(match.group(1)) * _SIZE_UNITS.get(unit or "B", 1))
