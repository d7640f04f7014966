"""``sacrebleu`` equals the sacrebleu library (evaluate's oracle) on random sentences with punctuation, numbers,
HTML entities and several references, for every smoothing method, lowercase, tokenize none and effective order.
``bleu`` equals tensorflow/nmt's compute_bleu over sacrebleu's 13a tokens (what evaluate's ``bleu`` runs; no
installable package ships it, so it is restated below) and NLTK's corpus_bleu where the two agree (one reference)."""

from __future__ import annotations

import math
from typing import Any

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
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    from embrace.metrics.bleu import tokenize_13a

    tokenizer = Tokenizer13a()
    for text in ["Hello, world! 1,000.5 re-run (x) U.S.A. &quot;q&quot; 9-1", "  a  b\nc-\nd <skipped>"]:
        assert tokenize_13a(text) == tokenizer(text)
    rng = np.random.default_rng(0)
    pieces = list("ab1 9.,-'\"&;:!?()[]{}<>/\\|~_^`@#$%*+=\n\té日") + ["&quot;", "&amp;", "<skipped>", "-\n", "1.5", "9-"]
    for _ in range(3000):  # random strings of every character class the four substitutions look at
        text = "".join(rng.choice(pieces, size=int(rng.integers(0, 30))))
        assert tokenize_13a(text) == tokenizer(text), repr(text)
    with pytest.raises(MetricInputError, match="same number of references"):
        metrics.load("sacrebleu").compute(predictions=["a", "b"], references=[["a"], ["b", "c"]])


# ---- evaluate's ``bleu`` ----------------------------------------------------------------------------------------
def nmt_bleu(references, predictions, tokenize, max_order=4, smooth=False):
    """tensorflow/nmt's compute_bleu over ``tokenize``d text, as evaluate's ``bleu`` runs it (restated)."""
    from collections import Counter

    def grams(tokens):
        return Counter(tuple(tokens[i:i + n]) for n in range(1, max_order + 1) for i in range(len(tokens) - n + 1))

    matches, possible, ref_len, hyp_len = [0] * max_order, [0] * max_order, 0, 0
    for refs, pred in zip(references, predictions, strict=True):
        refs, pred = [tokenize(r) for r in refs], tokenize(pred)
        ref_len, hyp_len = ref_len + min(len(r) for r in refs), hyp_len + len(pred)
        merged: Counter[tuple[str, ...]] = Counter()
        for ref in refs:
            merged |= grams(ref)
        for gram, count in (grams(pred) & merged).items():
            matches[len(gram) - 1] += count
        for n in range(1, max_order + 1):
            possible[n - 1] += max(len(pred) - n + 1, 0)
    precisions = [(m + 1.0) / (p + 1.0) if smooth else (m / p if p else 0.0) for m, p in zip(matches, possible)]
    geo = math.exp(sum(math.log(p) / max_order for p in precisions)) if min(precisions) > 0 else 0.0
    ratio = hyp_len / ref_len if ref_len and hyp_len else 0.0
    bp = (1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)) if ratio else 0.0
    return {"bleu": geo * bp, "precisions": precisions, "brevity_penalty": bp, "length_ratio": ratio,
            "translation_length": hyp_len, "reference_length": ref_len}


def _tokens_13a(text):
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()(text).split()


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("options", [{}, {"smooth": True}, {"max_order": 2}, {"max_order": 1, "smooth": True},
                                     {"tokenizer": str.split}, {"tokenizer": list, "max_order": 6}])
def test_bleu_matches_nmt_compute_bleu(seed, options):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 10))
    references = [[_sentence(rng) for _ in range(int(rng.integers(1, 4)))] for _ in range(n)]
    if seed % 3 == 0:
        references = [refs[0] for refs in references]  # one plain string per prediction
    predictions = [(refs if isinstance(refs, str) else refs[0]) if rng.random() < 0.3 else _sentence(rng)
                   for refs in references]
    got = metrics.load("bleu").compute(predictions=predictions, references=references, **options)
    expected = nmt_bleu([[r] if isinstance(r, str) else r for r in references], predictions,
                        options.get("tokenizer", _tokens_13a), options.get("max_order", 4), options.get("smooth", False))
    assert list(got) == list(expected)
    assert got.pop("precisions") == pytest.approx(expected.pop("precisions"), abs=1e-12)
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.filterwarnings("ignore:\\s*The hypothesis contains 0 counts")
@pytest.mark.parametrize("seed", range(10))
def test_bleu_matches_nltk_with_one_reference(seed):
    """With one reference, the shortest reference is the closest one, so NLTK's corpus_bleu agrees."""
    bleu_score = pytest.importorskip("nltk.translate.bleu_score")
    rng = np.random.default_rng(100 + seed)
    references = [_sentence(rng, 6) for _ in range(int(rng.integers(1, 20)))]
    predictions = [ref if rng.random() < 0.5 else _sentence(rng, 4) for ref in references]
    got = metrics.load("bleu").compute(predictions=predictions, references=references)
    expected = bleu_score.corpus_bleu([[_tokens_13a(r)] for r in references], [_tokens_13a(p) for p in predictions])
    assert got["bleu"] == pytest.approx(expected, abs=1e-12)


def test_bleu_known_values_and_errors():
    """evaluate's documented example; empty predictions; bad input."""
    bleu = metrics.load("bleu")
    got = bleu.compute(predictions=["hello there general kenobi", "foo bar foobar"],
                       references=[["hello there general kenobi", "hello there !"], ["foo bar foobar"]])
    assert got == {"bleu": 1.0, "precisions": [1.0, 1.0, 1.0, 1.0], "brevity_penalty": 1.0,
                   "length_ratio": 7 / 6, "translation_length": 7, "reference_length": 6}
    empty = bleu.compute(predictions=["", ""], references=["a b", "c"])
    assert empty == {"bleu": 0.0, "precisions": [0.0] * 4, "brevity_penalty": 0.0, "length_ratio": 0.0,
                     "translation_length": 0, "reference_length": 3}
    cases: list[tuple[dict[str, Any], str]] = [({"predictions": [], "references": []}, "at least one prediction"),
                                               ({"predictions": ["a"], "references": [[]]}, "non-empty list"),
                                               ({"predictions": ["a"], "references": ["a"], "max_order": 0}, "max_order")]
    for kwargs, message in cases:
        with pytest.raises(MetricInputError, match=message):
            bleu.compute(**kwargs)
