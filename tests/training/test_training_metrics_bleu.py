"""``sacrebleu`` equals the sacrebleu library (evaluate's oracle) on random sentences with punctuation, numbers,
HTML entities and several references, for every smoothing method, lowercase, tokenize none and effective order."""

from __future__ import annotations

import numpy as np
import pytest

from embrace import metrics
from embrace.metrics import MetricInputError

sacrebleu_lib = pytest.importorskip("sacrebleu")

WORDS = ["the", "cat", "sat", "on", "mat", "The", "dog", "3.5", "1,000", "re-run", "(it)", "&amp;", "end.", "a,b",
         "U.S.", "well-known", "'quoted'", "99-1", "x/y", "#tag"]


def _sentence(rng, shortest=0):
    return " ".join(str(w) for w in rng.choice(WORDS, size=int(rng.integers(shortest, 12))))


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("options", [{}, {"smooth_method": "none"}, {"smooth_method": "floor"},
                                     {"smooth_method": "add-k"}, {"lowercase": True}, {"tokenize": "none"},
                                     {"use_effective_order": True}])
def test_sacrebleu_matches_the_library(seed, options):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 8)), int(rng.integers(1, 4))
    references = [[_sentence(rng, 1) for _ in range(k)] for _ in range(n)]
    predictions = [refs[0] if rng.random() < 0.2 else _sentence(rng) for refs in references]
    got = metrics.load("sacrebleu").compute(predictions=predictions, references=references, **options)
    expected = sacrebleu_lib.corpus_bleu(predictions, [list(r) for r in zip(*references, strict=True)], **options)
    assert got["score"] == pytest.approx(expected.score, abs=1e-9)
    assert got["precisions"] == pytest.approx(expected.precisions, abs=1e-9)
    assert (got["bp"], got["sys_len"], got["ref_len"]) == pytest.approx((expected.bp, expected.sys_len,
                                                                         expected.ref_len))
    if options.get("smooth_method") != "add-k":
        assert got["counts"] == list(expected.counts) and got["totals"] == list(expected.totals)


def test_sacrebleu_tokenizer_and_errors():
    from embrace.metrics.bleu import tokenize_13a

    tokenizer = sacrebleu_lib.tokenizers.tokenizer_13a.Tokenizer13a()
    for text in ["Hello, world! 1,000.5 re-run (x) U.S.A. &quot;q&quot; 9-1", "  a  b\nc-\nd <skipped>"]:
        assert tokenize_13a(text) == tokenizer(text)
    with pytest.raises(MetricInputError, match="same number of references"):
        metrics.load("sacrebleu").compute(predictions=["a", "b"], references=[["a"], ["b", "c"]])
