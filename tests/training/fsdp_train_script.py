"""Run by test_training_fsdp.py under ``torchrun --nproc_per_node=2`` (CPU, gloo): the DDP test's Trainer run with
``fsdp="full_shard auto_wrap"``, then a resume of its step-2 checkpoint with another sharding (``shard_grad_op``,
one unit), then the Accelerator test's hand-written loop with ``ACCELERATE_USE_FSDP=true``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.training import accelerate_script, ddp_train_script


def main(output_dir: str) -> None:
    out = Path(output_dir)
    ddp_train_script.main(str(out / "fsdp"), 2, 2, fsdp="full_shard auto_wrap")
    ddp_train_script.main(str(out / "resumed"), 2, 2, fsdp="shard_grad_op", fsdp_config={"auto_wrap_policy": "NO_WRAP"},
                          resume=str(out / "fsdp" / "checkpoint-2"))
    os.environ["ACCELERATE_USE_FSDP"] = "true"
    accelerate_script.main(str(out / "accelerate"), 4, 2)


if __name__ == "__main__":
    main(sys.argv[1])
