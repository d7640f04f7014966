"""Fingerprint-keyed cache of map/filter: reuse on identical calls, never a wrong hit, atomic files, size cap."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import embrace.data as ed
from embrace.data.caching import enforce_size_cap
from embrace.data.errors import UnhashableFunctionWarning

OFFSET = 1


def disk_dataset(tmp_path: Path, n: int = 50) -> ed.Dataset:
    ed.Dataset.from_dict({"x": list(range(n))}).save_to_disk(tmp_path / "base")
    loaded = ed.load_from_disk(tmp_path / "base")
    assert isinstance(loaded, ed.Dataset)
    return loaded


def counting(example: dict) -> dict:
    with open(os.environ["EMBRACE_TEST_CALLS"], "a") as handle:
        handle.write(".")
    return {"y": example["x"] * 2}


def calls(path: Path) -> int:
    return len(path.read_text()) if path.exists() else 0


def test_identical_map_is_loaded_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = disk_dataset(tmp_path)
    log = tmp_path / "calls.txt"
    monkeypatch.setenv("EMBRACE_TEST_CALLS", str(log))
    first = ds.map(counting)
    assert calls(log) == 50 and first["y"] == [2 * x for x in range(50)]
    again = ds.map(counting)
    assert calls(log) == 50, "second identical map must come from the cache"
    assert again._fingerprint == first._fingerprint and again["y"] == first["y"]
    assert again.cache_files[0]["filename"].startswith(str(tmp_path / "base"))
    ds.map(counting, load_from_cache_file=False)
    assert calls(log) == 100
    filtered = ds.filter(lambda e: e["x"] % 5 == 0)
    assert ds.filter(lambda e: e["x"] % 5 == 0)["x"] == filtered["x"] == list(range(0, 50, 5))


def test_changed_closure_global_or_args_never_hit(tmp_path: Path) -> None:
    global OFFSET
    ds = disk_dataset(tmp_path)

    def make(k: int):  # type: ignore[no-untyped-def]
        return lambda e: {"y": e["x"] + k}

    assert ds.map(make(1))["y"][:3] == [1, 2, 3]
    assert ds.map(make(2))["y"][:3] == [2, 3, 4]

    def uses_global(e: dict) -> dict:
        return {"y": e["x"] + OFFSET}

    assert ds.map(uses_global)["y"][0] == 1
    OFFSET = 10
    try:
        assert ds.map(uses_global)["y"][0] == 10
    finally:
        OFFSET = 1
    assert ds.map(lambda e, k: {"y": e["x"] * k}, fn_kwargs={"k": 3})["y"][1] == 3
    assert ds.map(lambda e, k: {"y": e["x"] * k}, fn_kwargs={"k": 4})["y"][1] == 4
    batched = ds.map(lambda b: {"y": [len(b["x"])] * len(b["x"])}, batched=True, batch_size=10)
    assert ds.map(lambda b: {"y": [len(b["x"])] * len(b["x"])}, batched=True, batch_size=20)["y"][0] == 20
    assert batched["y"][0] == 10


def test_unhashable_function_warns_and_is_not_cached(tmp_path: Path) -> None:
    ds = disk_dataset(tmp_path)
    lock = threading.Lock()

    def locked(e: dict) -> dict:
        with lock:
            return {"y": e["x"]}

    with pytest.warns(UnhashableFunctionWarning):
        a = ds.map(locked)
    with pytest.warns(UnhashableFunctionWarning):
        b = ds.map(locked)
    assert a._fingerprint != b._fingerprint
    assert a["y"] == b["y"] == list(range(50))


def test_fingerprint_is_the_same_in_another_process(tmp_path: Path) -> None:
    script = tmp_path / "fp.py"
    script.write_text(textwrap.dedent(f"""
        import embrace.data as ed
        ds = ed.load_from_disk({str(tmp_path / 'base')!r})
        k = 3
        print(ds.map(lambda e: {{"y": e["x"] * k}}, batched=False)._fingerprint)
    """))
    disk_dataset(tmp_path)
    outs = {subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout.split()[-1]
            for _ in range(2)}
    assert len(outs) == 1


def test_cleanup_cache_files_and_size_cap(tmp_path: Path) -> None:
    ds = disk_dataset(tmp_path)
    ds.map(lambda e: {"a": 1})
    second = ds.map(lambda e: {"b": 2})
    folder = str(tmp_path / "base")
    assert len(glob.glob(os.path.join(folder, "cache-*.arrow"))) == 2
    assert second.cleanup_cache_files() == 1
    assert glob.glob(os.path.join(folder, "cache-*.arrow")) == [second.cache_files[0]["filename"]]
    assert second["b"][:2] == [2, 2]
    for i in range(3):  # files another process left: not in use here, so the cap may evict them (oldest first)
        path = Path(folder) / f"cache-junk{i}.arrow"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1000 + i, 1000 + i))
    removed = enforce_size_cap(folder, cap=os.path.getsize(second.cache_files[0]["filename"]) + 1500)
    assert [os.path.basename(p) for p in removed] == ["cache-junk0.arrow", "cache-junk1.arrow"]
    assert os.path.exists(second.cache_files[0]["filename"])


KILL_SCRIPT = """
import os, sys, time
import embrace.data as ed

def slow(batch):
    if os.environ.get("SLEEP_AT") and batch["x"][0] >= int(os.environ["SLEEP_AT"]):
        print("MID", flush=True)
        time.sleep(120)
    return {"y": [v * 3 for v in batch["x"]]}

ds = ed.load_from_disk(sys.argv[1])
out = ds.map(slow, batched=True, batch_size=500, writer_batch_size=500)
print("FP", out._fingerprint, out.cache_files[0]["filename"], sum(out["y"]), flush=True)
"""


def test_killed_map_leaves_no_trusted_cache_file(tmp_path: Path) -> None:
    ed.Dataset.from_dict({"x": list(range(20_000))}).save_to_disk(tmp_path / "big")
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "SLEEP_AT": "10000"}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "big")], stdout=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "MID"
    partial = glob.glob(str(tmp_path / "big" / "cache-*.arrow.incomplete-*"))
    assert partial and os.path.getsize(partial[0]) > 0, "the half-written result must exist only as a temp file"
    assert not glob.glob(str(tmp_path / "big" / "cache-*.arrow"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    env.pop("SLEEP_AT")
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "big")], capture_output=True, text=True,
                          env=env, check=True).stdout.split()
    assert done[0] == "FP" and int(done[3]) == 3 * sum(range(20_000))
    loaded = ed.load_from_disk(tmp_path / "big")
    assert isinstance(loaded, ed.Dataset)
    assert loaded.cleanup_cache_files() >= 2  # the finished cache file and the killed run's leftover
    assert not glob.glob(str(tmp_path / "big" / "*incomplete*"))


def test_num_proc_uses_worker_processes(tmp_path: Path) -> None:
    ds = disk_dataset(tmp_path, n=101)
    out = ds.map(lambda e: {"pid": os.getpid(), "y": e["x"] + 1}, num_proc=2)
    assert out["y"] == [x + 1 for x in range(101)]
    assert len(set(out["pid"])) == 2 and os.getpid() not in out["pid"]
    assert len(out.cache_files) == 2
    with_idx = ds.map(lambda b, idx: {"i": idx}, batched=True, batch_size=7, with_indices=True, num_proc=2)
    assert with_idx["i"] == list(range(101))
    assert ds.filter(lambda e: e["x"] % 10 == 0, num_proc=2)["x"] == list(range(0, 101, 10))
