"""Large tensors the loader fills are advised into transparent huge pages (src/embrace/models/huge_pages.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from embrace.models.huge_pages import advise_huge_pages, empty_huge

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
thp_available = sys.platform.startswith("linux") and THP.exists() and "[never]" not in THP.read_text()


@pytest.mark.skipif(not thp_available, reason="no transparent huge pages on this machine")
def test_large_tensor_is_advised_and_holds_its_data() -> None:
    tensor = empty_huge((1024, 4096), torch.float32)   # 16 MiB
    assert advise_huge_pages(tensor)
    tensor.copy_(torch.arange(1024 * 4096, dtype=torch.float32).view(1024, 4096))
    assert tensor[1023, 4095].item() == 1024 * 4096 - 1


def test_small_or_disabled_is_a_no_op() -> None:
    assert not advise_huge_pages(torch.empty(1000))
    code = ("import torch; from embrace.models.huge_pages import advise_huge_pages; "
            "print(advise_huge_pages(torch.empty(1 << 24)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"EMBRACE_HUGEPAGES": "0", "PATH": ""})
    assert out.stdout.strip() == "False"
