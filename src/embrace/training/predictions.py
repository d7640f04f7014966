"""What the Trainer hands back: ``EvalPrediction`` (``compute_metrics``' input), ``PredictionOutput``,
``TrainOutput``; ``set_seed``; and the helpers that gather per-batch tensors into numpy arrays."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch


@dataclass
class EvalPrediction:
    """What ``compute_metrics`` receives: ``predictions`` (numpy, batches concatenated, ragged dims padded with
    -100) and ``label_ids``. Unpacks like the reference: ``preds, labels = eval_pred``."""

    predictions: Any
    label_ids: Any
    inputs: Any = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.predictions, self.label_ids))

    def __getitem__(self, index: int) -> Any:
        return (self.predictions, self.label_ids)[index]


class PredictionOutput(NamedTuple):
    predictions: Any
    label_ids: Any
    metrics: dict[str, float]


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, float]


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_numpy(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return type(value)(to_numpy(v) for v in value)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    return value


def concat_batches(chunks: list[Any]) -> Any:
    """Concatenate per-batch arrays along dim 0, padding other dims with -100 when they differ (e.g. seq len)."""
    if isinstance(chunks[0], (tuple, list)):
        return type(chunks[0])(concat_batches([c[i] for c in chunks]) for i in range(len(chunks[0])))
    if chunks[0].ndim <= 1 or all(c.shape[1:] == chunks[0].shape[1:] for c in chunks):
        return np.concatenate(chunks, axis=0)
    shape = [sum(c.shape[0] for c in chunks), *np.max([c.shape[1:] for c in chunks], axis=0)]
    out = np.full(shape, -100, dtype=chunks[0].dtype)
    row = 0
    for c in chunks:
        out[(slice(row, row + c.shape[0]), *(slice(0, n) for n in c.shape[1:]))] = c
        row += c.shape[0]
    return out


def batch_size(inputs: Mapping[str, Any]) -> int:
    return next(v.shape[0] for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim() > 0)
