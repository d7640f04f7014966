"""``Accelerator`` in a hand-written loop: 2 torchrun processes (gloo) with batch b equal one process with batch
2b; gather_for_metrics returns every eval example once and in order; save_state/load_state round-trips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from embrace.training.accelerator import Accelerator
from embrace.training.callbacks import TrainerError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("accelerate_script.py")


def test_two_processes_equal_one_with_the_global_batch(tmp_path: Path) -> None:
    from tests.training.accelerate_script import build, main, rows

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT),
           str(tmp_path / "ddp"), "4", "2"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert proc.stdout.count("done 2") == 1  # accelerator.print: main process only
    main(str(tmp_path / "single"), 8, 2)
    ddp, single = (torch.load(tmp_path / name / "result.pt") for name in ("ddp", "single"))
    for key, value in single["weights"].items():
        assert torch.allclose(ddp["weights"][key], value, atol=1e-5, rtol=0), key
    assert ddp["lr"] == pytest.approx(single["lr"])
    assert ddp["losses"] == pytest.approx(single["losses"], abs=1e-5)  # same global batch, step by step
    # eval: 13 examples in batches of 3 over 2 processes -> a padded last round, dropped by gather_for_metrics
    assert ddp["predictions"].shape == (13, 2)
    assert torch.allclose(ddp["predictions"], single["predictions"], atol=1e-5)
    assert ddp["labels"].tolist() == [row["label"] for row in rows(13, 5)]
    assert {p.name for p in (tmp_path / "ddp" / "state").iterdir()} >= {
        "model.bin", "optimizer.bin", "scheduler.bin", "random_states_0.pkl", "random_states_1.pkl"}

    # load_state restores weights, optimizer moments and the scheduler into freshly prepared objects
    accelerator, model, optimizer, _, _, scheduler = build(8, 2)
    accelerator.load_state(tmp_path / "single" / "state")
    for key, value in single["weights"].items():
        assert torch.equal(model.state_dict()[key], value), key
    assert scheduler.get_last_lr() == pytest.approx(single["lr"])
    assert all("exp_avg" in s for s in optimizer.state_dict()["state"].values())


def test_accumulation_skips_steps_until_the_cycle_ends() -> None:
    from tests.training._helpers import tiny_classifier

    accelerator = Accelerator(gradient_accumulation_steps=3)
    model = tiny_classifier()
    optimizer = accelerator.prepare(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.classifier.weight.clone()
    synced = []
    for _ in range(3):
        with accelerator.accumulate(model):
            accelerator.backward(model(input_ids=torch.tensor([[2, 7, 9]]), labels=torch.tensor([1])).loss)
            optimizer.step()
            synced.append(accelerator.sync_gradients)
            if not accelerator.sync_gradients:
                assert torch.equal(model.classifier.weight, before)
    assert synced == [False, False, True] and not torch.equal(model.classifier.weight, before)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(TrainerError, match="mixed_precision"):
        Accelerator(mixed_precision="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(TrainerError, match="bf16"):
            Accelerator(mixed_precision="fp16")
    with pytest.raises(TrainerError, match="gradient_accumulation_steps"):
        Accelerator(gradient_accumulation_steps=0)


def test_bf16_autocast_inside_accumulate() -> None:
    accelerator = Accelerator(mixed_precision="bf16")
    layer = accelerator.prepare(torch.nn.Linear(4, 4))
    with accelerator.accumulate(layer):
        assert layer(torch.ones(2, 4, device=accelerator.device)).dtype == torch.bfloat16
