"""``seqeval`` equals the seqeval library (evaluate's oracle) on random IOB2/IOB1/IOBES tag sequences, including
malformed ones (I- after O, type switches), sentences without entities and the suffix format."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from embrace import metrics
from embrace.metrics import MetricInputError

seqeval_metrics = pytest.importorskip("seqeval.metrics")


def oracle(predictions, references, suffix=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = seqeval_metrics.classification_report(references, predictions, suffix=suffix, output_dict=True)
    report.pop("macro avg")
    report.pop("weighted avg")
    overall = report.pop("micro avg")
    scores = {name: {"precision": s["precision"], "recall": s["recall"], "f1": s["f1-score"], "number": s["support"]}
              for name, s in report.items()}
    scores.update(overall_precision=overall["precision"], overall_recall=overall["recall"],
                  overall_f1=overall["f1-score"],
                  overall_accuracy=seqeval_metrics.accuracy_score(references, predictions))
    return scores


def _tags(rng, n, prefixes, suffix):
    types = ["PER", "LOC", "ORG"]
    out = []
    for _ in range(n):
        if rng.random() < 0.35:
            out.append("O")
            continue
        prefix, type_ = str(rng.choice(prefixes)), str(rng.choice(types))
        out.append(f"{type_}-{prefix}" if suffix else f"{prefix}-{type_}")
    return out


@pytest.mark.parametrize("seed", range(12))
def test_seqeval_matches_the_library(seed):
    rng = np.random.default_rng(seed)
    prefixes = [["B", "I"], ["B", "I", "E", "S"], ["I"]][seed % 3]
    suffix = seed % 4 == 3
    refs = [_tags(rng, int(rng.integers(0, 9)), prefixes, suffix) for _ in range(int(rng.integers(1, 6)))]
    preds = [[t if rng.random() < 0.6 else _tags(rng, 1, prefixes, suffix)[0] for t in sentence] for sentence in refs]
    if sum(map(len, refs)) == 0:
        refs, preds = [["O"]], [["O"]]
    got = metrics.load("seqeval").compute(predictions=preds, references=refs, suffix=suffix)
    expected = oracle(preds, refs, suffix)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key


def test_seqeval_errors():
    with pytest.raises(MetricInputError, match="same length"):
        metrics.load("seqeval").compute(predictions=[["O", "B-PER"]], references=[["O"]])
