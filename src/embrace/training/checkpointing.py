"""Trainer checkpoints: ``checkpoint-<step>/`` folders holding everything an exact resume needs.

Contents: the model (``save_pretrained`` layout, so the folder also loads with ``from_pretrained``/``pipeline``),
``optimizer.pt``, ``scheduler.pt``, ``rng_state.pth`` (python, numpy, torch CPU and CUDA generators),
``trainer_state.json`` (step, data position, log history, best metric) and ``training_args.json``. A checkpoint is
written into a temp folder and renamed into place, so a crash never leaves a half-written ``checkpoint-N``.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from embrace.errors import CheckpointError
from embrace.io import atomic_write_text
from embrace.training.callbacks import TrainerState

PREFIX = "checkpoint"
STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.pt"
SCHEDULER_NAME = "scheduler.pt"
RNG_NAME = "rng_state.pth"
SCALER_NAME = "scaler.pt"
ARGS_NAME = "training_args.json"
PLAIN_WEIGHTS_NAME = "pytorch_model.bin"


class TrainerCheckpointError(CheckpointError):
    """A checkpoint to resume from is missing, incomplete or unreadable."""


def save_model_weights(model: nn.Module, folder: str | os.PathLike[str]) -> None:
    """``save_pretrained`` for embrace models; a plain ``state_dict`` file for any other ``nn.Module``."""
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(folder)  # type: ignore[operator]
    else:
        Path(folder).mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), Path(folder) / PLAIN_WEIGHTS_NAME)


def load_model_weights(model: nn.Module, folder: str | os.PathLike[str]) -> None:
    """Load weights saved by ``save_model_weights`` into ``model`` in place (strict: every key must match)."""
    folder = Path(folder)
    plain = folder / PLAIN_WEIGHTS_NAME
    if (folder / "adapter_config.json").exists() and hasattr(model, "load_adapter"):
        # a PEFT model saves only its adapter; copy it into the live parameters (the optimizer keeps its references)
        model.load_adapter(folder, adapter_name=model.active_adapter, is_trainable=True)  # type: ignore[operator]
        return
    if hasattr(model, "load_checkpoint") and not plain.exists():
        from embrace.models.loading import find_weight_files

        files = find_weight_files(lambda name: folder / name if (folder / name).exists() else None, str(folder))
        report = model.load_checkpoint(files)  # type: ignore[operator]  # copies into the existing parameters
        if report.missing_keys or report.unexpected_keys or report.mismatched_keys:
            raise TrainerCheckpointError(f"checkpoint {folder} does not match the model: missing "
                                         f"{report.missing_keys[:5]}, unexpected {report.unexpected_keys[:5]}")
        return
    model.load_state_dict(torch.load(plain, map_location="cpu", weights_only=True))


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    state: TrainerState, args_json: str, save_only_model: bool = False,
                    rank_rngs: list[dict[str, Any]] | None = None, scaler: Any = None,
                    write_model: Callable[[Path], None] | None = None,
                    optimizer_state: dict[str, Any] | None = None) -> None:
    """Write a complete checkpoint to ``folder`` atomically (temp folder + rename). ``rank_rngs``: the RNG
    states of every process of a distributed run (``rng_state_<rank>.pth``); else this process's.
    ``write_model``/``optimizer_state``: how to write the model and what optimizer state to save, when not
    ``save_model_weights(model)`` and ``optimizer.state_dict()`` (FSDP passes gathered full states)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (write_model or (lambda path: save_model_weights(model, path)))(tmp)
        if not save_only_model:
            torch.save(optimizer_state if optimizer_state is not None else optimizer.state_dict(), tmp / OPTIMIZER_NAME)
            torch.save(scheduler.state_dict(), tmp / SCHEDULER_NAME)
            torch.save(rank_rngs[0] if rank_rngs else rng_state(), tmp / RNG_NAME)
            if scaler is not None:
                torch.save(scaler.state_dict(), tmp / SCALER_NAME)
            for rank, rng in enumerate(rank_rngs or []):
                torch.save(rng, tmp / rank_rng_name(rank))
        state.save_to_json(tmp / STATE_NAME)
        atomic_write_text(tmp / ARGS_NAME, args_json)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private (0700); a checkpoint is an ordinary folder
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def rank_rng_name(rank: int) -> str:
    return f"rng_state_{rank}.pth"


def load_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    rank: int = 0, scaler: Any = None, read_model: Callable[[Path], None] | None = None,
                    read_optimizer: Callable[[dict[str, Any]], None] | None = None) -> TrainerState:
    """Restore model, optimizer, scheduler and RNG states (``rank``'s own in a distributed run) from ``folder``;
    return its ``TrainerState``. ``read_model``/``read_optimizer`` replace ``load_model_weights(model)`` and
    ``optimizer.load_state_dict`` (FSDP loads full states into the shards)."""
    if not folder.is_dir():
        raise TrainerCheckpointError(f"cannot resume: checkpoint folder {folder} does not exist")
    needed = [STATE_NAME, OPTIMIZER_NAME, SCHEDULER_NAME, RNG_NAME]
    missing = [name for name in needed if not (folder / name).exists()]
    if missing:
        raise TrainerCheckpointError(f"cannot resume from {folder}: it lacks {', '.join(missing)} (a checkpoint "
                                     "saved with save_only_model=True, or not a Trainer checkpoint)")
    try:  # read every file before changing anything, so a bad checkpoint leaves the run as it was
        state = TrainerState.load_from_json(folder / STATE_NAME)
        optimizer_state = torch.load(folder / OPTIMIZER_NAME, map_location="cpu", weights_only=True)
        scheduler_state = torch.load(folder / SCHEDULER_NAME, weights_only=True)
        scaler_file = folder / SCALER_NAME
        scaler_state = torch.load(scaler_file, weights_only=True) if scaler is not None and scaler_file.exists() else None
        per_rank = folder / rank_rng_name(rank)
        # our own file: python/numpy RNG states are tuples and arrays, which weights_only refuses
        rng = torch.load(per_rank if per_rank.exists() else folder / RNG_NAME, weights_only=False)
        (read_model or (lambda path: load_model_weights(model, path)))(folder)
        (read_optimizer or optimizer.load_state_dict)(optimizer_state)
        scheduler.load_state_dict(scheduler_state)
        if scaler_state is not None:
            scaler.load_state_dict(scaler_state)
    except TrainerCheckpointError:
        raise
    except CheckpointError as exc:  # the weights do not fit the model (another architecture or size)
        raise TrainerCheckpointError(f"cannot resume from {folder}: {exc}") from exc
    except Exception as exc:  # corrupt or truncated files: say which checkpoint, keep the cause
        raise TrainerCheckpointError(f"cannot resume from {folder}: a file is corrupt or unreadable ({exc})") from exc
    restore_rng_state(rng)
    return state


def sorted_checkpoints(output_dir: str | os.PathLike[str]) -> list[Path]:
    """``checkpoint-<step>`` folders in ``output_dir``, oldest step first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := re.fullmatch(rf"{PREFIX}-(\d+)", p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(output_dir: str | os.PathLike[str]) -> Path:
    found = sorted_checkpoints(output_dir)
    if not found:
        raise TrainerCheckpointError(f"resume_from_checkpoint=True but {output_dir} has no checkpoint-* folder")
    return found[-1]


def rotate_checkpoints(output_dir: str | os.PathLike[str], limit: int | None, best: str | None) -> list[Path]:
    """Delete the oldest checkpoints beyond ``limit``, never the best one. Returns the deleted folders."""
    if not limit or limit <= 0:
        return []
    found = sorted_checkpoints(output_dir)
    best_path = Path(best).resolve() if best else None
    keep = found[-limit:]
    if best_path is not None and all(p.resolve() != best_path for p in keep):
        keep = [p for p in found if p.resolve() == best_path] + found[-max(limit - 1, 1):]
    deleted = [p for p in found if p not in keep]
    for path in deleted:
        shutil.rmtree(path, ignore_errors=True)
    return deleted
