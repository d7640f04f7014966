"""Generation speed and memory of embrace vs the reference, same process, same random weights, interleaved.

Shapes: GPT-2-124M and SmolLM2-135M (Llama), built from config with random weights (eos disabled, greedy).
Rows, each "ours vs reference" measured alternately ``--rounds`` times (median kept), so machine load hits both:

- decode tok/s, batch 1, 128 new tokens: fp32, and bf16 (both libraries' ``dtype=bfloat16`` models);
- embrace's weight-only bf16 and int8 linears (``quantization=``) against the memory-bandwidth limit for the
  bytes they read per token (``--bandwidth``, default 25 GB/s; the measured copy bandwidth is printed too);
- batch-8 throughput (8 prompts, 128 new tokens each, total new tokens/s);
- prefill time of a 1000-token prompt (generate with one new token);
- peak memory growth during the 1000-token prefill + 128-token decode (RSS sampled every millisecond);
- optional (``--cases ... compile``): embrace's ``compile_decode()`` (torch.compile'd decode step).

    .venv/bin/python bench/bench_generation.py                     # everything, ~15 min on a quiet 2-core VM
    .venv/bin/python bench/bench_generation.py --new-tokens 32 --rounds 1 --shapes smollm2-135m   # quick look

Prints a markdown table (paste it into docs/benchmarks.md) and writes bench/results/generation.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers

from embrace.models.auto import AutoModelForCausalLM

SHAPES: dict[str, Callable[[], Any]] = {
    "gpt2-124m": lambda: transformers.GPT2Config(bos_token_id=50256, eos_token_id=50256),
    "smollm2-135m": lambda: transformers.LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=2),
}
PREFILL_TOKENS = 1000   # fits GPT-2's 1024 learned positions with the one new token


def generate_seconds(model: Any, prompt: torch.Tensor, new_tokens: int) -> float:
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, eos_token_id=None,
                  pad_token_id=0)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(prompt, **kwargs)
    elapsed = time.perf_counter() - start
    assert out.shape == (prompt.shape[0], prompt.shape[1] + new_tokens), out.shape
    return elapsed


def warm_up(model: Any, prompt: torch.Tensor) -> None:
    generate_seconds(model, prompt[:, :8], 4)


def interleaved(ours: Callable[[], float], reference: Callable[[], float] | None, rounds: int
                ) -> tuple[float, float | None]:
    """Median of each side, the two measured alternately (reference first in even rounds, ours first in odd)."""
    mine: list[float] = []
    theirs: list[float] = []
    for i in range(rounds):
        order = [(mine, ours), (theirs, reference)] if i % 2 else [(theirs, reference), (mine, ours)]
        for bucket, fn in order:
            if fn is not None:
                bucket.append(fn())
    return statistics.median(mine), statistics.median(theirs) if theirs else None


def peak_rss_growth(fn: Callable[[], Any]) -> int:
    """Bytes of resident memory above the starting point at the peak of ``fn()`` (sampled every ms)."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    start, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return max(peak[0], rss()) - start


def bytes_read_per_token(model: torch.nn.Module) -> int:
    """Weight bytes one decode step reads: every parameter/buffer except embedding tables, which are looked up
    one row per token -- unless a table doubles as the (tied) output head, which reads all of it."""
    tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    head = getattr(model, "lm_head", None)
    head_weight = getattr(head, "weight", None)
    seen: set[int] = set()
    total = 0
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) in seen or (id(tensor) in tables and tensor is not head_weight):
            continue
        seen.add(id(tensor))
        total += tensor.numel() * tensor.element_size()
    return total


def copy_bandwidth(size_mb: int = 512, repeats: int = 5) -> float:
    """GB/s of a large tensor copy (read + write counted), best of ``repeats``: what memory gives right now."""
    src = torch.ones(size_mb * 2**20 // 4)
    dst = torch.empty_like(src)
    best = min(_timed(lambda: dst.copy_(src)) for _ in range(repeats))
    return 2 * src.numel() * 4 / best / 1e9


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Table:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, model: str, case: str, ours: float, reference: float | None, unit: str,
            note: str = "", higher_is_better: bool = True) -> None:
        ratio = None
        if reference:
            ratio = ours / reference if higher_is_better else reference / ours
        row = {"model": model, "case": case, "ours": ours, "reference": reference, "unit": unit, "ratio": ratio,
               "note": note}
        self.rows.append(row)
        ref = f"{reference:9.2f}" if reference is not None else "        -"
        speedup = f"{ratio:5.2f}x" if ratio is not None else "     "
        print(f"{model:13s} {case:44s} ours {ours:9.2f}  reference {ref} {unit:6s} {speedup}  {note}", flush=True)

    def markdown(self) -> str:
        lines = ["| model | case | embrace | transformers | unit | speed-up | note |",
                 "|---|---|---:|---:|---|---:|---|"]
        for r in self.rows:
            ref = f"{r['reference']:.2f}" if r["reference"] is not None else "-"
            ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
            lines.append(f"| {r['model']} | {r['case']} | {r['ours']:.2f} | {ref} | {r['unit']} | {ratio} | "
                         f"{r['note']} |")
        return "\n".join(lines)


def bench_shape(name: str, args: argparse.Namespace, table: Table) -> None:
    new = args.new_tokens
    torch.manual_seed(0)
    prompt = torch.randint(10, 1000, (1, 16))
    batch8 = torch.randint(10, 1000, (8, 16))
    long_prompt = torch.randint(10, 1000, (1, PREFILL_TOKENS))
    with tempfile.TemporaryDirectory() as folder:
        reference = transformers.AutoModelForCausalLM.from_config(SHAPES[name]()).eval()
        reference.save_pretrained(folder)
        ours = AutoModelForCausalLM.from_pretrained(folder)
        for model in (reference, ours):
            warm_up(model, prompt)

        def rate(model: Any, ids: torch.Tensor) -> Callable[[], float]:
            return lambda: ids.shape[0] * new / generate_seconds(model, ids, new)

        mine, theirs = interleaved(rate(ours, prompt), rate(reference, prompt), args.rounds)
        limit = args.bandwidth * 1e9 / bytes_read_per_token(ours)
        table.add(name, f"decode fp32, batch 1, {new} new tokens", mine, theirs, "tok/s",
                  f"bandwidth limit {limit:.0f} tok/s ({mine / limit:.0%})")
        fp32_rate = mine
        if "batch8" in args.cases:
            mine, theirs = interleaved(rate(ours, batch8), rate(reference, batch8), args.rounds)
            table.add(name, f"decode fp32, batch 8, {new} new tokens each", mine, theirs, "tok/s")
        if "prefill" in args.cases:
            mine, theirs = interleaved(lambda: generate_seconds(ours, long_prompt, 1),
                                       lambda: generate_seconds(reference, long_prompt, 1), args.rounds)
            table.add(name, f"prefill {PREFILL_TOKENS}-token prompt (+1 token)", mine, theirs, "s",
                      higher_is_better=False)
        if "memory" in args.cases:
            mem = {label: peak_rss_growth(lambda m=model: generate_seconds(m, long_prompt[:, :PREFILL_TOKENS - new],
                                                                             new)) / 2**20
                   for label, model in (("reference", reference), ("ours", ours))}
            table.add(name, f"peak RSS growth, {PREFILL_TOKENS - new}-token prompt + {new} new", mem["ours"],
                      mem["reference"], "MiB", f"weights {bytes_read_per_token(ours) / 2**20:.0f} MiB",
                      higher_is_better=False)
        if "bf16" in args.cases:
            ours_bf16 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
            reference_bf16 = copy.deepcopy(reference).to(torch.bfloat16)
            for model in (reference_bf16, ours_bf16):
                warm_up(model, prompt)
            mine, theirs = interleaved(rate(ours_bf16, prompt), rate(reference_bf16, prompt), args.rounds)
            limit = args.bandwidth * 1e9 / bytes_read_per_token(ours_bf16)
            table.add(name, f"decode bf16 model, batch 1, {new} new tokens", mine, theirs, "tok/s",
                      f"bandwidth limit {limit:.0f} tok/s ({mine / limit:.0%})")
            del ours_bf16, reference_bf16
        if "compile" in args.cases:
            start = time.perf_counter()
            ours.compile_decode()
            warm_up(ours, prompt)
            compile_seconds = time.perf_counter() - start
            mine, _ = interleaved(rate(ours, prompt), None, args.rounds)
            table.add(name, f"decode fp32, torch.compile'd step (ours), {new} new", mine, None, "tok/s",
                      f"{mine / fp32_rate:.2f}x eager; compile {compile_seconds:.0f} s")
            ours.uncompile_decode()
        for scheme in ("bf16", "int8"):
            if f"{scheme}-weights" not in args.cases:
                continue
            quantized = AutoModelForCausalLM.from_pretrained(folder, quantization=scheme)
            warm_up(quantized, prompt)
            mine, _ = interleaved(rate(quantized, prompt), None, args.rounds)
            limit = args.bandwidth * 1e9 / bytes_read_per_token(quantized)
            table.add(name, f"decode {scheme} weight-only (ours), batch 1, {new} new", mine, None, "tok/s",
                      f"{mine / fp32_rate:.2f}x our fp32; bandwidth limit {limit:.0f} tok/s "
                      f"({mine / limit:.0%})")
            del quantized


CASES = ("batch8", "prefill", "memory", "bf16", "bf16-weights", "int8-weights", "compile")
DEFAULT_CASES = CASES[:-1]  # compiling takes minutes on a small CPU: ask for it with --cases ... compile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions per row (median kept)")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), choices=list(CASES),
                        help="rows beyond fp32 batch-1 decode (always measured)")
    parser.add_argument("--bandwidth", type=float, default=25.0, help="memory bandwidth in GB/s for the limits")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    print(f"threads {torch.get_num_threads()}, load average {load_before[0]:.1f}, copy bandwidth now "
          f"{copy_bandwidth():.1f} GB/s (limits below use {args.bandwidth} GB/s)", flush=True)
    table = Table()
    for name in args.shapes:
        bench_shape(name, args, table)
    load_after = os.getloadavg()
    print(f"\nload average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f}\n")
    print(table.markdown())
    out = Path(__file__).parent / "results" / "generation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"new_tokens": args.new_tokens, "rounds": args.rounds,
                               "threads": torch.get_num_threads(), "load_average": [load_before, load_after],
                               "bandwidth_gb_s": args.bandwidth, "rows": table.rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
