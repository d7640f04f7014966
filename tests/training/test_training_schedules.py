"""LR schedules: identical values to transformers.get_scheduler for every schedule, with and without warmup."""

from __future__ import annotations

import pytest
import torch

from embrace.training.arguments import TrainingArguments
from embrace.training.schedules import SchedulerConfigError, get_scheduler

CASES = [
    ("linear", {}), ("cosine", {}), ("cosine", {"num_cycles": 1.5}), ("cosine_with_restarts", {"num_cycles": 3}),
    ("polynomial", {}), ("polynomial", {"lr_end": 1e-5, "power": 2.0}), ("constant", {}),
    ("constant_with_warmup", {}), ("inverse_sqrt", {}), ("inverse_sqrt", {"timescale": 7}),
    ("cosine_with_min_lr", {"min_lr": 1e-5}),
]


def _lrs(factory, name, warmup, total, kwargs):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1e-3)
    scheduler = factory(name, optimizer, num_warmup_steps=warmup, num_training_steps=total,
                        scheduler_specific_kwargs=dict(kwargs))
    values = []
    for _ in range(total + 3):
        values.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return values


@pytest.mark.parametrize("warmup", [0, 4])
@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_schedule_values_equal_reference(name, kwargs, warmup):
    from transformers import get_scheduler as ref_get_scheduler

    ours = _lrs(get_scheduler, name, warmup, 20, kwargs)
    ref = _lrs(ref_get_scheduler, name, warmup, 20, kwargs)
    assert ours == ref


def test_scheduler_state_round_trips():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = get_scheduler("cosine", opt, num_warmup_steps=2, num_training_steps=10)
    for _ in range(5):
        opt.step()
        sched.step()
    opt2 = torch.optim.SGD([param], lr=1.0)
    sched2 = get_scheduler("cosine", opt2, num_warmup_steps=2, num_training_steps=10)
    sched2.load_state_dict(sched.state_dict())
    opt2.load_state_dict(opt.state_dict())
    opt.step(), sched.step(), opt2.step(), sched2.step()
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_bad_scheduler_inputs():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    with pytest.raises(SchedulerConfigError, match="unknown lr_scheduler_type"):
        get_scheduler("cosine_forever", opt, 0, 10)
    with pytest.raises(SchedulerConfigError, match="num_training_steps"):
        get_scheduler("linear", opt, 0, None)
    with pytest.raises(SchedulerConfigError, match="lr_end"):
        get_scheduler("polynomial", opt, 0, 10, {"lr_end": 1.0})


@pytest.mark.parametrize(("kwargs", "total"), [({"warmup_steps": 5}, 100), ({"warmup_steps": 0.1}, 95),
                                               ({"warmup_ratio": 0.25}, 10), ({}, 10)])
def test_warmup_steps_and_ratio(kwargs, total, tmp_path):
    from transformers import TrainingArguments as RefArgs

    ours = TrainingArguments(output_dir=str(tmp_path), **kwargs)
    ref_kwargs = dict(kwargs)
    if "warmup_ratio" in ref_kwargs:  # transformers 5 reads warmup_steps < 1 as the ratio
        ref_kwargs["warmup_steps"] = ref_kwargs.pop("warmup_ratio")
    ref = RefArgs(output_dir=str(tmp_path), **ref_kwargs)
    assert ours.get_warmup_steps(total) == ref.get_warmup_steps(total)
