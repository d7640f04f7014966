"""Fine-tuning: ``Trainer``, ``TrainingArguments``, data collators, LR schedules and callbacks.

Submodules load lazily so that ``import embrace.training`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES: dict[str, str] = {
    "TrainingArguments": "arguments",
    "Trainer": "trainer",
    "EvalPrediction": "predictions",
    "PredictionOutput": "predictions",
    "set_seed": "predictions",
    "TrainerCallback": "callbacks",
    "TrainerState": "callbacks",
    "TrainerControl": "callbacks",
    "EarlyStoppingCallback": "callbacks",
    "ProgressCallback": "callbacks",
    "PrinterCallback": "callbacks",
    "DataCollatorWithPadding": "collators",
    "DataCollatorForLanguageModeling": "collators",
    "DataCollatorForSeq2Seq": "collators",
    "DataCollatorForTokenClassification": "collators",
    "default_data_collator": "collators",
    "get_scheduler": "schedules",
    "Accelerator": "accelerator",
    "FullyShardedDataParallelPlugin": "fsdp",
    "DistributedState": "distributed",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'embrace.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"embrace.training.{_NAMES[name]}"), name)
    globals()[name] = value
    return value
