"""``glue``: evaluate's GLUE metric, by task config name — accuracy (sst2, mnli, mnli_mismatched, mnli_matched,
qnli, rte, wnli, hans), accuracy + binary f1 (mrpc, qqp), pearson + spearmanr (stsb), matthews_correlation (cola)."""

from __future__ import annotations

from typing import Any

import numpy as np

from embrace.metrics.classification import MetricInputError, precision_recall_f1
from embrace.metrics.regression import matthews_correlation, pearsonr, spearmanr

ACCURACY_TASKS = ("sst2", "mnli", "mnli_mismatched", "mnli_matched", "qnli", "rte", "wnli", "hans")
CONFIGS = (*ACCURACY_TASKS, "mrpc", "qqp", "stsb", "cola")


def check_config(config_name: str | None) -> str:
    if config_name not in CONFIGS:
        raise MetricInputError(f"glue needs a config name: load('glue', name) with name in {', '.join(CONFIGS)}")
    return config_name


def glue(predictions: Any, references: Any, config_name: str | None = None, **_: Any) -> dict[str, Any]:
    config_name = check_config(config_name)
    preds, refs = np.asarray(predictions), np.asarray(references)
    if preds.shape != refs.shape or preds.size == 0:
        raise MetricInputError("glue needs one prediction per reference, and at least one")
    if config_name == "cola":
        return matthews_correlation(preds, refs)
    if config_name == "stsb":
        return {"pearson": pearsonr(preds, refs)["pearsonr"], "spearmanr": spearmanr(preds, refs)["spearmanr"]}
    result = {"accuracy": float((preds == refs).mean())}
    if config_name in ("mrpc", "qqp"):
        result["f1"] = float(precision_recall_f1(preds, refs, "f1"))
    return result
