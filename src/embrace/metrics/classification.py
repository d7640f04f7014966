"""Classification metrics with scikit-learn's definitions (the numbers ``evaluate`` reports), in numpy.

precision = tp / (tp + fp), recall = tp / (tp + fn), f1 = 2 tp / (2 tp + fp + fn) per class; ``average``:
``binary`` (the ``pos_label`` class), ``micro`` (pooled counts), ``macro`` (mean over classes), ``weighted``
(mean weighted by true support) or ``None`` (per-class array). An undefined ratio (zero denominator) is
``zero_division`` (0 by default, as scikit-learn's "warn").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embrace.errors import EmbraceError


class MetricInputError(EmbraceError, ValueError):
    """Predictions and references that a metric cannot score (length mismatch, wrong averaging for the labels)."""


def _arrays(predictions: Any, references: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred, ref = np.asarray(predictions).ravel(), np.asarray(references).ravel()
    if pred.shape != ref.shape:
        raise MetricInputError(f"{len(pred)} predictions but {len(ref)} references; pass one prediction per reference")
    if len(ref) == 0:
        raise MetricInputError("no predictions to score: add predictions and references first")
    weight = np.ones(len(ref)) if sample_weight is None else np.asarray(sample_weight, dtype=float).ravel()
    return pred, ref, weight


def accuracy(predictions: Any, references: Any, normalize: bool = True, sample_weight: Any = None) -> dict[str, Any]:
    pred, ref, weight = _arrays(predictions, references, sample_weight)
    correct = float(np.sum((pred == ref) * weight))
    return {"accuracy": correct / float(np.sum(weight)) if normalize else correct}


def _zero_div(value: Any) -> float:
    return 0.0 if value in ("warn", None) else float(value)


def _ratio(num: np.ndarray, den: np.ndarray, zero_division: Any) -> np.ndarray:
    out = np.full(num.shape, _zero_div(zero_division), dtype=float)
    np.divide(num, den, out=out, where=den != 0)
    return out


def precision_recall_f1(predictions: Any, references: Any, metric: str, labels: Any = None, pos_label: Any = 1,
                        average: str | None = "binary", sample_weight: Any = None,
                        zero_division: Any = "warn") -> Any:
    """``metric``: 'precision', 'recall' or 'f1'. Returns a float, or an array per label with ``average=None``."""
    pred, ref, weight = _arrays(predictions, references, sample_weight)
    present = np.unique(np.concatenate([ref, pred]))
    if average == "binary":
        if len(present) > 2:
            raise MetricInputError(f"average='binary' needs two classes but the labels have {len(present)}; "
                                   "choose average='micro', 'macro' or 'weighted'")
        if len(present) == 2 and pos_label not in present:
            raise MetricInputError(f"pos_label={pos_label!r} is not one of the labels {present.tolist()}")
        classes = np.asarray([pos_label])
    elif average in ("micro", "macro", "weighted", None):
        classes = present if labels is None else np.asarray(labels)
    else:
        raise MetricInputError(f"average={average!r}: choose 'binary', 'micro', 'macro', 'weighted' or None")
    tp = np.array([np.sum(weight * ((pred == c) & (ref == c))) for c in classes])
    fp = np.array([np.sum(weight * ((pred == c) & (ref != c))) for c in classes])
    fn = np.array([np.sum(weight * ((pred != c) & (ref == c))) for c in classes])
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    if metric == "precision":
        scores = _ratio(tp, tp + fp, zero_division)
    elif metric == "recall":
        scores = _ratio(tp, tp + fn, zero_division)
    else:
        scores = _ratio(2 * tp, 2 * tp + fp + fn, zero_division)
    if average is None:
        return scores
    if average == "weighted":
        support = tp + fn
        return float(np.average(scores, weights=support)) if support.sum() > 0 else _zero_div(zero_division)
    return float(scores.mean())
