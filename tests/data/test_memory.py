"""A few hundred MB on disk is written, iterated and mapped with flat private memory (the data stays mapped).

Memory-mapped pages that were read count in a process's RSS as *file* pages (clean page cache the kernel can drop
at any time); what must stay small is the *anonymous* memory (RssAnon) that the process itself allocates.
bench/bench_data_memory.py runs the same measurement on a 2 GB dataset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    import embrace.data as ed

    def anon_mb():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        return 0.0

    folder, target_mb = sys.argv[1], int(sys.argv[2])
    row_text = "lorem ipsum dolor sit amet " * 38  # ~1 KB per row
    n = target_mb * 1024

    def rows():
        for i in range(n):
            yield {"id": i, "text": row_text + str(i)}

    base = anon_mb()
    peak = {"write": 0.0, "iterate": 0.0, "map": 0.0}
    ds = ed.Dataset.from_generator(rows, writer_batch_size=2000)
    peak["write"] = anon_mb() - base
    ds.save_to_disk(folder)
    ds = ed.load_from_disk(folder)
    start = anon_mb()
    total = 0
    for batch in ds.iter(batch_size=5000):
        total += sum(len(t) for t in batch["text"])
        peak["iterate"] = max(peak["iterate"], anon_mb() - start)
    state = {"peak": 0.0}

    def lengths(batch):
        state["peak"] = max(state["peak"], anon_mb() - start)
        return {"n": [len(t) for t in batch["text"]]}

    mapped = ds.map(lengths, batched=True, batch_size=2000, remove_columns=["text"])
    peak["map"] = state["peak"]
    assert len(mapped) == n and mapped[n - 1]["n"] == len(row_text + str(n - 1))
    size = sum(__import__("os").path.getsize(f["filename"]) for f in ds.cache_files)
    print(json.dumps({"bytes_on_disk": size, "peak_anon_mb": peak, "rows": n, "chars": total}))
""")


@pytest.mark.slow
def test_large_dataset_iterate_and_map_with_flat_memory(tmp_path: Path) -> None:
    script = tmp_path / "mem.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "big"), "250"], capture_output=True, text=True,
                         check=True, env={"HF_DATASETS_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["bytes_on_disk"] > 240 * 1024**2
    for phase, grown in report["peak_anon_mb"].items():
        assert grown < 150, f"{phase} grew private memory by {grown:.0f} MB for a {report['bytes_on_disk'] >> 20} MB set"
