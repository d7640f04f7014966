"""What the Interface layer costs per request: ``POST /api/predict`` of an ``Interface`` against a hand-written
FastAPI endpoint doing the same work, both on uvicorn over loopback, measured interleaved in one run.

    .venv/bin/python bench/bench_ui.py --requests 400 --clients 8

Prints a table (p50/p99 latency of sequential requests, throughput with concurrent clients) and writes
bench/results/ui.json. The function is trivial on purpose: what is measured is the web layer (validation,
JSON, thread hand-off, the concurrency slot), not a model.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from embrace.ui import Interface, Slider, Textbox
from embrace.ui.server import BackgroundServer


def shout(text: str, times: int) -> str:
    return (text.upper() + " ") * times


class Body(BaseModel):
    data: tuple[str, int]


def baseline_app() -> Any:
    """The common hand-written way: one FastAPI endpoint with a pydantic body."""
    app = FastAPI()

    @app.post("/api/predict")
    def predict(body: Body) -> dict[str, Any]:
        return {"data": [shout(*body.data)]}

    return app


def new_client() -> httpx.Client:
    # TCP_NODELAY: otherwise Nagle + delayed ACKs add ~40 ms to every small request on loopback
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(timeout=30, transport=transport)


def timed_posts(client: httpx.Client, url: str, n: int) -> list[float]:
    latencies = []
    for i in range(n):
        started = time.perf_counter()
        response = client.post(url, json={"data": [f"hello {i}", 3]})
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return latencies


def throughput(url: str, clients: int, per_client: int) -> float:
    def work() -> None:
        with new_client() as client:
            timed_posts(client, url, per_client)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return clients * per_client / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="sequential requests per side")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for the throughput run")
    args = parser.parse_args()

    demo = Interface(shout, [Textbox(), Slider(1, 5, step=1)], "text", concurrency_limit=None)
    ours_url = demo.launch(server_port=0, block=False, quiet=True) + "/api/predict"
    base_server = BackgroundServer(baseline_app(), "127.0.0.1", 0).start()
    base_url = base_server.url + "/api/predict"
    try:
        with new_client() as client:
            timed_posts(client, ours_url, 50)  # warm-up both
            timed_posts(client, base_url, 50)
            ours: list[float] = []
            base: list[float] = []
            for _ in range(4):  # interleaved rounds, so load changes hit both sides
                ours += timed_posts(client, ours_url, args.requests // 4)
                base += timed_posts(client, base_url, args.requests // 4)
        per_client = max(1, args.requests // args.clients)
        ours_rps = [throughput(ours_url, args.clients, per_client), throughput(ours_url, args.clients, per_client)]
        base_rps = [throughput(base_url, args.clients, per_client), throughput(base_url, args.clients, per_client)]
    finally:
        demo.close()
        base_server.stop()

    rows = [
        ("p50 latency, sequential (ms)", statistics.median(ours) * 1e3, statistics.median(base) * 1e3),
        ("p99 latency, sequential (ms)", percentile(ours, 0.99) * 1e3, percentile(base, 0.99) * 1e3),
        (f"requests/s, {args.clients} concurrent clients", max(ours_rps), max(base_rps)),
    ]
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}")
    print(f"{'':42} {'Interface':>10} {'FastAPI':>10} {'ratio':>7}")
    for name, mine, theirs in rows:
        print(f"{name:42} {mine:10.2f} {theirs:10.2f} {mine / theirs:6.2f}x")
    out = Path(__file__).parent / "results" / "ui.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"load_average": load, "rows": [
        {"metric": n, "interface": m, "fastapi": t, "ratio": m / t} for n, m, t in rows]}, indent=2))


if __name__ == "__main__":
    main()
