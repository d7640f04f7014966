"""LoRA vs full fine-tuning, embrace (embrace model + embrace.peft) vs the reference (transformers + peft).

Same Llama-shaped checkpoint for everyone (random weights, built with transformers and saved once), AdamW steps on
random token ids (causal-LM loss). Memory: each contender trains ``--steps`` steps in a fresh process; peak
growth above the loaded model (CPU: RSS sampled every 2 ms; CUDA: ``max_memory_allocated``), so it counts
gradients, optimizer state and activations. Step time (forward + backward + optimizer step): all four contenders
in one process, one step each in turn for ``--rounds`` x ``--steps`` steps, so machine load hits them alike;
best and median step reported, with the trainable parameter counts.

Run: .venv/bin/python bench/bench_lora.py [--hidden 384 --layers 6 --vocab 8000 --batch 4 --seq 128 --steps 5]
     [--rank 16] [--rounds 2] [--device cuda] [--dtype bfloat16]
Writes bench/results/lora.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CONTENDERS = [("ours", "lora"), ("reference", "lora"), ("ours", "full"), ("reference", "full")]


def build_checkpoint(folder: Path, opts: argparse.Namespace) -> None:
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=opts.vocab, hidden_size=opts.hidden,
                                      intermediate_size=int(opts.hidden * 8 / 3) // 64 * 64 or 64,
                                      num_hidden_layers=opts.layers, num_attention_heads=max(opts.hidden // 64, 1),
                                      num_key_value_heads=max(opts.hidden // 256, 1), max_position_embeddings=opts.seq)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)


class PeakRss:
    """Samples this process's RSS in a thread; ``peak`` is the highest value seen (bytes)."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Contender:
    """One (implementation, mode) pair: the model (LoRA-wrapped or not), its AdamW optimizer and one training step."""

    def __init__(self, impl: str, mode: str, folder: str, opts: argparse.Namespace) -> None:
        import torch

        self.device = torch.device(opts.device)
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        if impl == "ours":
            from embrace.models.llama import LlamaForCausalLM
            from embrace.peft import LoraConfig, get_peft_model
        else:
            from transformers import LlamaForCausalLM  # type: ignore[no-redef]

            from peft import LoraConfig, get_peft_model  # type: ignore[no-redef]
        model = LlamaForCausalLM.from_pretrained(folder, dtype=getattr(torch, opts.dtype)).to(self.device)
        if mode == "lora":
            model = get_peft_model(model, LoraConfig(r=opts.rank, lora_alpha=2 * opts.rank, target_modules=targets,
                                                     task_type="CAUSAL_LM"))
        model.train()
        self.model = model
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-4)

    def step(self, ids: Any) -> float:
        """Forward + backward + optimizer step; returns the wall time in seconds."""
        import torch

        start = time.perf_counter()
        self.model(input_ids=ids, labels=ids).loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


def batches(opts: argparse.Namespace) -> list[Any]:
    import torch

    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, opts.vocab, (opts.batch, opts.seq), generator=g).to(opts.device) for _ in range(opts.steps)]


def memory_worker(impl: str, mode: str, folder: str, opts: argparse.Namespace) -> dict:
    """Run in a fresh process: peak memory growth of ``--steps`` training steps above the loaded model."""
    import torch

    torch.set_num_threads(opts.threads)
    warm = torch.zeros(4, device=opts.device, requires_grad=True)  # first AdamW use imports torch._dynamo
    torch.optim.AdamW([warm]).step()
    contender = Contender(impl, mode, folder, opts)
    data = batches(opts)
    if contender.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    tracker = PeakRss()
    rss_before = tracker.peak  # the loaded model; growth = gradients + optimizer state + activations
    with tracker:
        for ids in data:
            contender.step(ids)
    peak = (torch.cuda.max_memory_allocated() - base) if contender.device.type == "cuda" else tracker.peak - rss_before
    return {"impl": impl, "mode": mode, "peak_mb": peak / 2**20, "trainable": sum(p.numel() for p in contender.params)}


def interleaved_step_times(folder: str, opts: argparse.Namespace) -> dict[tuple[str, str], list[float]]:
    """All four contenders in this process, one step each in turn, so machine load hits them alike."""
    import torch

    torch.set_num_threads(opts.threads)
    contenders = {key: Contender(*key, folder, opts) for key in CONTENDERS}
    data = batches(opts)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in CONTENDERS}
    for round_index in range(opts.rounds):
        for i, ids in enumerate(data):
            for key, contender in contenders.items():
                elapsed = contender.step(ids)
                if round_index or i:  # the very first step allocates state: not timed
                    times[key].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "MODE", "FOLDER"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        print(json.dumps(memory_worker(*opts.worker, opts=opts)))
        return

    folder = Path(tempfile.mkdtemp(prefix="bench_lora_"))
    build_checkpoint(folder, opts)
    memory: dict[tuple[str, str], dict] = {}
    for impl, mode in CONTENDERS:
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--worker", impl, mode, str(folder)],
                             capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode:
            raise SystemExit(f"{impl} {mode} failed:\n{out.stderr[-3000:]}")
        memory[(impl, mode)] = json.loads(out.stdout.strip().splitlines()[-1])
    times = interleaved_step_times(str(folder), opts)
    load = os.getloadavg()[0]
    rows = {key: {**memory[key], "step_s": min(times[key]), "median_step_s": statistics.median(times[key])}
            for key in CONTENDERS}
    print(f"\nLlama hidden={opts.hidden} layers={opts.layers} vocab={opts.vocab}, batch {opts.batch} x seq {opts.seq}, "
          f"LoRA r={opts.rank} on all linear layers, {opts.device} {opts.dtype}, {opts.threads} threads, "
          f"load average {load:.1f}")
    print(f"{'':8} {'metric':26} {'embrace':>10} {'reference':>10} {'ratio':>7}")
    for mode in ("lora", "full"):
        ours, ref = rows[("ours", mode)], rows[("reference", mode)]
        for metric, label in (("step_s", "step time, best (s)"), ("median_step_s", "step time, median (s)"),
                              ("peak_mb", "peak memory growth (MB)")):
            print(f"{mode:8} {label:26} {ours[metric]:10.3f} {ref[metric]:10.3f} {ours[metric] / ref[metric]:6.2f}x")
        print(f"{mode:8} {'trainable params':26} {ours['trainable']:10,d} {ref['trainable']:10,d}")
    lora, full = rows[("ours", "lora")], rows[("ours", "full")]
    print(f"embrace LoRA / full fine-tuning: memory {lora['peak_mb'] / full['peak_mb']:.2f}x, "
          f"step time {lora['step_s'] / full['step_s']:.2f}x")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "lora.json").write_text(json.dumps({"options": vars(opts), "load_average": load,
                                                   "results": [rows[k] for k in CONTENDERS]}, indent=2))

if __name__ == "__main__":
    main()
