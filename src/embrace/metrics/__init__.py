"""``embrace.metrics.load(name)``: metrics with the ``evaluate`` interface (``compute``, ``add``, ``add_batch``,
``combine``), in numpy or plain Python. Available: accuracy, precision, recall, f1, matthews_correlation, pearsonr,
spearmanr, mse, mae (scikit-learn/scipy's definitions), exact_match, wer, cer (evaluate/jiwer's), squad (SQuAD
v1.1) and squad_v2 (SQuAD v2.0, the official scripts), seqeval, sacrebleu (sacrebleu's corpus BLEU), bleu
(evaluate's: tensorflow/nmt's compute_bleu), rouge (rouge1..9, rougeL, rougeLsum: Google's rouge-score, Porter
stemming included), glue (by task), perplexity (torch, a causal LM). docs/metrics.md lists what each equals."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from embrace.metrics.bleu import bleu, sacrebleu
from embrace.metrics.classification import MetricInputError, accuracy, precision_recall_f1
from embrace.metrics.glue import check_config, glue
from embrace.metrics.perplexity import perplexity
from embrace.metrics.regression import mae, matthews_correlation, mse, pearsonr, spearmanr
from embrace.metrics.rouge import rouge
from embrace.metrics.seqeval import seqeval
from embrace.metrics.squad import squad, squad_v2
from embrace.metrics.text import cer, exact_match, wer


def _prf(name: str) -> Callable[..., dict[str, Any]]:
    def compute(predictions: Any, references: Any, **kwargs: Any) -> dict[str, Any]:
        return {name: precision_recall_f1(predictions, references, name, **kwargs)}

    return compute


_METRICS: dict[str, Callable[..., Any]] = {
    "accuracy": accuracy, "precision": _prf("precision"), "recall": _prf("recall"), "f1": _prf("f1"),
    "matthews_correlation": matthews_correlation, "pearsonr": pearsonr, "spearmanr": spearmanr, "mse": mse,
    "mae": mae, "exact_match": exact_match, "wer": wer, "cer": cer, "squad": squad, "squad_v2": squad_v2,
    "seqeval": seqeval, "sacrebleu": sacrebleu, "bleu": bleu, "rouge": rouge, "glue": glue,
    "perplexity": perplexity,
}


class Metric:
    """One metric. ``compute(predictions=, references=, **options)`` scores the given values plus any added
    with ``add``/``add_batch`` (which are then cleared), as ``evaluate`` does."""

    def __init__(self, name: str, config_name: str | None = None) -> None:
        if name not in _METRICS:
            raise MetricInputError(f"unknown metric {name!r}; available: {', '.join(sorted(_METRICS))}")
        self.name, self.config_name = name, config_name
        self._predictions: list[Any] = []
        self._references: list[Any] = []

    def add(self, *, prediction: Any = None, reference: Any = None) -> None:
        self._predictions.append(prediction)
        self._references.append(reference)

    def add_batch(self, *, predictions: Any = None, references: Any = None) -> None:
        predictions = list(predictions)
        self._predictions.extend(predictions)
        self._references.extend(list(references) if references is not None else [None] * len(predictions))

    def compute(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> Any:
        """The metric's dict (a float for ``wer``/``cer``, as ``evaluate``)."""
        if predictions is not None:
            self.add_batch(predictions=predictions, references=references)
        preds, refs = self._predictions, self._references
        self._predictions, self._references = [], []
        if self.config_name is not None:
            kwargs.setdefault("config_name", self.config_name)
        return _METRICS[self.name](preds, refs, **kwargs)


class CombinedMetric:
    """Several metrics computed on the same predictions; results merged into one dict."""

    def __init__(self, names: Iterable[str]) -> None:
        self.metrics = [load(name) for name in names]

    def add_batch(self, *, predictions: Any = None, references: Any = None) -> None:
        for metric in self.metrics:
            metric.add_batch(predictions=predictions, references=references)

    def compute(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for metric in self.metrics:
            options = {} if metric.name == "accuracy" else kwargs
            value = metric.compute(predictions=predictions, references=references, **options)
            results.update(value if isinstance(value, dict) else {metric.name: value})
        return results


def load(name: str, config_name: str | None = None) -> Metric:
    """The metric ``name`` (see the module docstring for the list); ``config_name`` for ``glue`` ("mrpc", ...)."""
    if name == "glue":
        check_config(config_name)
    return Metric(name, config_name)


def combine(names: Iterable[str]) -> CombinedMetric:
    return CombinedMetric(names)


__all__ = ["CombinedMetric", "Metric", "MetricInputError", "combine", "load"]
