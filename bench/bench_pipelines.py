"""Pipelines, ours vs transformers, same process: sentiment on a tiny-BERT-shaped classifier and feature-extraction
with all-MiniLM-L6-v2, over N sentences of mixed length.

    .venv/bin/python bench/bench_pipelines.py --n 2000 --batch-size 32

Prints a table (ours, reference, ratio) and writes bench/results/pipelines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "markets", "rally", "and", "people", "enjoy", "wonderful", "terrible", "films", "about", "Berlin", "Paris", "science", "music", "food"]


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 60))) + "." for _ in range(n)]


def tiny_classifier(folder: Path, minilm: Path) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=512)
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm / name).exists():
            shutil.copy(minilm / name, folder / name)
    return folder


def timed(fn, texts) -> float:
    start = time.perf_counter()
    fn(texts)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    import torch
    import transformers
    from tests.conftest import ASSET_PATHS, ASSETS

    from embrace.pipelines import pipeline

    minilm = ASSETS / ASSET_PATHS["minilm"]
    texts = sentences(args.n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        classifier = tiny_classifier(Path(tmp) / "cls", minilm)
        for task, path in (("sentiment-analysis", classifier), ("feature-extraction", minilm)):
            ours = pipeline(task, model=str(path), batch_size=args.batch_size)
            ref = transformers.pipeline(task, model=str(path), batch_size=args.batch_size)
            ours(texts[:64])
            ref(texts[:64])
            with torch.inference_mode():
                t_ref = timed(ref, texts)
                t_ours = timed(ours, texts)
            rows.append({"task": task, "n": args.n, "ours_per_s": args.n / t_ours, "reference_per_s": args.n / t_ref,
                         "speedup": t_ref / t_ours})
    print(f"{'task':<22}{'ours/s':>10}{'ref/s':>10}{'ratio':>8}")
    for r in rows:
        print(f"{r['task']:<22}{r['ours_per_s']:>10.1f}{r['reference_per_s']:>10.1f}{r['speedup']:>8.2f}")
    out = ROOT / "bench" / "results" / "pipelines.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": os.uname().machine, "cpus": os.cpu_count(), "batch_size": args.batch_size,
                               "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
