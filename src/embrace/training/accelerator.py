"""``Accelerator``: the accelerate-style object for users who write their own training loop.

The same script runs in one process or under ``torchrun --nproc_per_node=N`` (gloo on CPU, nccl on GPU)::

    accelerator = Accelerator(mixed_precision="bf16", gradient_accumulation_steps=2)
    model, optimizer, train_loader, eval_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, eval_loader, scheduler)
    for batch in train_loader:                      # this process's share, already on accelerator.device
        with accelerator.accumulate(model):
            loss = model(**batch).loss
            accelerator.backward(loss)
            optimizer.step(); scheduler.step(); optimizer.zero_grad()   # no-ops between accumulation steps
    preds = accelerator.gather_for_metrics(logits.argmax(-1))          # every example once, in order
    accelerator.save_state("ckpt"); accelerator.print("done")          # main process only for writes/prints

With ``Accelerator(fsdp_plugin=FullyShardedDataParallelPlugin(...))`` (or ``ACCELERATE_USE_FSDP=true``) under
torchrun, ``prepare`` shards the model with FSDP2 instead of DDP and points the optimizer at the shards; save with
``get_state_dict``/``save_model``/``save_state``, which gather the full weights (every process must call them).

Prepared data loaders deal the original loader's batches round-robin to the processes (process ``r`` gets batches
``r, r+N, ...``; rank 0's batch order is broadcast, so shuffling stays consistent), so N processes with batch ``b``
see what one process with batch ``N*b`` sees. The last round is padded with batches from the start so every
process runs the same number of steps; ``gather_for_metrics`` drops those duplicates.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset

from embrace.training.callbacks import TrainerError
from embrace.training.checkpointing import restore_rng_state, rng_state
from embrace.training.distributed import DistributedState
from embrace.training.fsdp import (
    FullyShardedDataParallelPlugin,
    full_model_state,
    full_optimizer_state,
    is_fsdp_model,
    load_full_model_state,
    load_full_optimizer_state,
    save_full_model,
    shard_model,
)

PRECISIONS = ("no", "bf16", "fp16")


class AcceleratedOptimizer:
    """Wraps an optimizer: ``step``/``zero_grad`` only act at the end of an accumulation cycle; fp16 steps go
    through the loss scaler."""

    def __init__(self, optimizer: torch.optim.Optimizer, accelerator: Accelerator) -> None:
        self.optimizer, self.accelerator = optimizer, accelerator
        self.step_was_skipped = False

    def step(self, closure: Any = None) -> None:
        self.step_was_skipped = not self.accelerator.sync_gradients
        if self.step_was_skipped:
            return
        scaler = self.accelerator.scaler
        if scaler is not None:
            scale = scaler.get_scale()
            scaler.step(self.optimizer, closure)
            scaler.update()
            self.step_was_skipped = scaler.get_scale() < scale  # overflow: the step did not happen
        else:
            self.optimizer.step(closure)
        self.accelerator._unscaled.discard(id(self.optimizer))

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self.accelerator.sync_gradients:
            self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


class AcceleratedScheduler:
    """Wraps an LR scheduler so it steps once per real optimizer step (not per accumulated micro-batch)."""

    def __init__(self, scheduler: Any, optimizers: list[AcceleratedOptimizer]) -> None:
        self.scheduler, self.optimizers = scheduler, optimizers

    def step(self, *args: Any, **kwargs: Any) -> None:
        if any(opt.step_was_skipped for opt in self.optimizers):
            return
        self.scheduler.step(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.scheduler, name)


class _Positions(Dataset[int]):
    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return index


class DistributedDataLoader:
    """This process's batches of a ``DataLoader``, moved to the device (see the module docstring)."""

    def __init__(self, loader: DataLoader, accelerator: Accelerator) -> None:
        if isinstance(loader.dataset, IterableDataset) and accelerator.num_processes > 1:
            raise TrainerError("Accelerator.prepare cannot shard a DataLoader over an IterableDataset across "
                               "processes; shard the stream yourself (e.g. IterableDataset.shard) or use a "
                               "map-style dataset")
        self.loader, self.accelerator = loader, accelerator
        self.dataset = loader.dataset
        self.end_of_dataloader = False

    def _my_batches(self) -> list[list[int]]:
        state = self.accelerator.state
        # drawn through a DataLoader over positions, so the loader's generator is consumed exactly as when the
        # loader itself is iterated (one base-seed draw, then the sampler): one process gets the same order
        positions = DataLoader(_Positions(len(self.dataset)), batch_sampler=self.loader.batch_sampler,  # type: ignore[arg-type]
                               collate_fn=list, generator=self.loader.generator)
        batches = state.broadcast_object([list(b) for b in positions])
        world = state.world_size
        rounds = -(-len(batches) // world)
        padded = batches + [batches[i % len(batches)] for i in range(rounds * world - len(batches))] if batches else []
        return padded[state.rank::world]

    def __len__(self) -> int:
        return -(-len(self.loader) // self.accelerator.num_processes)

    def __iter__(self) -> Iterator[Any]:
        accelerator = self.accelerator
        accelerator._active_loader, accelerator._gathered = self, 0
        if accelerator.num_processes == 1 or isinstance(self.dataset, IterableDataset):
            source: Any = self.loader
        else:
            source = DataLoader(self.dataset, batch_sampler=self._my_batches(), collate_fn=self.loader.collate_fn,
                                num_workers=self.loader.num_workers, pin_memory=self.loader.pin_memory)
        total = len(source) if hasattr(source, "__len__") else None
        self.end_of_dataloader = False
        for index, batch in enumerate(source):
            self.end_of_dataloader = total is not None and index == total - 1
            yield accelerator._to_device(batch)
        self.end_of_dataloader = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class Accelerator:
    """Device placement, DDP or FSDP, mixed precision and gradient accumulation for a hand-written loop.

    ``fsdp_plugin``: shard prepared models with FSDP2 (default: from ``ACCELERATE_USE_FSDP``/``FSDP_*`` environment
    variables, as accelerate); ignored in a single process, which has nothing to shard over."""

    def __init__(self, mixed_precision: str | None = None, gradient_accumulation_steps: int = 1,
                 cpu: bool = False, fsdp_plugin: FullyShardedDataParallelPlugin | None = None) -> None:
        self.state = DistributedState.from_env(use_cpu=cpu)
        plugin = fsdp_plugin if fsdp_plugin is not None else FullyShardedDataParallelPlugin.from_env()
        self.fsdp_plugin = plugin if self.state.enabled else None
        precision = mixed_precision or os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
        if precision not in PRECISIONS:
            raise TrainerError(f"mixed_precision={precision!r}: choose one of {', '.join(PRECISIONS)}")
        if precision == "fp16" and self.device.type != "cuda":
            raise TrainerError("fp16 mixed precision needs a CUDA GPU; use mixed_precision='bf16' on CPU")
        if precision == "fp16" and self.fsdp_plugin is not None:
            raise TrainerError("fp16 with FSDP is not supported (the loss scaler would have to synchronise over the "
                               "shards); use mixed_precision='bf16'")
        if gradient_accumulation_steps < 1:
            raise TrainerError("gradient_accumulation_steps must be >= 1")
        self.mixed_precision = precision
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.sync_gradients = True
        self.step = 0
        self._models: list[nn.Module] = []
        self._optimizers: list[AcceleratedOptimizer] = []
        self._schedulers: list[AcceleratedScheduler] = []
        self._active_loader: DistributedDataLoader | None = None
        self._gathered = 0
        self._unscaled: set[int] = set()
        self._pending_optimizers: list[torch.optim.Optimizer] = []

    # ---- who am I ------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.state.device

    @property
    def num_processes(self) -> int:
        return self.state.world_size

    @property
    def process_index(self) -> int:
        return self.state.rank

    @property
    def local_process_index(self) -> int:
        return self.state.local_rank

    @property
    def is_main_process(self) -> bool:
        return self.state.is_main_process

    @property
    def is_local_main_process(self) -> bool:
        return self.state.is_local_main_process

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on the main process only."""
        if self.is_local_main_process:
            print(*args, **kwargs)

    def wait_for_everyone(self) -> None:
        self.state.barrier()

    # ---- prepare -------------------------------------------------------------------------------------------
    def prepare(self, *objects: Any) -> Any:
        """Prepare models (device + DDP), optimizers, data loaders and schedulers; returns them in order (one
        object is returned alone)."""
        # FSDP replaces the parameters: the optimizers of this call are re-pointed when their model is sharded
        self._pending_optimizers = [obj for obj in objects if isinstance(obj, torch.optim.Optimizer)]
        models = {i: self._prepare_one(obj) for i, obj in enumerate(objects) if isinstance(obj, nn.Module)}
        prepared = [models[i] if i in models else self._prepare_one(obj) for i, obj in enumerate(objects)
                    if not _is_scheduler(obj)]
        self._pending_optimizers = []
        it = iter(prepared)
        result = [self._prepare_scheduler(obj) if _is_scheduler(obj) else next(it) for obj in objects]
        return result[0] if len(result) == 1 else tuple(result)

    def _prepare_one(self, obj: Any) -> Any:
        if isinstance(obj, nn.Module):
            return self.prepare_model(obj)
        if isinstance(obj, torch.optim.Optimizer):
            optimizer = AcceleratedOptimizer(obj, self)
            self._optimizers.append(optimizer)
            return optimizer
        if isinstance(obj, DataLoader):
            return DistributedDataLoader(obj, self)
        return obj

    def _prepare_scheduler(self, scheduler: Any) -> AcceleratedScheduler:
        wrapped = AcceleratedScheduler(scheduler, [o for o in self._optimizers if o.optimizer is scheduler.optimizer])
        self._schedulers.append(wrapped)
        return wrapped

    def prepare_model(self, model: nn.Module) -> nn.Module:
        self._models.append(model)
        if self.fsdp_plugin is not None:  # moved to the device unit by unit as it is sharded
            return shard_model(model, self.fsdp_plugin, self.device, self._pending_optimizers)
        model = model.to(self.device)
        self._models[-1] = model
        if self.state.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        return model

    def unwrap_model(self, model: nn.Module) -> nn.Module:
        """The model inside DDP (an FSDP2 model is sharded in place: it is returned as is; read its weights with
        :meth:`get_state_dict`)."""
        return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model

    def get_state_dict(self, model: nn.Module, unwrap: bool = True) -> dict[str, torch.Tensor]:
        """The model's whole state dict; under FSDP gathered onto the main process (CPU, ``{}`` elsewhere), and
        every process must call it."""
        model = self.unwrap_model(model) if unwrap else model
        return full_model_state(model) if is_fsdp_model(model) else model.state_dict()

    def save_model(self, model: nn.Module, save_directory: str | os.PathLike[str]) -> None:
        """Write the model's weights into ``save_directory`` on the main process (``save_pretrained`` layout for
        embrace models, so it loads with ``from_pretrained``; under FSDP every process must call it)."""
        from embrace.training.checkpointing import save_model_weights

        model = self.unwrap_model(model)
        state = full_model_state(model) if is_fsdp_model(model) else None
        if self.is_main_process:
            if state is not None:
                save_full_model(model, state, save_directory)
            else:
                save_model_weights(model, save_directory)
        self.wait_for_everyone()

    def _to_device(self, batch: Any) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device)
        if isinstance(batch, dict):
            return {k: self._to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self._to_device(v) for v in batch)
        return batch

    # ---- training ------------------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.mixed_precision == "no":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.mixed_precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    @contextlib.contextmanager
    def accumulate(self, *models: nn.Module) -> Iterator[None]:
        """One micro-batch: gradients sync (and optimizer/scheduler steps act) every
        ``gradient_accumulation_steps`` micro-batches and at the end of the data loader. Runs under autocast."""
        self.step += 1
        at_end = self._active_loader is not None and self._active_loader.end_of_dataloader
        self.sync_gradients = self.step % self.gradient_accumulation_steps == 0 or at_end
        with contextlib.ExitStack() as stack:
            if not self.sync_gradients:
                for model in models:
                    if isinstance(model, nn.parallel.DistributedDataParallel):
                        stack.enter_context(model.no_sync())
            stack.enter_context(self.autocast())
            yield

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """``loss.backward()``, divided by the accumulation steps and scaled for fp16."""
        loss = loss / self.gradient_accumulation_steps
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward(**kwargs)

    def clip_grad_norm_(self, parameters: Any, max_norm: float, norm_type: float = 2.0) -> torch.Tensor:
        """Clip the (unscaled, synced) gradients; returns the total norm."""
        if self.scaler is not None:
            for optimizer in self._optimizers:
                if id(optimizer.optimizer) not in self._unscaled:
                    self.scaler.unscale_(optimizer.optimizer)
                    self._unscaled.add(id(optimizer.optimizer))
        norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type=norm_type)
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP: a replicated DTensor

    # ---- gathering -----------------------------------------------------------------------------------------
    def gather(self, data: Any) -> Any:
        """Concatenate ``data`` (tensors, or lists/tuples/dicts of them) from every process along dim 0."""
        if not self.state.enabled:
            return data
        parts = self.state.gather_objects(_map(lambda t: t.detach().cpu(), data))
        return _map(lambda t: t.to(self.device), _concat_parts(parts))

    def gather_for_metrics(self, data: Any) -> Any:
        """``gather``, minus the duplicates the last padded round of a prepared data loader added."""
        gathered = self.gather(data)
        loader = self._active_loader
        if loader is None or not self.state.enabled or not hasattr(loader.dataset, "__len__"):
            return gathered
        remaining = len(loader.dataset) - self._gathered
        count = _first_dim(gathered)
        if count > remaining:
            gathered = _map(lambda t: t[:remaining], gathered)
            count = remaining
        self._gathered += count
        return gathered

    def reduce(self, tensor: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        gathered = self.gather(tensor.reshape(1, *tensor.shape))
        return gathered.sum(0) if reduction == "sum" else gathered.mean(0)

    # ---- saving --------------------------------------------------------------------------------------------
    def save(self, obj: Any, path: str | os.PathLike[str]) -> None:
        """``torch.save`` on the main process only."""
        if self.is_main_process:
            torch.save(obj, path)

    def save_state(self, output_dir: str | os.PathLike[str]) -> None:
        """Models, optimizers, schedulers, the fp16 scaler and every process's RNG states into ``output_dir``."""
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        models = [self.get_state_dict(model) for model in self._models]  # FSDP: everyone gathers
        optimizers = [self._optimizer_state(optimizer) for optimizer in self._optimizers]
        if self.is_main_process:
            for i, state in enumerate(models):
                torch.save(state, folder / _name("model", i, "bin"))
            for i, state in enumerate(optimizers):
                torch.save(state, folder / _name("optimizer", i, "bin"))
            for i, scheduler in enumerate(self._schedulers):
                torch.save(scheduler.scheduler.state_dict(), folder / _name("scheduler", i, "bin"))
            if self.scaler is not None:
                torch.save(self.scaler.state_dict(), folder / "scaler.pt")
        torch.save({**rng_state(), "step": self.step}, folder / f"random_states_{self.process_index}.pkl")
        self.wait_for_everyone()

    def load_state(self, input_dir: str | os.PathLike[str]) -> None:
        """Restore what :meth:`save_state` wrote, into the prepared objects (in place)."""
        folder = Path(input_dir)
        if not folder.is_dir():
            raise TrainerError(f"load_state: {folder} does not exist")
        with torch.no_grad():
            for i, model in enumerate(self._models):
                location = "cpu" if is_fsdp_model(model) else self.device
                state = torch.load(folder / _name("model", i, "bin"), map_location=location, weights_only=True)
                if is_fsdp_model(model):
                    load_full_model_state(model, state)
                else:
                    model.load_state_dict(state)
        for i, optimizer in enumerate(self._optimizers):
            owner = self._fsdp_owner(optimizer)
            state = torch.load(folder / _name("optimizer", i, "bin"), map_location="cpu" if owner else self.device,
                               weights_only=True)
            if owner is not None:
                load_full_optimizer_state(owner, optimizer.optimizer, state)
            else:
                optimizer.load_state_dict(state)
        for i, scheduler in enumerate(self._schedulers):
            scheduler.scheduler.load_state_dict(torch.load(folder / _name("scheduler", i, "bin"), weights_only=True))
        if self.scaler is not None and (folder / "scaler.pt").exists():
            self.scaler.load_state_dict(torch.load(folder / "scaler.pt", weights_only=True))
        rng_file = folder / f"random_states_{self.process_index}.pkl"
        if rng_file.exists():
            states = torch.load(rng_file, weights_only=False)  # our own file: numpy/python RNG tuples
            self.step = int(states.pop("step", 0))
            restore_rng_state(states)

    def _fsdp_owner(self, optimizer: AcceleratedOptimizer) -> nn.Module | None:
        """The FSDP model whose parameters ``optimizer`` updates (``None`` without FSDP)."""
        ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
        return next((m for m in self._models if is_fsdp_model(m) and any(id(p) in ids for p in m.parameters())), None)

    def _optimizer_state(self, optimizer: AcceleratedOptimizer) -> dict[str, Any]:
        owner = self._fsdp_owner(optimizer)
        return full_optimizer_state(owner, optimizer.optimizer) if owner is not None else optimizer.state_dict()

    def end_training(self) -> None:
        self.wait_for_everyone()


def _is_scheduler(obj: Any) -> bool:
    return hasattr(obj, "step") and hasattr(obj, "get_last_lr") and hasattr(obj, "optimizer")


def _name(kind: str, index: int, ext: str) -> str:
    return f"{kind}.{ext}" if index == 0 else f"{kind}_{index}.{ext}"


def _map(fn: Any, data: Any) -> Any:
    if isinstance(data, torch.Tensor):
        return fn(data)
    if isinstance(data, dict):
        return {k: _map(fn, v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_map(fn, v) for v in data)
    return data


def _concat_parts(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([p.reshape(1) if p.dim() == 0 else p for p in parts])
    if isinstance(first, dict):
        return {k: _concat_parts([p[k] for p in parts]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_concat_parts([p[i] for p in parts]) for i in range(len(first)))
    return parts


def _first_dim(data: Any) -> int:
    if isinstance(data, torch.Tensor):
        return int(data.shape[0]) if data.dim() else 1
    if isinstance(data, dict):
        return _first_dim(next(iter(data.values())))
    if isinstance(data, (list, tuple)):
        return _first_dim(data[0])
    return 0
