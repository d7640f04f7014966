"""LoRA vs full fine-tuning, embrace (embrace model + embrace.peft) vs the reference (transformers + peft).

Each contender runs in a fresh process on the same Llama-shaped checkpoint (random weights, built with
transformers and saved once): ``--steps`` AdamW steps on random token ids (causal-LM loss). Reported per
contender: the fastest step (forward + backward + optimizer step; the median is in the JSON), peak memory growth during training (CPU: RSS
sampled every 2 ms above the RSS of the loaded model, so it counts gradients, optimizer state and activations;
CUDA: ``max_memory_allocated`` above the loaded model), and the
trainable parameter count. Contenders alternate (ours-lora, ref-lora, ours-full, ref-full) for ``--rounds``
rounds; the best round counts.

Run: .venv/bin/python bench/bench_lora.py [--hidden 512 --layers 8 --vocab 16000 --batch 4 --seq 128 --steps 6]
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


def worker(impl: str, mode: str, folder: str, opts: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(opts.threads)
    device = torch.device(opts.device)
    dtype = getattr(torch, opts.dtype)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    if impl == "ours":
        from embrace.models.llama import LlamaForCausalLM
        from embrace.peft import LoraConfig, get_peft_model
    else:
        from transformers import LlamaForCausalLM  # type: ignore[no-redef]

        from peft import LoraConfig, get_peft_model  # type: ignore[no-redef]
    model = LlamaForCausalLM.from_pretrained(folder, dtype=dtype).to(device)
    if mode == "lora":
        model = get_peft_model(model, LoraConfig(r=opts.rank, lora_alpha=2 * opts.rank, target_modules=targets,
                                                 task_type="CAUSAL_LM"))
    model.train()
    warm = torch.zeros(4, device=device, requires_grad=True)  # first AdamW use imports torch._dynamo: not counted
    torch.optim.AdamW([warm]).step()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, opts.vocab, (opts.batch, opts.seq), generator=g).to(device) for _ in range(opts.steps)]

    def step(ids: torch.Tensor) -> float:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    times = []
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    tracker = PeakRss()
    rss_before = tracker.peak  # the loaded model; growth = gradients + optimizer state + activations
    with tracker:
        step(batches[0])  # warm-up (allocates gradients and optimizer state): counted in memory, not in time
        for ids in batches[1:]:
            start = time.perf_counter()
            step(ids)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() - base) if device.type == "cuda" else tracker.peak - rss_before
    return {"impl": impl, "mode": mode, "step_s": min(times), "median_step_s": statistics.median(times),
            "peak_mb": peak / 2**20,
            "trainable": sum(p.numel() for p in params)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=16000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "MODE", "FOLDER"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.worker:
        print(json.dumps(worker(*opts.worker, opts=opts)))
        return

    folder = Path(tempfile.mkdtemp(prefix="bench_lora_"))
    build_checkpoint(folder, opts)
    passthrough = sys.argv[1:]
    best: dict[tuple[str, str], dict] = {}
    for _ in range(opts.rounds):
        for impl, mode in CONTENDERS:
            out = subprocess.run([sys.executable, __file__, *passthrough, "--worker", impl, mode, str(folder)],
                                 capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if out.returncode:
                raise SystemExit(f"{impl} {mode} failed:\n{out.stderr[-3000:]}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            key = (impl, mode)
            if key not in best or result["step_s"] < best[key]["step_s"]:
                best[key] = {**result, "peak_mb": min(result["peak_mb"], best.get(key, result)["peak_mb"])}
    load = os.getloadavg()[0]
    print(f"\nLlama hidden={opts.hidden} layers={opts.layers} vocab={opts.vocab}, batch {opts.batch} x seq {opts.seq}, "
          f"LoRA r={opts.rank} on all linear layers, {opts.device} {opts.dtype}, load average {load:.1f}")
    print(f"{'':8} {'metric':22} {'embrace':>10} {'reference':>10} {'ratio':>7}")
    for mode in ("lora", "full"):
        ours, ref = best[("ours", mode)], best[("reference", mode)]
        for metric, label in (("step_s", "step time (s)"), ("peak_mb", "peak memory growth (MB)")):
            ratio = ours[metric] / ref[metric] if ref[metric] else float("nan")
            print(f"{mode:8} {label:22} {ours[metric]:10.3f} {ref[metric]:10.3f} {ratio:6.2f}x")
        print(f"{mode:8} {'trainable params':22} {ours['trainable']:10,d} {ref['trainable']:10,d}")
    lora_vs_full = best[("ours", "lora")]["peak_mb"] / max(best[("ours", "full")]["peak_mb"], 1e-9)
    print(f"embrace LoRA / full fine-tuning: memory {lora_vs_full:.2f}x, step time "
          f"{best[('ours', 'lora')]['step_s'] / best[('ours', 'full')]['step_s']:.2f}x")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "lora.json").write_text(json.dumps({"options": vars(opts), "load_average": load,
                                                   "results": [best[k] for k in CONTENDERS]}, indent=2))


if __name__ == "__main__":
    main()
