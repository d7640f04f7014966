"""``rouge`` equals Google's rouge-score called as evaluate's ``rouge`` calls it (RougeScorer.score, score_multi for
several references, BootstrapAggregator's mid F-measure, per-example F-measures without the aggregator) on random
texts with stemmable words, punctuation, unicode, newlines (rougeLsum sentences) and empty strings."""

from __future__ import annotations

import numpy as np
import pytest

from embrace import metrics
from embrace.metrics import MetricInputError
from embrace.metrics.rouge import _lcs_indices, _lcs_length

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
scoring = pytest.importorskip("rouge_score.scoring")

WORDS = ["the", "cat", "cats", "sat", "sitting", "on", "mat", "running", "runs", "The", "a", "\n", "\n", "café",
         "naïve", "Über", "1,000", "x-y", "flies", "happily", "generalization", ".", "  ", "日本語", "doesn't"]
ALL_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


class _Wrapped:
    """evaluate wraps a tokenizer callable in an object with ``tokenize``, as rouge-score expects."""

    def __init__(self, function):
        self.function = function

    def tokenize(self, text):
        return self.function(text)


def evaluate_rouge(predictions, references, rouge_types=None, use_aggregator=True, use_stemmer=False,
                   tokenizer=None):
    """What evaluate's ``rouge`` does with rouge-score (its ``_compute``, restated)."""
    rouge_types = rouge_types or ALL_TYPES
    scorer = rouge_scorer.RougeScorer(rouge_types=rouge_types, use_stemmer=use_stemmer,
                                      tokenizer=_Wrapped(tokenizer) if tokenizer else None)
    multi = isinstance(references[0], list)
    scores = [scorer.score_multi(r, p) if multi else scorer.score(r, p)
              for r, p in zip(references, predictions, strict=True)]
    if not use_aggregator:
        return {key: [s[key].fmeasure for s in scores] for key in scores[0]}
    aggregator = scoring.BootstrapAggregator()
    for score in scores:
        aggregator.add_scores(score)
    return {key: value.mid.fmeasure for key, value in aggregator.aggregate().items()}


def _text(rng, longest=25):
    return " ".join(str(w) for w in rng.choice(WORDS, size=int(rng.integers(0, longest))))


def _both(seed, predictions, references, **options):
    np.random.seed(seed)
    expected = evaluate_rouge(predictions, references, **options)
    np.random.seed(seed)
    got = metrics.load("rouge").compute(predictions=predictions, references=references, **options)
    return got, expected


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("use_stemmer", [False, True])
@pytest.mark.parametrize("use_aggregator", [True, False])
def test_rouge_matches_rouge_score(seed, use_stemmer, use_aggregator):
    rng = np.random.default_rng(seed)
    n, multi = int(rng.integers(1, 30)), seed % 2 == 1
    references = [[_text(rng) for _ in range(int(rng.integers(1, 4)))] if multi else _text(rng) for _ in range(n)]
    predictions = [(references[i][0] if multi else references[i]) if rng.random() < 0.1 else _text(rng)
                   for i in range(n)]
    got, expected = _both(seed, predictions, references, use_stemmer=use_stemmer, use_aggregator=use_aggregator)
    assert list(got) == list(expected)
    assert got == expected  # bit-for-bit, the bootstrap included (same numpy global seed)


@pytest.mark.parametrize("options", [{"rouge_types": ["rougeLsum"]}, {"rouge_types": ["rouge3", "rougeL"]},
                                     {"rouge_types": ["rouge9", "rouge1"], "use_aggregator": False},
                                     {"tokenizer": str.split}, {"tokenizer": list, "rouge_types": ["rougeLsum"]},
                                     {"tokenizer": str.split, "use_stemmer": True}])
def test_rouge_options_match_rouge_score(options):
    rng = np.random.default_rng(7)
    references = [_text(rng) for _ in range(15)]
    predictions = [_text(rng) for _ in range(15)]
    got, expected = _both(3, predictions, references, **options)
    assert got == expected


def test_rouge_edge_cases_match_rouge_score():
    cases = [(["", "a", "\n\n"], ["", "", "b\n\nc"]),  # empty texts, empty sentences
             (["only one word"], [["", "only", "one word only"]]),  # several references, one empty
             (["日本語 テキスト", "ÀÉÎ"], ["日本語", "àéî"]),  # non-ASCII letters vanish
             (["the cat\nsat on\nthe mat the cat"], ["the cat sat\non the mat\ncat the"]),  # rougeLsum union LCS
             (["a a a a b b"] * 4, ["a b a b a b"] * 4)]  # all examples alike
    for index, (predictions, references) in enumerate(cases):
        for use_aggregator in (True, False):
            got, expected = _both(index, predictions, references, use_aggregator=use_aggregator)
            assert got == expected


def test_rouge_lcs_matches_rouge_score_tables():
    rng = np.random.default_rng(0)
    for _ in range(300):
        ref = [str(t) for t in rng.choice(list("abcd"), size=int(rng.integers(0, 40)))]
        can = [str(t) for t in rng.choice(list("abcde"), size=int(rng.integers(0, 80)))]  # > 64: several words
        masks: dict[str, int] = {}
        for j, token in enumerate(can):
            masks[token] = masks.get(token, 0) | (1 << j)
        assert _lcs_length(ref, masks, len(can)) == rouge_scorer._lcs_table(ref, can)[-1][-1]
        assert sorted(_lcs_indices(ref, can, masks)) == rouge_scorer.lcs_ind(ref, can)


def test_rouge_known_values_and_interface():
    rouge = metrics.load("rouge")
    assert rouge.compute(predictions=["hello there", "general kenobi"], references=["hello there", "general kenobi"]) \
        == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0, "rougeLsum": 1.0}
    rouge.add_batch(predictions=["the cats running"], references=[["a cat runs", "dogs"]])
    assert rouge.compute(use_stemmer=True, rouge_types=["rouge1"]) == {"rouge1": pytest.approx(2 / 3)}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"predictions": [], "references": []}, "at least one prediction"),
    ({"predictions": ["a", "b"], "references": ["a"]}, "one reference"),
    ({"predictions": ["a"], "references": [[]]}, "empty list of references"),
    ({"predictions": [None], "references": ["a"]}, "strings"),
    ({"predictions": ["a"], "references": ["a"], "rouge_types": ["rouge0"]}, "invalid rouge type"),
    ({"predictions": ["a"], "references": ["a"], "rouge_types": ["rougeX"]}, "invalid rouge type")])
def test_rouge_bad_input(kwargs, message):
    with pytest.raises(MetricInputError, match=message):
        metrics.load("rouge").compute(**kwargs)
