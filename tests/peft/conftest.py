"""One torch thread for the adapter tests: tiny models on a shared 2-core machine run faster without intra-op
thread contention."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
