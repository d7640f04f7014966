"""The ``Trainer``: a training loop you can read, with evaluation, prediction, checkpoints and exact resume.

Extension points: callbacks (``TrainerCallback`` events) and overriding ``compute_loss``. Gradient accumulation
weights every loss item equally across the accumulated micro-batches (label tokens for token-level losses,
examples otherwise), so ``k`` micro-batches of ``b`` give the loss and gradients of one batch of ``k * b``.
Data order comes from a private generator seeded with ``data_seed`` (or ``seed``) plus the epoch, so a resumed run
sees exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from embrace.training import checkpointing as ckpt
from embrace.training.arguments import TrainingArguments
from embrace.training.callbacks import (
    CallbackHandler,
    JsonlLoggingCallback,
    PrinterCallback,
    ProgressCallback,
    TensorBoardCallback,
    TrainerCallback,
    TrainerControl,
    TrainerError,
    TrainerState,
)
from embrace.training.collators import DataCollatorWithPadding, default_data_collator
from embrace.training.distributed import DistributedState
from embrace.training.predictions import (
    EvalPrediction,
    PredictionOutput,
    TrainOutput,
    batch_size,
    concat_batches,
    set_seed,
    to_numpy,
)
from embrace.training.schedules import get_scheduler

if TYPE_CHECKING:
    from embrace.training.fsdp import FullyShardedDataParallelPlugin

logger = logging.getLogger(__name__)

_NO_DECAY = re.compile(r"bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)")


class Trainer:
    """Train, evaluate and predict with ``model`` on datasets of examples (dicts of token ids/labels).

    ``model`` must return ``loss`` when given labels (embrace and HF models do). ``train_dataset``/``eval_dataset``
    are anything indexable with ``len`` (an embrace/HF ``Dataset``, a list of dicts, a torch ``Dataset``);
    ``eval_dataset`` may be a dict of them. ``processing_class`` (a tokenizer) gives the default collator
    (``DataCollatorWithPadding``); without one, ``default_data_collator`` stacks equal-length examples.
    """

    def __init__(self, model: nn.Module | None = None, args: TrainingArguments | None = None,
                 data_collator: Callable[[list[Any]], dict[str, Any]] | None = None, train_dataset: Any = None,
                 eval_dataset: Any = None, processing_class: Any = None,
                 model_init: Callable[[], nn.Module] | None = None,
                 compute_loss_func: Callable[..., torch.Tensor] | None = None,
                 compute_metrics: Callable[[EvalPrediction], dict[str, float]] | None = None,
                 callbacks: list[TrainerCallback] | None = None,
                 optimizers: tuple[torch.optim.Optimizer | None, Any] = (None, None),
                 preprocess_logits_for_metrics: Callable[[Any, Any], Any] | None = None,
                 tokenizer: Any = None) -> None:
        self.args = args if args is not None else TrainingArguments()
        set_seed(self.args.seed)
        if model is None:
            if model_init is None:
                raise TrainerError("Trainer needs a model (or a model_init function that builds one)")
            model = model_init()
        self.dist = DistributedState.from_env(use_cpu=self.args.use_cpu)
        self.device = self.dist.device
        self.fsdp_plugin = self._fsdp_plugin()
        # FSDP moves each unit to the device as it shards it: the whole model never has to fit on one device
        self.model = model if self.fsdp_plugin is not None else model.to(self.device)
        self.model_wrapped: nn.Module = self.model  # DistributedDataParallel around it under torchrun
        self.scaler = self._check_precision()
        self.processing_class = processing_class if processing_class is not None else tokenizer
        if data_collator is None:
            has_pad = self.processing_class is not None and hasattr(self.processing_class, "pad")
            data_collator = DataCollatorWithPadding(self.processing_class) if has_pad else default_data_collator
        self.data_collator = data_collator
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.compute_loss_func, self.compute_metrics = compute_loss_func, compute_metrics
        self.preprocess_logits_for_metrics = preprocess_logits_for_metrics
        self.optimizer, self.lr_scheduler = optimizers
        if self.fsdp_plugin is not None:  # sharded now (in place), so evaluate/save_model work before train()
            self.model_wrapped = self._wrap_model()
        self.label_names = self.args.label_names or (
            ["start_positions", "end_positions"] if "QuestionAnswering" in type(model).__name__ else ["labels"])
        self._signature_columns = self._model_input_names()
        default: list[TrainerCallback] = [PrinterCallback() if self.args.disable_tqdm else ProgressCallback()]
        reporters = {"jsonl": JsonlLoggingCallback, "tensorboard": TensorBoardCallback}
        targets = list(reporters) if "all" in self.args.report_to else self.args.report_to
        default += [reporters[name]() for name in targets if name in reporters]
        self.callback_handler = CallbackHandler([*default, *(callbacks or [])])
        self.state = TrainerState(is_world_process_zero=self.dist.is_main_process)
        self.control = TrainerControl()
        self.hub_model_id: str | None = None
        if self.args.push_to_hub and self.state.is_world_process_zero:
            self.init_hf_repo()
        self.control = self._event("on_init_end")

    # ---- callbacks ------------------------------------------------------------------------------------------
    def add_callback(self, callback: TrainerCallback | type[TrainerCallback]) -> None:
        self.callback_handler.add_callback(callback)

    def remove_callback(self, callback: TrainerCallback | type[TrainerCallback]) -> None:
        self.callback_handler.remove_callback(callback)

    def _event(self, name: str, **kwargs: Any) -> TrainerControl:
        return self.callback_handler.call(name, self.args, self.state, self.control, model=self.model,
                                          optimizer=self.optimizer, lr_scheduler=self.lr_scheduler, **kwargs)

    # ---- data -----------------------------------------------------------------------------------------------
    def _model_input_names(self) -> set[str]:
        """The columns ``remove_unused_columns`` keeps, as the reference: the named parameters of the model's
        ``forward`` (a PEFT model's base model; a ``**kwargs`` catch-all keeps nothing extra) and the label names.
        The class's ``forward`` is read, so a per-instance wrapper (``compile_decode``) does not hide it."""
        model: Any = self.model
        if hasattr(model, "get_base_model") and hasattr(model, "peft_config"):
            model = model.get_base_model()
        forward: Any = type(model).forward
        params = list(inspect.signature(forward).parameters.values())[1:]  # without self
        named = {p.name for p in params if p.kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                           inspect.Parameter.VAR_KEYWORD)}
        return {*named, "label", "label_ids", *self.label_names}

    def _remove_unused_columns(self, dataset: Any, description: str) -> None:
        """Log (as the reference does) the columns of ``dataset`` that ``forward`` does not take and that
        ``remove_unused_columns`` therefore drops from every batch; refuse a dataset with no usable column."""
        if not self.args.remove_unused_columns or dataset is None:
            return
        columns = getattr(dataset, "column_names", None)
        if columns is None and isinstance(dataset, list) and dataset and isinstance(dataset[0], Mapping):
            columns = list(dataset[0])
        if not columns:
            return
        ignored = [c for c in columns if c not in self._signature_columns]
        name = type(self.model).__name__
        if len(ignored) == len(columns):
            raise TrainerError(f"no column of the {description} set ({', '.join(columns)}) matches the arguments "
                               f"of {name}.forward ({', '.join(sorted(self._signature_columns))}); check the dataset "
                               "(is it tokenized?) or set remove_unused_columns=False")
        if ignored:
            logger.info(f"The following columns in the {description} set don't have a corresponding argument in "
                        f"`{name}.forward` and have been ignored: {', '.join(ignored)}. If {', '.join(ignored)} are "
                        f"not expected by `{name}.forward`,  you can safely ignore this message.")

    def _collate(self, features: list[Any]) -> dict[str, Any]:
        if self.args.remove_unused_columns and isinstance(features[0], Mapping):
            features = [{k: v for k, v in f.items() if k in self._signature_columns} for f in features]
        return self.data_collator(features)

    def _loader(self, dataset: Any, batches: list[list[int]]) -> DataLoader:
        # a private generator: creating a loader must not draw from the global RNG (dropout uses it)
        return DataLoader(dataset, batch_sampler=batches, collate_fn=self._collate,
                          num_workers=self.args.dataloader_num_workers, generator=torch.Generator())

    def _lengths(self, dataset: Any) -> list[int]:
        column = self.args.length_column_name
        if hasattr(dataset, "column_names") and column in dataset.column_names:
            return list(dataset[column])
        return [len(dataset[i]["input_ids"]) for i in range(len(dataset))]

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Index batches of the training set for ``epoch``: a seeded shuffle (``data_seed`` or ``seed`` + epoch);
        with ``group_by_length``, mega-batches of 50 batches sorted by length so batches pad little."""
        n, size = len(self.train_dataset), self.args.per_device_train_batch_size
        generator = torch.Generator().manual_seed((self.args.data_seed if self.args.data_seed is not None
                                                   else self.args.seed) + epoch)
        order = torch.randperm(n, generator=generator).tolist()
        global_size = size * self.dist.world_size
        if self.args.group_by_length:
            lengths = self._lengths(self.train_dataset)
            mega = 50 * global_size
            order = [i for start in range(0, n, mega)
                     for i in sorted(order[start:start + mega], key=lambda j: -lengths[j])]
        if self.args.dataloader_drop_last:
            order = order[:n - n % global_size]
        if self.dist.enabled:  # this rank's slice of each global batch: N ranks = one process with N x the batch
            return self.dist.shard_global_batches(order, size)
        return [order[i:i + size] for i in range(0, len(order), size)]

    def _eval_batches(self, dataset: Any) -> list[list[int]]:
        size = self.args.per_device_eval_batch_size
        return [list(range(i, min(i + size, len(dataset)))) for i in range(0, len(dataset), size)]

    def get_eval_dataloader(self, dataset: Any) -> DataLoader:
        return self._loader(dataset, self._eval_batches(dataset))

    def _to_device(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}

    # ---- optimisation ---------------------------------------------------------------------------------------
    def create_optimizer(self) -> torch.optim.Optimizer:
        """AdamW (or SGD) with no weight decay on biases and norm weights, as the reference."""
        norm_params = {f"{m_name}.{p_name}".lstrip(".") for m_name, module in self.model.named_modules()
                       if isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or "norm" in type(module).__name__.lower()
                       for p_name, _ in module.named_parameters(recurse=False)}
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                skip = name in norm_params or _NO_DECAY.search(name.lower())
                (no_decay if skip else decay).append(param)
        groups = [{"params": decay, "weight_decay": self.args.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        args = self.args
        if args.optim == "sgd":
            return torch.optim.SGD(groups, lr=args.learning_rate)
        # torch's fused AdamW kernel (CPU and CUDA) is the reference's default too; FSDP2's sharded DTensor
        # parameters take the foreach kernel
        fused = (args.optim == "adamw_torch_fused" and self.device.type in ("cpu", "cuda")
                 and not (args.fsdp and self.dist.enabled))
        return torch.optim.AdamW(groups, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2),
                                 eps=args.adam_epsilon, fused=fused or None)

    def _fsdp_plugin(self) -> FullyShardedDataParallelPlugin | None:
        """The FSDP settings when ``args.fsdp`` asks for sharding and there are processes to shard over."""
        if not self.args.fsdp:
            return None
        if not self.dist.enabled:
            logger.info("fsdp=%s: a single process has nothing to shard over; training unsharded (launch with "
                        "torchrun --nproc_per_node=N to shard)", self.args.fsdp)
            return None
        from embrace.training.fsdp import FullyShardedDataParallelPlugin

        return FullyShardedDataParallelPlugin.from_training_args(self.args.fsdp, self.args.fsdp_config)  # type: ignore[arg-type]

    def _wrap_model(self) -> nn.Module:
        """The model the training forward runs through: sharded in place by FSDP2 with ``fsdp``, else
        ``DistributedDataParallel`` under torchrun."""
        if self.fsdp_plugin is not None:
            from embrace.training.fsdp import shard_model

            optimizers = [self.optimizer] if self.optimizer is not None else []
            return shard_model(self.model, self.fsdp_plugin, self.device, optimizers)
        if not self.dist.enabled or isinstance(self.model_wrapped, nn.parallel.DistributedDataParallel):
            return self.model_wrapped
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)

    # ---- model and optimizer IO (FSDP gathers and scatters full states) ---------------------------------------
    def _write_model(self) -> Callable[[Path], None] | None:
        """How to write the model into a checkpoint or ``save_model`` folder: ``None`` for the plain way; under FSDP
        every process joins the gather here and the returned writer (main process) saves the full weights."""
        if self.fsdp_plugin is None:
            return None
        from embrace.training.fsdp import full_model_state, save_full_model

        state = full_model_state(self.model)
        return lambda path: save_full_model(self.model, state, path)

    def _read_model(self) -> Callable[[Path], None] | None:
        if self.fsdp_plugin is None:
            return None
        from embrace.training.fsdp import load_full_model_state, read_full_model_state

        return lambda path: load_full_model_state(self.model, read_full_model_state(self.model, path))

    def _read_optimizer(self, optimizer: torch.optim.Optimizer) -> Callable[[dict[str, Any]], None]:
        """Load a checkpoint's optimizer state: name-keyed (FSDP) or position-keyed, whichever way it was saved."""
        from embrace.training import fsdp

        if self.fsdp_plugin is not None:
            return lambda state: fsdp.load_full_optimizer_state(self.model, optimizer, state)
        return lambda state: optimizer.load_state_dict(fsdp.optimizer_state_by_index(self.model, optimizer, state))

    def _load_model_weights(self, folder: str | Path) -> None:
        (self._read_model() or (lambda path: ckpt.load_model_weights(self.model, path)))(Path(folder))

    def _no_sync(self, skip: bool) -> contextlib.AbstractContextManager[Any]:
        """Under DDP with ``skip``, run backward without the gradient all-reduce (accumulating micro-batches)."""
        wrapped = self.model_wrapped
        if skip and isinstance(wrapped, nn.parallel.DistributedDataParallel):
            return wrapped.no_sync()
        return contextlib.nullcontext()

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer) -> Any:
        return get_scheduler(self.args.lr_scheduler_type, optimizer, self.args.get_warmup_steps(num_training_steps),
                             num_training_steps, self.args.lr_scheduler_kwargs)

    def _check_precision(self) -> torch.amp.GradScaler | None:
        """Refuse a mixed precision the device cannot run; fp16 gets a loss scaler (its range is small)."""
        if self.args.fp16 and self.device.type != "cuda":
            raise TrainerError(f"fp16 mixed precision needs a CUDA GPU, and this run is on {self.device}; use "
                               "bf16=True for mixed precision on CPU (or no flag for fp32)")
        if self.args.bf16 and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise TrainerError("this GPU does not support bf16; use fp16=True")
        return torch.amp.GradScaler("cuda") if self.args.fp16 else None

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 (CPU or GPU) or fp16 (GPU) autocast for forward passes; weights and optimizer stay fp32."""
        if self.args.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.args.fp16:
            return torch.autocast(self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def loss_item_count(self, inputs: Mapping[str, Any]) -> int:
        """How many items the model's mean loss averages over for this micro-batch: label tokens != -100 for
        token-level labels (shifted by one for causal LMs, as their loss is), else the number of examples."""
        labels = inputs.get("labels")
        if not isinstance(labels, torch.Tensor) or labels.dim() < 2 or labels.is_floating_point():
            return batch_size(inputs)
        if type(self.model).__name__.endswith("ForCausalLM"):
            labels = labels[..., 1:]
        return int(labels.ne(-100).sum())

    def _check_labels(self, inputs: Mapping[str, Any]) -> None:
        labels, config = inputs.get("labels"), getattr(self.model, "config", None)
        num_labels = getattr(config, "num_labels", None)
        if (isinstance(labels, torch.Tensor) and not labels.is_floating_point() and num_labels
                and "Classification" in type(self.model).__name__):
            valid = labels[labels != -100]
            if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= num_labels):
                raise TrainerError(f"labels must be in [0, {num_labels}) for this model (num_labels={num_labels}) "
                                   f"but the batch has {int(valid.min())}..{int(valid.max())}; build the model with "
                                   "the right num_labels or remap the labels")

    def _check_dataset_labels(self, dataset: Any) -> None:
        """Before training: class labels of a sequence or token classification model's data (scalars, or per-token
        lists with -100 for ignored positions) must lie in [0, num_labels), so a bad label late in the data cannot
        stop a run halfway."""
        num_labels = getattr(getattr(self.model, "config", None), "num_labels", None)
        kind = type(self.model).__name__
        if not num_labels or not ("SequenceClassification" in kind or "TokenClassification" in kind) or dataset is None:
            return
        for part in dataset.values() if isinstance(dataset, dict) else [dataset]:
            columns = getattr(part, "column_names", None)
            if columns is None and isinstance(part, list) and part and isinstance(part[0], Mapping):
                columns = list(part[0])
            name = next((c for c in ("labels", "label") if columns and c in columns), None)
            if name is None:
                continue
            values = part[name] if hasattr(part, "column_names") else [row.get(name) for row in part]
            flat = [x for v in values for x in (v if isinstance(v, (list, tuple)) else [v])]
            ints = [v for v in flat if isinstance(v, int) and not isinstance(v, bool) and v != -100]
            bad = [v for v in ints if not 0 <= v < num_labels]
            if bad:
                raise TrainerError(f"labels must be in [0, {num_labels}) for this model (num_labels={num_labels}) "
                                   f"but the data has {sorted(set(bad))[:10]}; build the model with the right "
                                   "num_labels or remap the labels")

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: int | torch.Tensor | None = None) -> Any:
        """Loss of one micro-batch. With ``num_items_in_batch`` (loss items in the whole accumulated batch), the
        returned loss is this micro-batch's share (sum of its item losses / ``num_items_in_batch``), so summing the
        micro-batch losses gives the full batch's mean; overrides must keep that contract."""
        self._check_labels(inputs)
        inputs = dict(inputs)
        labels = inputs.pop("labels", None) if self.compute_loss_func is not None else None
        outputs = model(**inputs)
        if self.compute_loss_func is not None:
            loss = self.compute_loss_func(outputs, labels, num_items_in_batch=num_items_in_batch)
        else:
            loss = outputs["loss"] if isinstance(outputs, Mapping) or hasattr(outputs, "keys") else outputs[0]
            if loss is None:
                raise TrainerError("the model returned no loss: the batch needs labels "
                                   f"({', '.join(self.label_names)}) or pass compute_loss_func")
            if num_items_in_batch is not None:
                loss = loss * (self.loss_item_count(inputs) / float(num_items_in_batch))
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model: nn.Module, inputs: dict[str, Any],
                      num_items_in_batch: int | None = None) -> torch.Tensor:
        """Forward + backward of one micro-batch; returns its (detached) loss share."""
        model.train()
        with self._autocast():
            loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        # DDP averages gradients over ranks; a share of the global item count must be summed instead
        scale = self.dist.world_size if num_items_in_batch is not None else 1
        self._backward(loss * scale if scale != 1 else loss)
        return loss.detach()

    # ---- training -------------------------------------------------------------------------------------------
    def _interval(self, value: float | None, max_steps: int) -> int:
        if not value:
            return 0
        return math.ceil(max_steps * value) if value < 1 else int(value)

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> TrainOutput:
        """Run the training loop; ``resume_from_checkpoint``: a checkpoint folder, or True for the latest one in
        ``output_dir``. Returns the number of steps, the mean training loss and the run's metrics."""
        args = self.args
        if self.train_dataset is None:
            raise TrainerError("Trainer.train() needs a train_dataset")
        if args.eval_strategy != "no" and self.eval_dataset is None:
            raise TrainerError(f"eval_strategy={args.eval_strategy!r} needs an eval_dataset: pass one to Trainer(...) "
                               "or set eval_strategy='no'")
        metric = (args.metric_for_best_model or "loss").removeprefix("eval_")
        if metric != "loss" and self.compute_metrics is None and args.eval_strategy != "no":
            raise TrainerError(f"metric_for_best_model={args.metric_for_best_model!r} needs a compute_metrics function "
                               "that returns it (without one, evaluation only gives eval_loss)")
        for dataset in (self.train_dataset, self.eval_dataset):
            self._check_dataset_labels(dataset)
        self._remove_unused_columns(self.train_dataset, "training")
        resume = resume_from_checkpoint if resume_from_checkpoint is not None else args.resume_from_checkpoint
        micro_per_epoch = len(self.epoch_batches(0))
        if micro_per_epoch == 0:
            raise TrainerError("the train_dataset is empty (or smaller than one batch with dataloader_drop_last)")
        accum = args.gradient_accumulation_steps
        steps_per_epoch = math.ceil(micro_per_epoch / accum)
        max_steps = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * steps_per_epoch)
        num_epochs = math.ceil(max_steps / steps_per_epoch)
        self.model_wrapped = self._wrap_model()
        if self.optimizer is None:
            self.optimizer = self.create_optimizer()
        if self.lr_scheduler is None:
            self.lr_scheduler = self.create_scheduler(max_steps, self.optimizer)
        self.state = TrainerState(max_steps=max_steps, num_train_epochs=num_epochs, epoch=0.0,
                                  is_world_process_zero=self.dist.is_main_process,
                                  logging_steps=self._interval(args.logging_steps, max_steps),
                                  eval_steps=self._interval(args.eval_steps, max_steps),
                                  save_steps=self._interval(args.save_steps, max_steps),
                                  train_batch_size=args.per_device_train_batch_size)
        if resume:
            folder = ckpt.latest_checkpoint(args.output_dir or ".") if resume is True else Path(str(resume))
            fresh = self.state
            read_optimizer = self._read_optimizer(self.optimizer)
            self.state = ckpt.load_checkpoint(folder, self.model, self.optimizer, self.lr_scheduler, rank=self.dist.rank,
                                              scaler=self.scaler, read_model=self._read_model(),
                                              read_optimizer=read_optimizer)
            self.state.is_world_process_zero = self.dist.is_main_process
            for name in ("max_steps", "num_train_epochs", "logging_steps", "eval_steps", "save_steps"):
                setattr(self.state, name, getattr(fresh, name))  # this run's arguments decide where it ends
        self._stateful = [cb for cb in self.callback_handler.callbacks if hasattr(cb, "state")]
        start, start_step = time.perf_counter(), self.state.global_step
        self.control = self._event("on_train_begin")
        if args.logging_first_step and self.state.global_step == 0:
            self.control.should_log = True  # logged after the first step
        while (self.state.epoch_index < num_epochs and self.state.global_step < max_steps
               and not self.control.should_training_stop):
            self._train_epoch(steps_per_epoch)
        runtime = time.perf_counter() - start
        steps_run = self.state.global_step - start_step
        train_loss = self.state.total_train_loss / max(self.state.global_step, 1)
        metrics = {"train_runtime": round(runtime, 4),
                   "train_samples_per_second": round(steps_run * accum * args.per_device_train_batch_size
                                                    * self.dist.world_size / runtime, 3),
                   "train_steps_per_second": round(steps_run / runtime, 3), "train_loss": train_loss,
                   "epoch": self.state.epoch or 0.0}
        if args.load_best_model_at_end and self.state.best_model_checkpoint:
            self._load_model_weights(self.state.best_model_checkpoint)
        self.log(metrics)
        self.control = self._event("on_train_end")
        if args.output_dir and self.state.is_world_process_zero:
            from embrace.training.plot import write_curve

            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
            write_curve(self.state.log_history, args.output_dir)
        return TrainOutput(self.state.global_step, train_loss, metrics)

    def _train_epoch(self, steps_per_epoch: int) -> None:
        state, args, accum = self.state, self.args, self.args.gradient_accumulation_steps
        batches = self.epoch_batches(state.epoch_index)[state.step_in_epoch * accum:]
        self.control = self._event("on_epoch_begin")
        iterator = iter(self._loader(self.train_dataset, batches))
        remaining = len(batches)
        while remaining > 0 and not (self.control.should_training_stop or self.control.should_epoch_stop):
            group = [self._to_device(next(iterator)) for _ in range(min(accum, remaining))]
            remaining -= len(group)
            num_items = int(self.dist.all_reduce_sum(sum(self.loss_item_count(inputs) for inputs in group)))
            self.control = self._event("on_step_begin")
            step_loss = torch.zeros(())
            for i, inputs in enumerate(group):
                last = i == len(group) - 1
                # gradients are all-reduced once per optimizer step, on the last micro-batch
                with self._no_sync(skip=not last):
                    share = self.training_step(self.model_wrapped, inputs, num_items if num_items > 0 else None)
                step_loss += share.float().cpu()
                if not last:
                    self.control = self._event("on_substep_end")
            if self.dist.enabled:  # the logged loss is the whole global batch's
                step_loss = torch.tensor(self.dist.all_reduce_sum(float(step_loss) if num_items > 0
                                                                  else float(step_loss) / self.dist.world_size))
            grad_norm = None
            assert self.optimizer is not None
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)  # clip and log true gradients
            if args.max_grad_norm and args.max_grad_norm > 0:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), args.max_grad_norm))
            self.control = self._event("on_pre_optimizer_step")
            if self.scaler is not None:
                self.scaler.step(self.optimizer)  # skipped when the scaled gradients overflowed
                self.scaler.update()
            else:
                self.optimizer.step()
            self.control = self._event("on_optimizer_step")
            self._step_lr = float(self.lr_scheduler.get_last_lr()[0])  # logged: the lr this step used
            self.lr_scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            state.global_step += 1
            state.step_in_epoch += 1
            state.epoch = state.epoch_index + state.step_in_epoch / steps_per_epoch
            state.loss_since_log += float(step_loss)
            state.total_train_loss += float(step_loss)
            state.steps_since_log += 1
            self.control = self._event("on_step_end")
            self._flow_after_step()
            self._maybe_log_save_evaluate(grad_norm)
        if remaining == 0:  # the epoch's data is used up (not a stop in the middle of it)
            state.epoch_index += 1
            state.step_in_epoch = 0
            self.control = self._event("on_epoch_end")
            self._flow_after_epoch()
            self._maybe_log_save_evaluate(None)
        self.control.should_epoch_stop = False

    def _flow_after_step(self) -> None:
        state, args, control = self.state, self.args, self.control
        step = state.global_step
        if args.logging_strategy == "steps" and state.logging_steps and step % state.logging_steps == 0:
            control.should_log = True
        if (args.eval_strategy == "steps" and state.eval_steps and step % state.eval_steps == 0
                and args.eval_delay <= step):
            control.should_evaluate = True
        if args.save_strategy == "steps" and state.save_steps and step % state.save_steps == 0:
            control.should_save = True
        if step >= state.max_steps:
            control.should_training_stop = True
            if args.save_strategy == "steps":
                control.should_save = True

    def _flow_after_epoch(self) -> None:
        args, control = self.args, self.control
        control.should_log |= args.logging_strategy == "epoch"
        control.should_evaluate |= args.eval_strategy == "epoch" and args.eval_delay <= self.state.epoch_index
        control.should_save |= args.save_strategy == "epoch"

    def _maybe_log_save_evaluate(self, grad_norm: float | None) -> None:
        state, control = self.state, self.control
        if control.should_log and state.steps_since_log > 0:
            logs: dict[str, float] = {"loss": state.loss_since_log / state.steps_since_log}
            if grad_norm is not None:
                logs["grad_norm"] = grad_norm
            logs["learning_rate"] = getattr(self, "_step_lr", float(self.lr_scheduler.get_last_lr()[0]))
            state.loss_since_log, state.steps_since_log = 0.0, 0
            self.log(logs)
        control.should_log = False
        metrics = None
        if control.should_evaluate:
            metrics = self.evaluate()
            control.should_evaluate = False
        if control.should_save:
            self._save_checkpoint(metrics)
            self.control = self._event("on_save")
            self.control.should_save = False

    def _best_metric_value(self, metrics: dict[str, float]) -> float:
        name = self.args.metric_for_best_model or "loss"
        key = name if name.startswith("eval_") else f"eval_{name}"
        if key not in metrics:
            raise TrainerError(f"metric_for_best_model={name!r} is not among the evaluation metrics "
                               f"{sorted(metrics)}; make compute_metrics return it or change metric_for_best_model")
        return float(metrics[key])

    def _save_checkpoint(self, metrics: dict[str, float] | None) -> None:
        args, state = self.args, self.state
        folder = Path(args.output_dir or ".") / f"{ckpt.PREFIX}-{state.global_step}"
        if metrics is not None and args.metric_for_best_model is not None:
            value = self._best_metric_value(metrics)
            better = state.best_metric is None or (
                value > state.best_metric if args.greater_is_better else value < state.best_metric)
            if better:
                state.best_metric, state.best_global_step = value, state.global_step
                state.best_model_checkpoint = str(folder)
        state.stateful_callbacks = {type(cb).__name__: cb.state() for cb in self._stateful}
        rank_rngs = self.dist.gather_objects(ckpt.rng_state()) if self.dist.enabled else None
        assert self.optimizer is not None
        write_model, optimizer_state = self._write_model(), None
        if self.fsdp_plugin is not None and not args.save_only_model:
            from embrace.training.fsdp import full_optimizer_state

            optimizer_state = full_optimizer_state(self.model, self.optimizer)  # every process joins the gather
        if state.is_world_process_zero:
            ckpt.save_checkpoint(folder, self.model, self.optimizer, self.lr_scheduler, state,
                                 args.to_json_string(), args.save_only_model, rank_rngs=rank_rngs,
                                 scaler=self.scaler, write_model=write_model, optimizer_state=optimizer_state)
            ckpt.rotate_checkpoints(args.output_dir or ".", args.save_total_limit, state.best_model_checkpoint)
            if args.push_to_hub:
                from embrace.training.hub_push import push_checkpoint

                push_checkpoint(args, self.init_hf_repo(), folder, state.global_step)
        self.dist.barrier()  # nobody reads or rotates checkpoints before rank 0 has written this one

    def log(self, logs: dict[str, float]) -> None:
        """Add ``epoch`` and ``step`` to ``logs``, append to ``state.log_history`` and fire ``on_log``."""
        if self.state.epoch is not None:
            logs = {**logs, "epoch": self.state.epoch}
        self.state.log_history.append({**logs, "step": self.state.global_step})
        self.control = self._event("on_log", logs=logs)

    def save_model(self, output_dir: str | None = None) -> None:
        """Save the model (``save_pretrained`` layout), the tokenizer if any, and ``training_args.json``; under
        torchrun the main process writes (with FSDP every process must call this: it gathers the shards)."""
        folder = Path(output_dir or self.args.output_dir or ".")
        write_model = self._write_model()
        if not self.state.is_world_process_zero:
            return
        (write_model or (lambda path: ckpt.save_model_weights(self.model, path)))(folder)
        if self.processing_class is not None and hasattr(self.processing_class, "save_pretrained"):
            self.processing_class.save_pretrained(str(folder))
        from embrace.io import atomic_write_text

        atomic_write_text(folder / ckpt.ARGS_NAME, self.args.to_json_string())

    # ---- hub ------------------------------------------------------------------------------------------------
    def init_hf_repo(self, token: str | None = None) -> str:
        """Create the hub repo for this run (``hub_model_id``, else the output folder's name) if needed; returns
        its full id."""
        if self.hub_model_id is None:
            from embrace.training.hub_push import init_repo

            if token is not None:
                self.args.hub_token = token
            self.hub_model_id = init_repo(self.args)
        return self.hub_model_id

    def create_model_card(self, **kwargs: Any) -> None:
        """Write ``README.md`` (metadata, last evaluation metrics, hyper-parameters) into ``output_dir``."""
        from embrace.io import atomic_write_text
        from embrace.training.hub_push import hub_repo_id, model_card

        card = model_card(self.hub_model_id or hub_repo_id(self.args), self.model, self.state.log_history, self.args)
        atomic_write_text(Path(self.args.output_dir or ".") / "README.md", card)

    def push_to_hub(self, commit_message: str | None = "End of training", blocking: bool = True,
                    token: str | None = None, revision: str | None = None, **kwargs: Any) -> Any:
        """Save the model (``save_pretrained`` layout, plus the tokenizer) and a model card into ``output_dir``
        and upload them (not the checkpoints) to ``hub_model_id`` in one commit; returns the ``CommitInfo``.
        Uploads are always blocking; ``blocking`` is accepted for compatibility."""
        from embrace.training.hub_push import push_output

        if not self.state.is_world_process_zero:  # under torchrun only rank 0 talks to the hub
            return None
        if revision is not None:
            self.args.hub_revision = revision
        repo_id = self.init_hf_repo(token)
        self.save_model()
        self.create_model_card(**kwargs)
        return push_output(self.args, repo_id, Path(self.args.output_dir or "."), commit_message or "End of training")

    # ---- evaluation -----------------------------------------------------------------------------------------
    def prediction_step(self, model: nn.Module, inputs: dict[str, Any], prediction_loss_only: bool,
                        ignore_keys: list[str] | None = None) -> tuple[torch.Tensor | None, Any, Any]:
        """(loss, logits, labels) of one batch without gradients; logits is a tuple when the model has several."""
        has_labels = all(inputs.get(k) is not None for k in self.label_names)
        labels = tuple(inputs[k] for k in self.label_names) if has_labels else None
        if labels is not None and len(labels) == 1:
            labels = labels[0]
        with torch.no_grad(), self._autocast():
            if has_labels:
                loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
                loss = loss.detach().float()
            else:
                loss, outputs = None, model(**inputs)
        if prediction_loss_only:
            return loss, None, None
        skip = {"loss", *(ignore_keys or []), "past_key_values", "hidden_states", "attentions"}
        if hasattr(outputs, "items"):
            logits: Any = tuple(v for k, v in outputs.items() if k not in skip)
        else:
            logits = tuple(outputs[1:] if has_labels else outputs)
        return loss, (logits[0] if len(logits) == 1 else logits), labels

    def evaluation_loop(self, dataset: Any, description: str, prediction_loss_only: bool | None = None,
                        ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval") -> PredictionOutput:
        model, loss_only = self.model, (prediction_loss_only if prediction_loss_only is not None
                                        else self.args.prediction_loss_only)
        model.eval()
        batches = self._eval_batches(dataset)
        mine = list(range(self.dist.rank, len(batches), self.dist.world_size))  # every rank: all when alone
        if self.fsdp_plugin is not None and batches:  # every rank must run as many forwards (they all-gather)
            rounds = -(-len(batches) // self.dist.world_size)
            mine += [-1] * (rounds - len(mine))  # a repeat of batch 0 whose results are dropped
        records: list[tuple[int, Any, Any, Any]] = []  # (batch index, losses, predictions, labels)
        loader = self._loader(dataset, [batches[max(i, 0)] for i in mine])
        for index, inputs in zip(mine, loader, strict=True):
            inputs = self._to_device(inputs)
            size = batch_size(inputs)
            loss, logits, labels = self.prediction_step(model, inputs, loss_only, ignore_keys)
            if index < 0:
                continue
            if logits is not None and self.preprocess_logits_for_metrics is not None:
                logits = self.preprocess_logits_for_metrics(logits, labels)
            records.append((index, None if loss is None else loss.cpu().repeat(size).numpy(),
                            None if logits is None else to_numpy(logits),
                            None if labels is None else to_numpy(labels)))
            self.control = self._event("on_prediction_step")
        if self.dist.enabled:  # every rank gets every batch's results, in dataset order
            records = sorted((r for part in self.dist.gather_objects(records) for r in part), key=lambda r: r[0])
        losses = [torch.from_numpy(r[1]) for r in records if r[1] is not None]
        preds = [r[2] for r in records if r[2] is not None]
        label_chunks = [r[3] for r in records if r[3] is not None]
        predictions = concat_batches(preds) if preds else None
        label_ids = concat_batches(label_chunks) if label_chunks else None
        metrics: dict[str, Any] = {}
        if self.compute_metrics is not None and predictions is not None and label_ids is not None:
            metrics = dict(self.compute_metrics(EvalPrediction(predictions=predictions, label_ids=label_ids)))
        metrics = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in metrics.items()}
        if losses:
            metrics["loss"] = torch.cat(losses).mean().item()
        metrics = {(k if k.startswith(f"{metric_key_prefix}_") else f"{metric_key_prefix}_{k}"): v
                   for k, v in metrics.items()}
        return PredictionOutput(predictions, label_ids, metrics)

    def _timed(self, dataset: Any, prefix: str, ignore_keys: list[str] | None) -> PredictionOutput:
        self._remove_unused_columns(dataset, "test" if prefix.startswith("test") else "evaluation")
        start = time.perf_counter()
        output = self.evaluation_loop(dataset, prefix, ignore_keys=ignore_keys, metric_key_prefix=prefix)
        runtime = time.perf_counter() - start
        steps = math.ceil(len(dataset) / self.args.per_device_eval_batch_size)
        output.metrics.update({f"{prefix}_runtime": round(runtime, 4),
                               f"{prefix}_samples_per_second": round(len(dataset) / runtime, 3),
                               f"{prefix}_steps_per_second": round(steps / runtime, 3)})
        return output

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list[str] | None = None,
                 metric_key_prefix: str = "eval") -> dict[str, float]:
        """Loss and ``compute_metrics`` on the eval set, keys prefixed ``eval_`` (``eval_<name>_`` for each
        entry of a dict of eval sets). Logged and passed to ``on_evaluate``."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise TrainerError("evaluate() needs an eval_dataset (pass one to Trainer(...) or to evaluate())")
        if isinstance(dataset, dict):
            merged: dict[str, float] = {}
            for name, part in dataset.items():
                merged.update(self.evaluate(part, ignore_keys, f"{metric_key_prefix}_{name}"))
            return merged
        metrics = self._timed(dataset, metric_key_prefix, ignore_keys).metrics
        self.log(metrics)
        self.control = self._event("on_evaluate", metrics=metrics)
        return metrics

    def predict(self, test_dataset: Any, ignore_keys: list[str] | None = None,
                metric_key_prefix: str = "test") -> PredictionOutput:
        """Predictions (numpy), label ids (when the data has labels) and ``test_``-prefixed metrics."""
        if test_dataset is None:
            raise TrainerError("predict() needs a test_dataset")
        output = self._timed(test_dataset, metric_key_prefix, ignore_keys)
        self.control = self._event("on_predict", metrics=output.metrics)
        return output
