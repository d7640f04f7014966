"""Trainer state, control flags and callbacks (``TrainerCallback`` events, early stopping, progress, logging).

A callback receives ``(args, state, control, **kwargs)`` at each event and may set flags on ``control`` (stop
training, evaluate, save, log now). Event names and arguments are the reference's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from embrace.errors import EmbraceError
from embrace.io import atomic_write_text
from embrace.training.arguments import TrainingArguments


class TrainerError(EmbraceError, ValueError):
    """The Trainer cannot do what was asked with the given model, data or arguments."""


@dataclass
class TrainerState:
    """What the loop knows, saved as ``trainer_state.json`` in each checkpoint.

    ``epoch`` is fractional (epochs completed + fraction of the current one). ``epoch_index``/``step_in_epoch``
    are the data position (optimizer steps done in the current epoch) used for exact resume.
    """

    epoch: float | None = None
    global_step: int = 0
    max_steps: int = 0
    num_train_epochs: int = 0
    logging_steps: float = 500
    eval_steps: float | None = None
    save_steps: float = 500
    train_batch_size: int | None = None
    log_history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_model_checkpoint: str | None = None
    best_global_step: int | None = None
    is_world_process_zero: bool = True
    epoch_index: int = 0
    step_in_epoch: int = 0
    loss_since_log: float = 0.0
    total_train_loss: float = 0.0
    steps_since_log: int = 0
    stateful_callbacks: dict[str, Any] = field(default_factory=dict)

    def save_to_json(self, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load_from_json(cls, path: str | os.PathLike[str]) -> TrainerState:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainerControl:
    """Flags a callback sets to steer the loop; reset by the loop after acting on them."""

    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False


class TrainerCallback:
    """Override any event. Return a ``TrainerControl`` (or None to keep the current one)."""

    def on_init_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        pass

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> Any:
        pass

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        pass

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> Any:
        pass

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        pass

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                      **kwargs: Any) -> Any:
        pass

    def on_substep_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> Any:
        pass

    def on_pre_optimizer_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                              **kwargs: Any) -> Any:
        pass

    def on_optimizer_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                          **kwargs: Any) -> Any:
        pass

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        pass

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        pass

    def on_predict(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        pass

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        pass

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        pass

    def on_prediction_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                           **kwargs: Any) -> Any:
        pass


class CallbackHandler:
    """Calls every callback's handler for an event, in order, threading ``control`` through."""

    def __init__(self, callbacks: list[TrainerCallback | type[TrainerCallback]]) -> None:
        self.callbacks: list[TrainerCallback] = []
        for cb in callbacks:
            self.add_callback(cb)

    def add_callback(self, callback: TrainerCallback | type[TrainerCallback]) -> None:
        self.callbacks.append(callback() if isinstance(callback, type) else callback)

    def remove_callback(self, callback: TrainerCallback | type[TrainerCallback]) -> None:
        self.callbacks = [cb for cb in self.callbacks
                          if not (cb is callback or (isinstance(callback, type) and isinstance(cb, callback)))]

    def call(self, event: str, args: TrainingArguments, state: TrainerState, control: TrainerControl,
             **kwargs: Any) -> TrainerControl:
        for callback in self.callbacks:
            result = getattr(callback, event)(args, state, control, **kwargs)
            if result is not None:
                control = result
        return control


class EarlyStoppingCallback(TrainerCallback):
    """Stop when ``metric_for_best_model`` has not improved by more than ``early_stopping_threshold`` for
    ``early_stopping_patience`` evaluations in a row. Its counter is saved in checkpoints (resume-safe)."""

    def __init__(self, early_stopping_patience: int = 1, early_stopping_threshold: float = 0.0) -> None:
        self.early_stopping_patience = early_stopping_patience
        self.early_stopping_threshold = early_stopping_threshold
        self.early_stopping_patience_counter = 0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> Any:
        if args.metric_for_best_model is None:
            raise TrainerError("EarlyStoppingCallback needs TrainingArguments(metric_for_best_model=...)")
        if args.eval_strategy == "no":
            raise TrainerError("EarlyStoppingCallback needs an eval_strategy other than 'no'")
        saved = state.stateful_callbacks.get(type(self).__name__)
        if saved is not None:
            self.early_stopping_patience_counter = int(saved["early_stopping_patience_counter"])

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: dict[str, float] | None = None, **kwargs: Any) -> Any:
        assert args.metric_for_best_model is not None and metrics is not None
        name = args.metric_for_best_model
        value = metrics.get(name if name.startswith("eval_") else f"eval_{name}")
        if value is None:
            raise TrainerError(f"early stopping: metric {name!r} is not among the evaluation metrics "
                               f"{sorted(metrics)}; make compute_metrics return it or change metric_for_best_model")
        improved = state.best_metric is None or (
            (value > state.best_metric if args.greater_is_better else value < state.best_metric)
            and abs(value - state.best_metric) > self.early_stopping_threshold)
        self.early_stopping_patience_counter = 0 if improved else self.early_stopping_patience_counter + 1
        if self.early_stopping_patience_counter >= self.early_stopping_patience:
            control.should_training_stop = True

    def state(self) -> dict[str, Any]:
        return {"early_stopping_patience_counter": self.early_stopping_patience_counter}


class ProgressCallback(TrainerCallback):
    """A tqdm progress bar over optimizer steps (and one over evaluation batches)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> Any:
        from tqdm.auto import tqdm

        if state.is_world_process_zero:  # one bar, not one per process
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, dynamic_ncols=True)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if self.bar is not None and logs:
            self.bar.write(str({k: round(v, 6) if isinstance(v, float) else v for k, v in logs.items()}))

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class PrinterCallback(TrainerCallback):
    """Print each log dict (used instead of the progress bar when ``disable_tqdm=True``)."""

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if logs and state.is_world_process_zero:
            print(logs)


class JsonlLoggingCallback(TrainerCallback):
    """``report_to='jsonl'``: append each log dict (with ``step``) to ``<logging_dir>/log_history.jsonl``."""

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if not logs or not state.is_world_process_zero:
            return
        assert args.logging_dir is not None
        os.makedirs(args.logging_dir, exist_ok=True)
        with open(os.path.join(args.logging_dir, "log_history.jsonl"), "a", encoding="utf-8") as handle:
            handle.write(json.dumps({**logs, "step": state.global_step}) + "\n")


class TensorBoardCallback(TrainerCallback):
    """``report_to='tensorboard'``: scalars through ``torch.utils.tensorboard`` (needs the tensorboard package)."""

    def __init__(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise TrainerError("report_to='tensorboard' needs the tensorboard package: pip install tensorboard") from exc
        self.writer_class = SummaryWriter
        self.writer: Any = None

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if not logs or not state.is_world_process_zero:
            return
        if self.writer is None:
            self.writer = self.writer_class(log_dir=args.logging_dir)
        for key, value in logs.items():
            if isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, state.global_step)
        self.writer.flush()

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        if self.writer is not None:
            self.writer.close()
