"""Learning-rate schedules: ``get_scheduler(name, optimizer, num_warmup_steps, num_training_steps)``.

Each schedule is a ``torch.optim.lr_scheduler.LambdaLR`` whose factor (multiplied by the optimizer's initial lr)
follows the reference's formulas exactly, so LR values are identical step for step. The factor functions are
module-level ``functools.partial`` objects, so schedulers pickle and their ``state_dict`` round-trips for resume.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from embrace.errors import EmbraceError


class SchedulerConfigError(EmbraceError, ValueError):
    """An unknown schedule name, or a schedule missing the step counts it needs."""


def _warmup(step: int, warmup: int) -> float:
    return float(step) / float(max(1, warmup))


def _constant(step: int) -> float:
    return 1.0


def _constant_with_warmup(step: int, *, num_warmup_steps: int) -> float:
    return _warmup(step, num_warmup_steps) if step < num_warmup_steps else 1.0


def _linear(step: int, *, num_warmup_steps: int, num_training_steps: int) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))


def _progress(step: int, warmup: int, total: int) -> float:
    return float(step - warmup) / float(max(1, total - warmup))


def _cosine(step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float = 0.5,
            min_lr_rate: float = 0.0) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    progress = _progress(step, num_warmup_steps, num_training_steps)
    factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    if min_lr_rate:
        factor = factor * (1 - min_lr_rate) + min_lr_rate
    return max(0.0, factor)


def _cosine_with_restarts(step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: int = 1) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    progress = _progress(step, num_warmup_steps, num_training_steps)
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))


def _polynomial(step: int, *, num_warmup_steps: int, num_training_steps: int, lr_end: float, power: float,
                lr_init: float) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    if step > num_training_steps:
        return lr_end / lr_init
    remaining = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
    return ((lr_init - lr_end) * remaining**power + lr_end) / lr_init


def _inverse_sqrt(step: int, *, num_warmup_steps: int, timescale: int) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    shift = timescale - num_warmup_steps
    return 1.0 / math.sqrt((step + shift) / timescale)


SCHEDULER_NAMES = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                   "inverse_sqrt", "cosine_with_min_lr")


def get_scheduler(
    name: str,
    optimizer: Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    scheduler_specific_kwargs: dict[str, Any] | None = None,
) -> LambdaLR:
    """A ``LambdaLR`` for schedule ``name`` (one of ``SCHEDULER_NAMES``).

    ``scheduler_specific_kwargs``: ``num_cycles`` (cosine, cosine_with_restarts), ``lr_end``/``power``
    (polynomial, defaults 1e-7 and 1.0), ``timescale`` (inverse_sqrt, default ``num_warmup_steps or 10000``),
    ``min_lr_rate``/``min_lr`` (cosine_with_min_lr).
    """
    name = str(getattr(name, "value", name))
    if name not in SCHEDULER_NAMES:
        raise SchedulerConfigError(f"unknown lr_scheduler_type {name!r}; choose one of {', '.join(SCHEDULER_NAMES)}")
    extra = dict(scheduler_specific_kwargs or {})
    if name == "constant":
        return LambdaLR(optimizer, _constant)
    if num_warmup_steps is None:
        raise SchedulerConfigError(f"schedule {name!r} needs num_warmup_steps (pass 0 for no warmup)")
    factor: Callable[[int], float]
    if name == "constant_with_warmup":
        factor = partial(_constant_with_warmup, num_warmup_steps=num_warmup_steps)
    elif name == "inverse_sqrt":
        timescale = extra.pop("timescale", None) or (num_warmup_steps or 10_000)
        factor = partial(_inverse_sqrt, num_warmup_steps=num_warmup_steps, timescale=timescale, **extra)
    else:
        if num_training_steps is None:
            raise SchedulerConfigError(f"schedule {name!r} needs num_training_steps")
        steps = {"num_warmup_steps": num_warmup_steps, "num_training_steps": num_training_steps}
        if name == "linear":
            factor = partial(_linear, **steps, **extra)
        elif name == "cosine":
            factor = partial(_cosine, **steps, **extra)
        elif name == "cosine_with_min_lr":
            lr_init = float(optimizer.defaults["lr"])
            if "min_lr" in extra:
                extra["min_lr_rate"] = extra.pop("min_lr") / lr_init
            if "min_lr_rate" not in extra:
                raise SchedulerConfigError("cosine_with_min_lr needs min_lr or min_lr_rate in scheduler_specific_kwargs")
            factor = partial(_cosine, **steps, **extra)
        elif name == "cosine_with_restarts":
            factor = partial(_cosine_with_restarts, **steps, **extra)
        else:  # polynomial
            lr_init = float(optimizer.defaults["lr"])
            lr_end = float(extra.pop("lr_end", 1e-7))
            if lr_init <= lr_end:
                raise SchedulerConfigError(f"polynomial schedule: lr_end ({lr_end}) must be smaller than lr ({lr_init})")
            factor = partial(_polynomial, **steps, lr_end=lr_end, power=float(extra.pop("power", 1.0)),
                             lr_init=lr_init, **extra)
    return LambdaLR(optimizer, factor)
