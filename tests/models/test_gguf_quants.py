"""Dequantisation of every supported ggml type, bit-compared with llama.cpp's `gguf.quants.dequantize`.

Two kinds of input: random block bytes (every bit pattern of the quantised fields, finite float16 scales), and
real quantisation of float data with `gguf.quants.quantize` written into a GGUF file (for the types the package
can quantise: F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; it cannot produce K-quants, which are covered by the
random blocks here and by real files elsewhere).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from embrace.errors import CheckpointError
from embrace.models.gguf import GGUFFormatError, GGUFQuantTypeError, GGUFReader
from embrace.models.gguf.constants import BLOCK_LAYOUT, GGMLType
from embrace.models.gguf.quants import SUPPORTED_TYPES, dequantize

from ._gguf_helpers import F16_FIELDS, gguf, random_blocks

BLOCK_TYPES = list(F16_FIELDS)


@pytest.mark.parametrize("qtype", BLOCK_TYPES)
def test_random_blocks_match_the_gguf_package(qtype: str) -> None:
    block_size, _ = BLOCK_LAYOUT[GGMLType[qtype]]
    blocks = random_blocks(qtype, n_blocks=96, seed=len(qtype))
    rows = blocks.reshape(8, -1)  # 8 rows of 12 blocks
    expected = gguf.quants.dequantize(rows, gguf.GGMLQuantizationType[qtype])
    ours = dequantize(torch.from_numpy(blocks.reshape(-1).copy()), GGMLType[qtype], (8, 12 * block_size))
    assert ours.dtype == torch.float32
    assert tuple(ours.shape) == expected.shape
    assert torch.equal(ours, torch.from_numpy(expected))


@pytest.mark.parametrize("qtype", BLOCK_TYPES)
def test_chunked_path_matches_the_gguf_package(qtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tensors bigger than one chunk are decoded piecewise; a chunk boundary must not shift any value."""
    from embrace.models.gguf import quants

    monkeypatch.setattr(quants, "_CHUNK_ELEMENTS", 3 * 256)  # forces several uneven chunks
    block_size, _ = BLOCK_LAYOUT[GGMLType[qtype]]
    blocks = random_blocks(qtype, n_blocks=70, seed=7)
    expected = gguf.quants.dequantize(blocks.reshape(7, -1), gguf.GGMLQuantizationType[qtype])
    ours = dequantize(torch.from_numpy(blocks.reshape(-1).copy()), GGMLType[qtype], (7, 10 * block_size))
    assert torch.equal(ours, torch.from_numpy(expected))


@pytest.mark.parametrize("qtype", ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"])
def test_quantised_files_roundtrip(tmp_path: Path, qtype: str) -> None:
    rng = np.random.default_rng(3)
    values = {
        "w.weight": rng.standard_normal((16, 96)).astype(np.float32),
        "big.weight": (rng.standard_normal((4, 2, 64)) * 100).astype(np.float32),
        "zeros.weight": np.zeros((2, 32), dtype=np.float32),
    }
    quant = gguf.GGMLQuantizationType[qtype]
    path = tmp_path / f"{qtype}.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    for name, value in values.items():
        packed = gguf.quants.quantize(value, quant)
        if qtype in ("F32", "F16"):
            writer.add_tensor(name, packed)
        else:
            writer.add_tensor(name, packed, raw_dtype=quant)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    ref = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    reader = GGUFReader(path)
    for name, value in values.items():
        expected = gguf.quants.dequantize(ref[name].data, ref[name].tensor_type).reshape(value.shape)
        ours = reader.tensor(name)
        assert reader.tensors[name].type_name == qtype
        assert tuple(ours.shape) == value.shape
        assert torch.equal(ours, torch.from_numpy(np.array(expected)))
        tolerance = {"F32": 0, "F16": 1e-3, "BF16": 1e-2}.get(qtype, 0.2)
        assert torch.allclose(ours, torch.from_numpy(value), atol=tolerance * max(1.0, float(np.abs(value).max())))


def test_output_dtype_and_plain_types() -> None:
    values = torch.tensor([[1.5, -2.25], [3.0, 65504.0]], dtype=torch.float16)
    raw = values.view(torch.uint8).reshape(-1)
    assert torch.equal(dequantize(raw, GGMLType.F16, (2, 2)), values.float())
    assert dequantize(raw, GGMLType.F16, (2, 2), dtype=torch.float16).equal(values)
    bf = torch.tensor([1.0, -3.5, 1e30], dtype=torch.bfloat16)
    assert torch.equal(dequantize(bf.view(torch.uint8), GGMLType.BF16, (3,)), bf.float())
    blocks = torch.from_numpy(random_blocks("Q8_0", 4).reshape(-1).copy())
    assert dequantize(blocks, GGMLType.Q8_0, (4, 32), dtype=torch.bfloat16).dtype == torch.bfloat16


def test_supported_types_are_the_documented_ones() -> None:
    names = {t.name for t in SUPPORTED_TYPES}
    assert names == {"F32", "F16", "BF16", "F64", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}


def test_unsupported_type_and_bad_sizes() -> None:
    with pytest.raises(GGUFQuantTypeError, match="IQ4_XS cannot be dequantised") as info:
        dequantize(torch.zeros(136, dtype=torch.uint8), GGMLType.IQ4_XS, (256,))
    assert isinstance(info.value, CheckpointError)
    with pytest.raises(GGUFQuantTypeError, match="unknown ggml type 99"):
        dequantize(torch.zeros(8, dtype=torch.uint8), 99, (8,))
    with pytest.raises(GGUFFormatError, match="do not hold a tensor of shape"):
        dequantize(torch.zeros(34, dtype=torch.uint8), GGMLType.Q8_0, (64,))
    with pytest.raises(GGUFFormatError, match="do not hold a tensor of shape"):
        dequantize(torch.zeros(34, dtype=torch.uint8), GGMLType.Q8_0, (31,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_plain_types_on_the_chunked_path(dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch) -> None:
    from embrace.models.gguf import quants

    monkeypatch.setattr(quants, "_CHUNK_ELEMENTS", 100)  # 10 chunks, last one short
    values = torch.randn(30, 31).to(dtype)
    values[0, :3] = torch.tensor([float("inf"), float("-inf"), float("nan")]).to(dtype)
    ggml_type = {torch.float32: GGMLType.F32, torch.float16: GGMLType.F16, torch.bfloat16: GGMLType.BF16}[dtype]
    out = dequantize(values.view(torch.uint8).reshape(-1), ggml_type, (30, 31))
    assert out.dtype == torch.float32
    assert torch.equal(out.nan_to_num(0.0), values.float().nan_to_num(0.0)) and out[0, 2].isnan()
