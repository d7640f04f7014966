"""Hub download benchmark: `embrace hub serve` vs a plain static file server (`python -m http.server`) serving
the same bytes on the same machine, plus embrace's client vs huggingface_hub's client downloading from our hub.

    .venv/bin/python bench/bench_hub.py [--size-mb 32] [--repeat 3]

Prints a table (ours, reference, ratio) and writes bench/results/hub.json.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hub"))
from hub_helpers import free_port, make_server


def _get(url: str) -> int:
    total = 0
    with httpx.stream("GET", url, timeout=120) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):
            total += len(chunk)
    return total


def ttfb_ms(url: str, n: int = 30) -> float:
    samples = []
    with httpx.Client() as client:
        for _ in range(n):
            start = time.perf_counter()
            with client.stream("GET", url, headers={"Range": "bytes=0-0"}) as response:
                next(response.iter_raw(1))
                samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def throughput_mb_s(url: str, size: int, clients: int, repeat: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        moved = sum(pool.map(lambda _: _get(url), range(clients * repeat)))
    assert moved == size * clients * repeat
    return moved / 1e6 / (time.perf_counter() - start)


def start_static(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("http.server did not start")


def client_seconds(script: str, env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


CLIENT = """
import time, sys
from {module} import hf_hub_download
start = time.perf_counter()
hf_hub_download("alice/bench", "weights.bin")
print(time.perf_counter() - start)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mb * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="bench_hub_"))
    data = os.urandom(size)
    (work / "static").mkdir()
    (work / "static" / "weights.bin").write_bytes(data)
    hub = make_server(work / "hub")
    static, static_url = start_static(work / "static")
    try:
        os.environ.update(HF_ENDPOINT=hub.url, HF_TOKEN=hub.tokens["alice"], HF_HOME=str(work / "home"),
                          HF_HUB_DISABLE_PROGRESS_BARS="1")
        os.environ.pop("HF_HUB_OFFLINE", None)
        from embrace.hub import HfApi

        HfApi().create_repo("alice/bench")
        HfApi().upload_file(path_or_fileobj=data, path_in_repo="weights.bin", repo_id="alice/bench")
        ours_url, ref_url = f"{hub.url}/alice/bench/resolve/main/weights.bin", f"{static_url}/weights.bin"
        _get(ours_url), _get(ref_url)  # warm the page cache
        rows = [
            ("time to first byte (ms, median of 30)", ttfb_ms(ours_url), ttfb_ms(ref_url)),
            ("throughput, 1 client (MB/s)", throughput_mb_s(ours_url, size, 1, args.repeat),
             throughput_mb_s(ref_url, size, 1, args.repeat)),
            ("throughput, 8 clients (MB/s, aggregate)", throughput_mb_s(ours_url, size, 8, 1),
             throughput_mb_s(ref_url, size, 8, 1)),
        ]
        env = {k: v for k, v in os.environ.items()}
        client_rows = []
        for name, module in (("embrace", "embrace.hub"), ("huggingface_hub", "huggingface_hub")):
            times = []
            for i in range(args.repeat):
                env["HF_HOME"] = str(work / f"client_{name}_{i}")
                times.append(client_seconds(CLIENT.format(module=module), env))
            client_rows.append((name, statistics.median(times)))
    finally:
        static.terminate()
        static.wait()
        hub.stop()
    print(f"\nServer: {args.size_mb} MiB file, loopback, {os.cpu_count()} CPUs")
    print(f"{'metric':44} {'embrace hub':>12} {'http.server':>12} {'ratio':>8}")
    for metric, ours, ref in rows:
        print(f"{metric:44} {ours:12.2f} {ref:12.2f} {ours / ref:8.2f}")
    (ours_s, ref_s) = (client_rows[0][1], client_rows[1][1])
    print(f"\nClient: hf_hub_download of the {args.size_mb} MiB LFS file from embrace hub (median of {args.repeat})")
    print(f"{'client':44} {'embrace':>12} {'huggingface_hub':>16} {'ratio':>8}")
    print(f"{'seconds (HEAD + GET + sha256 + cache write)':44} {ours_s:12.3f} {ref_s:16.3f} {ours_s / ref_s:8.2f}")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "hub.json").write_text(json.dumps({
        "size_mb": args.size_mb, "server": [{"metric": m, "embrace": o, "http.server": r} for m, o, r in rows],
        "client_seconds": dict(client_rows)}, indent=2))


if __name__ == "__main__":
    main()
