"""DDP through torchrun: 2 CPU processes (gloo) with per-device batch b train to the same weights, losses and
eval metrics as one process with batch 2b, with no distributed code in the user's script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.training._helpers import assert_same_run, torchrun

from embrace.training.distributed import DistributedState

SCRIPT = Path(__file__).with_name("ddp_train_script.py")


def test_two_process_ddp_equals_one_process_with_the_global_batch(tmp_path: Path) -> None:
    from tests.training.ddp_train_script import main

    torchrun(SCRIPT, 2, str(tmp_path / "ddp"), "2", "2")
    main(str(tmp_path / "single"), 4, 2)
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    assert_same_run(ddp, single)
    # only rank 0 writes checkpoints and logs; every rank's RNG state is in the checkpoint
    checkpoint = ddp / "checkpoint-2"
    assert {"rng_state.pth", "rng_state_0.pth", "rng_state_1.pth", "optimizer.pt"} <= {p.name for p in checkpoint.iterdir()}
    log = (ddp / "runs" / "log_history.jsonl").read_text().splitlines()
    assert len(log) == len(json.loads((ddp / "history.json").read_text()))
    assert not list(ddp.glob(".checkpoint-*"))


@pytest.mark.parametrize(("n", "world", "per_device", "expected"), [
    (8, 2, 2, [[[0, 1], [4, 5]], [[2, 3], [6, 7]]]),
    (7, 2, 2, [[[0, 1], [4, 5]], [[2, 3], [6]]]),       # short last batch split as evenly as possible
    (9, 2, 2, [[[0, 1], [4, 5]], [[2, 3], [6, 7]]]),    # a last batch smaller than the world is dropped
    (10, 3, 2, [[[0, 1], [6, 7]], [[2, 3], [8]], [[4, 5], [9]]]),
])
def test_global_batches_are_sliced_per_rank(n: int, world: int, per_device: int, expected: list) -> None:
    for rank in range(world):
        state = DistributedState(world_size=world, rank=rank)
        assert state.shard_global_batches(list(range(n)), per_device) == expected[rank]


def test_single_process_state_needs_no_process_group() -> None:
    state = DistributedState.from_env()
    assert not state.enabled and state.is_main_process
    assert state.all_reduce_sum(3) == 3.0 and state.gather_objects("x") == ["x"]
