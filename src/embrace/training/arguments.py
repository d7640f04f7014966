"""``TrainingArguments``: the reference's option names and defaults for the options people use.

Differences from transformers 5.x, on purpose: ``warmup_ratio``, ``group_by_length`` and ``logging_dir`` are kept
(5.x removed them; ``warmup_steps`` < 1 is also read as a ratio, as in 5.x); ``evaluation_strategy`` is accepted as
an alias of ``eval_strategy``; ``optim`` defaults to ``adamw_torch_fused`` (torch's fused AdamW, on CPU too), as
the reference does with torch >= 2.8. ``fsdp`` takes
``True`` or the option string/list (``"full_shard auto_wrap"``), kept as a list of options.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from embrace.errors import EmbraceError

STRATEGIES = ("no", "steps", "epoch")
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adamw", "sgd")
REPORTERS = ("none", "jsonl", "tensorboard", "all")


class TrainingArgumentsError(EmbraceError, ValueError):
    """An invalid combination or value in ``TrainingArguments``."""


@dataclass
class TrainingArguments:
    """Options of a ``Trainer`` run. Step counts (``eval_steps``, ``save_steps``, ``logging_steps``) below 1 are
    fractions of the total number of optimizer steps, as in the reference."""

    output_dir: str | None = None
    overwrite_output_dir: bool = False
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    eval_strategy: str = "no"
    prediction_loss_only: bool = False
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    eval_accumulation_steps: int | None = None
    eval_delay: float = 0
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    num_train_epochs: float = 3.0
    max_steps: int = -1
    lr_scheduler_type: str = "linear"
    lr_scheduler_kwargs: dict[str, Any] | None = None
    warmup_ratio: float = 0.0
    warmup_steps: float = 0
    logging_dir: str | None = None
    logging_strategy: str = "steps"
    logging_first_step: bool = False
    logging_steps: float = 500
    save_strategy: str = "steps"
    save_steps: float = 500
    save_total_limit: int | None = None
    save_only_model: bool = False
    seed: int = 42
    data_seed: int | None = None
    bf16: bool = False
    fp16: bool = False
    use_cpu: bool = False
    eval_steps: float | None = None
    dataloader_drop_last: bool = False
    dataloader_num_workers: int = 0
    run_name: str | None = None
    disable_tqdm: bool | None = None
    remove_unused_columns: bool = True
    label_names: list[str] | None = None
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    optim: str = "adamw_torch_fused"
    group_by_length: bool = False
    length_column_name: str = "length"
    report_to: str | list[str] = "none"
    resume_from_checkpoint: str | None = None
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_strategy: str = "every_save"
    hub_token: str | None = field(default=None, repr=False)
    hub_private_repo: bool | None = None
    hub_revision: str | None = None
    fsdp: str | list[str] | bool | None = None
    fsdp_config: dict[str, Any] | str | None = None
    evaluation_strategy: str | None = field(default=None, repr=False)  # deprecated alias of eval_strategy

    def __post_init__(self) -> None:
        if self.evaluation_strategy is not None:
            self.eval_strategy = self.evaluation_strategy
            self.evaluation_strategy = None
        for name in ("eval_strategy", "save_strategy", "logging_strategy"):
            value = str(getattr(getattr(self, name), "value", getattr(self, name)))
            if value not in STRATEGIES:
                raise TrainingArgumentsError(f"{name}={value!r}: choose one of {', '.join(STRATEGIES)}")
            setattr(self, name, value)
        if self.output_dir is None:
            self.output_dir = "trainer_output"
        if self.logging_dir is None:
            self.logging_dir = os.path.join(self.output_dir, "runs")
        if self.eval_strategy == "steps" and self.eval_steps is None:
            self.eval_steps = self.logging_steps  # the reference's fallback
        if self.eval_strategy == "steps" and not self.eval_steps:
            raise TrainingArgumentsError("eval_strategy='steps' needs eval_steps > 0")
        if self.disable_tqdm is None:
            self.disable_tqdm = False
        if self.optim not in OPTIMIZERS:
            raise TrainingArgumentsError(f"optim={self.optim!r}: choose one of {', '.join(OPTIMIZERS)}")
        if isinstance(self.report_to, str):
            self.report_to = [] if self.report_to == "none" else [self.report_to]
        for reporter in self.report_to:
            if reporter not in REPORTERS:
                raise TrainingArgumentsError(f"report_to={reporter!r}: choose from {', '.join(REPORTERS)}")
        if self.load_best_model_at_end:
            if self.eval_strategy == "no":
                raise TrainingArgumentsError("load_best_model_at_end needs an eval_strategy other than 'no'")
            if self.save_strategy != self.eval_strategy:
                raise TrainingArgumentsError(
                    f"load_best_model_at_end needs save_strategy ({self.save_strategy!r}) to match eval_strategy "
                    f"({self.eval_strategy!r}), so every evaluated step has a checkpoint")
            if self.save_strategy == "steps" and self.eval_steps and self.save_steps % self.eval_steps:
                raise TrainingArgumentsError(f"load_best_model_at_end needs save_steps ({self.save_steps}) to be a "
                                             f"multiple of eval_steps ({self.eval_steps})")
            if self.metric_for_best_model is None:
                self.metric_for_best_model = "loss"
        if self.metric_for_best_model is not None and self.greater_is_better is None:
            self.greater_is_better = not self.metric_for_best_model.removeprefix("eval_").endswith("loss")
        if self.gradient_accumulation_steps < 1:
            raise TrainingArgumentsError("gradient_accumulation_steps must be >= 1")
        if self.bf16 and self.fp16:
            raise TrainingArgumentsError("choose one of bf16 and fp16, not both")
        if not 0 <= self.warmup_ratio <= 1:
            raise TrainingArgumentsError(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio}")
        hub_strategy = str(getattr(self.hub_strategy, "value", self.hub_strategy))
        if hub_strategy not in ("end", "every_save", "checkpoint", "all_checkpoints"):
            raise TrainingArgumentsError(f"hub_strategy={hub_strategy!r}: choose one of end, every_save, "
                                         "checkpoint, all_checkpoints")
        self.hub_strategy = hub_strategy
        if self.fsdp or self.fsdp_config:
            from embrace.training.fsdp import normalize_fsdp_arguments

            self.fsdp, self.fsdp_config = normalize_fsdp_arguments(self.fsdp, self.fsdp_config)
            if self.fsdp and self.fp16:
                raise TrainingArgumentsError("fsdp with fp16 is not supported (its loss scaler would have to "
                                             "synchronise over the shards); use bf16=True")

    @property
    def train_batch_size(self) -> int:
        return self.per_device_train_batch_size

    @property
    def eval_batch_size(self) -> int:
        return self.per_device_eval_batch_size

    def get_warmup_steps(self, num_training_steps: int) -> int:
        """Warmup steps: ``warmup_steps`` when >= 1, else a ratio (``warmup_steps`` < 1 or ``warmup_ratio``) of the
        total, rounded up as in the reference."""
        if self.warmup_steps >= 1:
            return int(self.warmup_steps)
        ratio = self.warmup_steps if self.warmup_steps > 0 else self.warmup_ratio
        return math.ceil(num_training_steps * ratio)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("evaluation_strategy", "hub_token")}  # never write the token to disk

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)
