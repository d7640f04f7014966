"""Multi-process data parallelism shared by the ``Trainer`` and the ``Accelerator``.

Launch a script with ``torchrun --nproc_per_node=N script.py``: torchrun sets ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` and :func:`DistributedState.from_env` joins the process group
(``nccl`` on CUDA, ``gloo`` on CPU). A single process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) needs nothing.

Data is split by *global* batches: every rank draws the same seeded order, cuts it into batches of
``per_device_batch_size * world_size`` and takes its contiguous slice of each, so N ranks see exactly the
examples one process with the global batch size would see, step for step.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedState:
    """Who this process is: ``rank`` of ``world_size`` (``local_rank`` on this machine) and its ``device``."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main_process(self) -> bool:
        return self.rank == 0

    @property
    def is_local_main_process(self) -> bool:
        return self.local_rank == 0

    @classmethod
    def from_env(cls, use_cpu: bool = False, backend: str | None = None) -> DistributedState:
        """Read torchrun's variables and join (or reuse) the default process group."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() and not use_cpu
        device = torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device()) if use_cuda \
            else torch.device("cpu")
        if world_size > 1 and not dist.is_initialized():
            if use_cuda:
                torch.cuda.set_device(device)
            dist.init_process_group(backend or ("nccl" if use_cuda else "gloo"))
            atexit.register(_destroy)
        if dist.is_initialized():
            world_size, rank = dist.get_world_size(), dist.get_rank()
        return cls(world_size, rank, local_rank, device)

    # ---- collectives (no-ops in a single process) ----------------------------------------------------------
    def all_reduce_sum(self, value: float | int) -> float:
        if not self.enabled:
            return float(value)
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(tensor)
        return float(tensor.item())

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")

    # ---- data ------------------------------------------------------------------------------------------------
    def shard_global_batches(self, order: list[int], per_device: int) -> list[list[int]]:
        """Cut ``order`` into global batches of ``per_device * world_size`` and return this rank's slice of each.
        A short last batch is split as evenly as possible; one with fewer examples than ranks is dropped, as
        every rank must run the same number of steps."""
        batches = []
        for start in range(0, len(order), per_device * self.world_size):
            batch = order[start:start + per_device * self.world_size]
            if len(batch) < self.world_size:
                break
            share, extra = divmod(len(batch), self.world_size)
            first = self.rank * share + min(self.rank, extra)
            batches.append(batch[first:first + share + (self.rank < extra)])
        return batches


def _destroy() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
