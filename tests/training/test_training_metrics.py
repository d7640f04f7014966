"""embrace.metrics accuracy/precision/recall/f1 equal scikit-learn's numbers (evaluate's oracle)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from embrace import metrics
from embrace.metrics import MetricInputError

sklearn_metrics = pytest.importorskip("sklearn.metrics")
REF = {"precision": sklearn_metrics.precision_score, "recall": sklearn_metrics.recall_score,
       "f1": sklearn_metrics.f1_score}


def _ref(name, preds, refs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return REF[name](refs, preds, **kw)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted", None])
def test_multiclass_matches_sklearn(name, average, seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 40)), int(rng.integers(2, 6))
    preds, refs = rng.integers(0, k, n), rng.integers(0, k, n)
    weight = rng.random(n) if seed % 2 else None
    ours = metrics.load(name).compute(predictions=preds, references=refs, average=average, sample_weight=weight)[name]
    np.testing.assert_allclose(ours, _ref(name, preds, refs, average=average, sample_weight=weight), rtol=1e-12)


@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
@pytest.mark.parametrize(("preds", "refs", "kw"), [
    ([1, 0, 1, 1], [1, 1, 0, 1], {}),
    ([0, 0, 0], [0, 0, 0], {}),                      # all one class, pos_label absent
    ([1, 1, 1], [1, 1, 1], {}),
    ([0, 0, 1], [1, 1, 1], {"zero_division": 1}),
    (["b", "a", "b"], ["b", "b", "a"], {"pos_label": "a"}),
    ([0, 2, 1, 2], [0, 1, 1, 2], {"average": "macro", "labels": [2, 0]}),
])
def test_binary_and_edge_cases_match_sklearn(name, preds, refs, kw):
    ours = metrics.load(name).compute(predictions=preds, references=refs, **kw)[name]
    assert ours == pytest.approx(_ref(name, preds, refs, **kw))


def test_accuracy_add_batch_and_combine():
    rng = np.random.default_rng(0)
    preds, refs = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    acc = metrics.load("accuracy")
    for i in range(0, 50, 10):
        acc.add_batch(predictions=preds[i:i + 10], references=refs[i:i + 10])
    assert acc.compute()["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(refs, preds))
    acc.add(prediction=1, reference=1)
    assert acc.compute() == {"accuracy": 1.0}  # added values were cleared by the previous compute
    both = metrics.combine(["accuracy", "f1"]).compute(predictions=preds, references=refs, average="macro")
    assert both["f1"] == pytest.approx(sklearn_metrics.f1_score(refs, preds, average="macro"))


def test_metric_errors():
    with pytest.raises(MetricInputError, match="unknown metric"):
        metrics.load("bleurt")
    with pytest.raises(MetricInputError, match="average='binary'"):
        metrics.load("f1").compute(predictions=[0, 1, 2], references=[0, 1, 2])
    with pytest.raises(MetricInputError, match="no predictions"):
        metrics.load("accuracy").compute(predictions=[], references=[])
    with pytest.raises(MetricInputError, match="2 predictions but 3"):
        metrics.load("recall").compute(predictions=[0, 1], references=[0, 1, 1])
