"""Shared helpers of the trainer and legacy-format tests: SOTU slices and reference-side word counting."""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from typing import Any

from tests.conftest import asset


@lru_cache(maxsize=4)
def _sotu(n_files: int, path: str) -> tuple[str, ...]:
    from pathlib import Path

    files = sorted(Path(path).glob("*.txt"))[:n_files]
    return tuple(f.read_text(encoding="utf-8") for f in files)


def sotu_texts(n_files: int) -> list[str]:
    """The first ``n_files`` State of the Union speeches (skips when the asset is missing)."""
    return list(_sotu(n_files, str(asset("sotu"))))


def reference_word_counts(texts: list[str], pre_tokenizer: Any, normalizer: Any = None) -> Counter[str]:
    """Word counts as the reference trainer's feed step computes them (normalize, pre-tokenize, count)."""
    counts: Counter[str] = Counter()
    for text in texts:
        if normalizer is not None:
            text = normalizer.normalize_str(text)
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(text))
    return counts


def reference_with_model(reference_tokenizer: Any, model: dict[str, Any], added_tokens: list[dict[str, Any]]) -> Any:
    """A reference ``tokenizers.Tokenizer`` with the pipeline of ``reference_tokenizer`` and our trained model."""
    from tokenizers import Tokenizer

    d = json.loads(reference_tokenizer.to_str())
    d["model"] = model
    d["added_tokens"] = added_tokens
    return Tokenizer.from_str(json.dumps(d))


def total_length(tokenizer: Any, texts: list[str]) -> int:
    return sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))
