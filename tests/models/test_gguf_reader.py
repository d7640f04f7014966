"""GGUF reader: header, metadata of every value type, tensor infos, alignment, and typed errors on bad files.

The oracle is llama.cpp's own `gguf` package (writer and reader).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from embrace.errors import CheckpointError
from embrace.models.gguf import (
    GGUFFormatError,
    GGUFQuantTypeError,
    GGUFReader,
    GGUFTruncatedError,
    GGUFVersionError,
)
from embrace.models.gguf.constants import GGMLType

from ._gguf_helpers import gguf


def _write_all_types(path: Path, alignment: int | None = None) -> dict[str, np.ndarray]:
    writer = gguf.GGUFWriter(str(path), "llama")
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    writer.add_uint8("t.u8", 200)
    writer.add_int8("t.i8", -100)
    writer.add_uint16("t.u16", 60000)
    writer.add_int16("t.i16", -30000)
    writer.add_uint32("t.u32", 4_000_000_000)
    writer.add_int32("t.i32", -2_000_000_000)
    writer.add_float32("t.f32", 0.1)
    writer.add_uint64("t.u64", 2**63 + 5)
    writer.add_int64("t.i64", -(2**62))
    writer.add_float64("t.f64", 0.1)
    writer.add_bool("t.bool", True)
    writer.add_string("t.str", "héllo ▁wörld \n")
    writer.add_array("t.arr_i32", [1, -2, 3])
    writer.add_array("t.arr_f32", [0.5, -1.25])
    writer.add_array("t.arr_str", ["a", "", "ünï"])
    writer.add_array("t.arr_bool", [True, False])
    rng = np.random.default_rng(0)
    tensors = {
        "a.weight": rng.standard_normal((3, 5)).astype(np.float32),
        "b.weight": rng.standard_normal((7,)).astype(np.float16),
        "c.weight": rng.standard_normal((2, 3, 4)).astype(np.float32),
    }
    for name, value in tensors.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


@pytest.fixture
def all_types_file(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path / "types.gguf"
    return path, _write_all_types(path)


def test_metadata_matches_the_gguf_package(all_types_file: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, _ = all_types_file
    ours = GGUFReader(path)
    ref = gguf.GGUFReader(str(path))
    assert ours.version == 3
    ref_keys = [k for k in ref.fields if not k.startswith("GGUF.")]
    assert list(ours.metadata) == ref_keys
    for key in ref_keys:
        expected = ref.fields[key].contents()
        assert ours.metadata[key] == expected, key
        assert type(ours.metadata[key]) is type(expected), key
    assert ours.metadata["t.u64"] == 2**63 + 5
    assert ours.metadata["t.f32"] == np.float32(0.1)  # stored as float32, not rounded to 0.1
    assert ours.metadata["t.str"] == "héllo ▁wörld \n"
    assert ours.metadata["t.arr_str"] == ["a", "", "ünï"]
    assert ours.metadata["t.arr_bool"] == [True, False]
    assert ours.architecture == "llama"


def test_tensor_infos_and_data(all_types_file: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, tensors = all_types_file
    ref = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    with GGUFReader(path) as reader:
        assert list(reader.tensors) == list(tensors)
        for name, value in tensors.items():
            info = reader.tensors[name]
            assert info.shape == value.shape
            assert info.offset == ref[name].data_offset
            assert info.nbytes == value.nbytes
            assert info.ggml_type == (GGMLType.F16 if value.dtype == np.float16 else GGMLType.F32)
            assert np.array_equal(reader.raw(name), value.view(np.uint8).reshape(-1))
            out = reader.tensor(name)
            assert out.dtype == torch.float32 and tuple(out.shape) == value.shape
            assert torch.equal(out, torch.from_numpy(value.astype(np.float32)))
            assert reader.tensor(name, dtype=torch.float16).dtype == torch.float16
        with pytest.raises(KeyError, match="no tensor named"):
            reader.tensor("missing.weight")


def test_dequantised_tensor_owns_its_memory(all_types_file: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, tensors = all_types_file
    reader = GGUFReader(path)
    out = reader.tensor("a.weight")
    out.add_(1.0)  # must not write into the file or the map
    assert torch.equal(reader.tensor("a.weight"), torch.from_numpy(tensors["a.weight"]))
    reader.close()
    assert out.sum().isfinite()  # still valid after the map is released
    assert GGUFReader(path).tensor("a.weight").equal(torch.from_numpy(tensors["a.weight"]))


def test_custom_alignment(tmp_path: Path) -> None:
    path = tmp_path / "aligned.gguf"
    tensors = _write_all_types(path, alignment=64)
    reader = GGUFReader(path)
    assert reader.alignment == 64 and reader.data_offset % 64 == 0
    ref = {t.name: t.data_offset for t in gguf.GGUFReader(str(path)).tensors}
    for name, value in tensors.items():
        assert reader.tensors[name].offset == ref[name]
        assert reader.tensors[name].offset % 64 == 0
        assert torch.equal(reader.tensor(name), torch.from_numpy(value.astype(np.float32)))


def test_version_2_reads_like_version_3(all_types_file: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    path, tensors = all_types_file
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 2)  # v2 and v3 share the layout (v3 only allowed big-endian files)
    v2 = tmp_path / "v2.gguf"
    v2.write_bytes(bytes(data))
    reader = GGUFReader(v2)
    assert reader.version == 2
    assert torch.equal(reader.tensor("a.weight"), torch.from_numpy(tensors["a.weight"]))


@pytest.mark.parametrize("version", [1, 4, 0x03000000])
def test_unsupported_version(all_types_file: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, version: int) -> None:
    path, _ = all_types_file
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", version)
    bad = tmp_path / "bad_version.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(GGUFVersionError, match="not supported") as info:
        GGUFReader(bad)
    assert isinstance(info.value, CheckpointError)
    if version == 0x03000000:
        assert "big-endian" in str(info.value)


def test_bad_magic(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(GGUFFormatError, match="not a GGUF file") as info:
        GGUFReader(bad)
    assert isinstance(info.value, CheckpointError)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GGUFTruncatedError, match="empty"):
        GGUFReader(empty)
    with pytest.raises(FileNotFoundError, match="not found"):
        GGUFReader(tmp_path / "nope.gguf")


def test_truncated_anywhere_gives_a_typed_error(all_types_file: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    path, _ = all_types_file
    data = path.read_bytes()
    reader = GGUFReader(path)
    data_start = reader.data_offset
    # cut inside the header, the metadata, the tensor infos and the tensor data
    for cut in (2, 6, 20, 40, data_start - 30, data_start - 1, len(data) - 1):
        short = tmp_path / f"cut{cut}.gguf"
        short.write_bytes(data[:cut])
        with pytest.raises(GGUFTruncatedError, match="truncated") as info:
            GGUFReader(short)
        assert isinstance(info.value, CheckpointError)


def test_corrupt_counts_are_rejected(all_types_file: tuple[Path, dict[str, np.ndarray]], tmp_path: Path) -> None:
    path, _ = all_types_file
    data = bytearray(path.read_bytes())
    data[8:16] = struct.pack("<Q", 2**60)  # tensor count
    bad = tmp_path / "huge_count.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(GGUFFormatError, match="corrupt"):
        GGUFReader(bad)


def test_unknown_quant_type_fails_on_use_not_on_open(tmp_path: Path) -> None:
    path = tmp_path / "iq.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    blocks = np.zeros((2, gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.IQ2_XXS][1]), dtype=np.uint8)
    writer.add_tensor("w.weight", blocks, raw_dtype=gguf.GGMLQuantizationType.IQ2_XXS)
    writer.add_tensor("ok.weight", np.ones(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    reader = GGUFReader(path)
    assert reader.tensors["w.weight"].type_name == "IQ2_XXS"
    assert reader.tensor("ok.weight").tolist() == [1.0] * 4
    with pytest.raises(GGUFQuantTypeError, match="IQ2_XXS cannot be dequantised") as info:
        reader.tensor("w.weight")
    assert isinstance(info.value, CheckpointError)


def test_row_length_not_a_multiple_of_the_block_size(tmp_path: Path) -> None:
    path = tmp_path / "q8.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("w.weight", np.zeros((1, 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert GGUFReader(path).tensors["w.weight"].shape == (1, 32)
    data = path.read_bytes()
    info = b"w.weight" + struct.pack("<IQQ", 2, 32, 1)
    assert data.count(info) == 1
    bad = tmp_path / "bad_row.gguf"
    bad.write_bytes(data.replace(info, b"w.weight" + struct.pack("<IQQ", 2, 31, 1)))
    with pytest.raises(GGUFFormatError, match="'w.weight': row length 31 is not a multiple of the Q8_0 block size 32"):
        GGUFReader(bad)
