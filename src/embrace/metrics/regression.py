"""Correlation and regression metrics in numpy, with the numbers ``evaluate`` reports (scikit-learn/scipy's
definitions): matthews_correlation, pearsonr, spearmanr (average ranks for ties), mse (``squared=False``: RMSE), mae.
P-values are not computed (``return_pvalue=True`` is refused)."""

from __future__ import annotations

from typing import Any

import numpy as np

from embrace.metrics.classification import MetricInputError


def _pair(predictions: Any, references: Any, kind: type = float) -> tuple[np.ndarray, np.ndarray]:
    pred: np.ndarray = np.asarray(predictions, dtype=kind)
    ref: np.ndarray = np.asarray(references, dtype=kind)
    if pred.shape != ref.shape:
        raise MetricInputError(f"{len(pred)} predictions but {len(ref)} references; pass one prediction per reference")
    if pred.size == 0:
        raise MetricInputError("no predictions to score: add predictions and references first")
    return pred, ref


def _no_pvalue(kwargs: dict[str, Any]) -> None:
    if kwargs.get("return_pvalue"):
        raise MetricInputError("p-values are not computed by embrace.metrics; drop return_pvalue=True")


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties getting their average rank (scipy's ``rankdata(method='average')``)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2
    return ranks


def pearsonr(predictions: Any, references: Any, **kwargs: Any) -> dict[str, Any]:
    _no_pvalue(kwargs)
    pred, ref = _pair(predictions, references)
    return {"pearsonr": _correlation(pred.ravel(), ref.ravel())}


def spearmanr(predictions: Any, references: Any, **kwargs: Any) -> dict[str, Any]:
    _no_pvalue(kwargs)
    pred, ref = _pair(predictions, references)
    return {"spearmanr": _correlation(_ranks(pred.ravel()), _ranks(ref.ravel()))}


def matthews_correlation(predictions: Any, references: Any, sample_weight: Any = None,
                         **_: Any) -> dict[str, Any]:
    """Multiclass MCC from the confusion matrix (scikit-learn's formula; 0 when undefined)."""
    pred, ref = (np.asarray(v).ravel() for v in (predictions, references))
    if pred.shape != ref.shape or pred.size == 0:
        raise MetricInputError("matthews_correlation needs one prediction per reference, and at least one")
    weight = np.ones(len(ref)) if sample_weight is None else np.asarray(sample_weight, dtype=float).ravel()
    classes, index = np.unique(np.concatenate([ref, pred]), return_inverse=True)
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion, (index[:len(ref)], index[len(ref):]), weight)
    t_sum, p_sum = confusion.sum(axis=1), confusion.sum(axis=0)
    correct, total = np.trace(confusion), confusion.sum()
    cov_ytyp = correct * total - t_sum @ p_sum
    cov_ypyp = total**2 - p_sum @ p_sum
    cov_ytyt = total**2 - t_sum @ t_sum
    if cov_ypyp * cov_ytyt == 0:
        return {"matthews_correlation": 0.0}
    return {"matthews_correlation": float(cov_ytyp / np.sqrt(cov_ytyt * cov_ypyp))}


def _errors(predictions: Any, references: Any, sample_weight: Any, multioutput: str) -> tuple[np.ndarray, Any]:
    pred, ref = _pair(predictions, references)
    if multioutput not in ("uniform_average", "raw_values"):
        raise MetricInputError(f"multioutput={multioutput!r}: use 'uniform_average' or 'raw_values'")
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float).ravel()
    return (pred - ref).reshape(len(ref), -1), weight


def _average(values: np.ndarray, weight: Any, multioutput: str) -> Any:
    per_output = np.average(values, axis=0, weights=weight)
    return per_output if multioutput == "raw_values" else float(per_output.mean())


def mse(predictions: Any, references: Any, sample_weight: Any = None, multioutput: str = "uniform_average",
        squared: bool = True, **_: Any) -> dict[str, Any]:
    diff, weight = _errors(predictions, references, sample_weight, multioutput)
    per_output = np.average(diff**2, axis=0, weights=weight)
    if not squared:
        per_output = np.sqrt(per_output)
    return {"mse": per_output if multioutput == "raw_values" else float(per_output.mean())}


def mae(predictions: Any, references: Any, sample_weight: Any = None, multioutput: str = "uniform_average",
        **_: Any) -> dict[str, Any]:
    diff, weight = _errors(predictions, references, sample_weight, multioutput)
    return {"mae": _average(np.abs(diff), weight, multioutput)}
