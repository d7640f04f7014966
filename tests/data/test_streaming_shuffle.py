"""Streaming ``IterableDataset.shuffle`` over several shards: the reference's exact row order for a seed (shard
order shuffle, round-robin feeding of the buffer from up to ``max_buffer_input_shards`` shard groups, the buffer
permutation, epochs, take/skip fixing the shard order)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import embrace.data as ed

hf = pytest.importorskip("datasets")
hf.disable_progress_bars()


def _rows(n: list[int]):  # type: ignore[no-untyped-def]
    for shard in n:
        for j in range(shard % 7 + 3):
            yield {"v": shard * 100 + j}


def _both(n_shards: int) -> tuple[ed.IterableDataset, object]:
    kwargs = {"n": list(range(n_shards))}  # one shard per list item; each call gets a one-item list
    ours = ed.IterableDataset.from_generator(_gen, gen_kwargs=kwargs)
    ref = hf.IterableDataset.from_generator(_gen, gen_kwargs=kwargs)
    return ours, ref


def _gen(n: list[int]):  # type: ignore[no-untyped-def]
    yield from _rows(n)


def _values(stream) -> list[int]:  # type: ignore[no-untyped-def]
    return [row["v"] for row in stream]


@pytest.mark.parametrize(("n_shards", "buffer_size", "seed"), [(1, 5, 0), (4, 7, 1), (10, 16, 2), (25, 9, 3),
                                                              (23, 1000, 4), (37, 3, 5)])
def test_multi_shard_shuffle_matches_the_reference_order(n_shards: int, buffer_size: int, seed: int) -> None:
    ours, ref = _both(n_shards)
    assert ours.n_shards == ref.n_shards == n_shards
    assert _values(ours.shuffle(seed=seed, buffer_size=buffer_size)) == _values(
        ref.shuffle(seed=seed, buffer_size=buffer_size))


def test_max_buffer_input_shards_generator_and_epochs() -> None:
    ours, ref = _both(17)
    for kwargs in ({"max_buffer_input_shards": 1}, {"max_buffer_input_shards": 4}, {"max_buffer_input_shards": 30}):
        assert _values(ours.shuffle(seed=9, buffer_size=6, **kwargs)) == _values(
            ref.shuffle(seed=9, buffer_size=6, **kwargs))
    a = ours.shuffle(generator=np.random.default_rng(11), buffer_size=5)
    b = ref.shuffle(generator=np.random.default_rng(11), buffer_size=5)
    assert _values(a) == _values(b) == _values(b)  # the generator is copied: same order every iteration
    for epoch in (1, 2, 5):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        assert _values(a) == _values(b)


def test_map_before_shuffle_runs_per_shard_group_and_take_skip_fix_the_order() -> None:
    ours, ref = _both(14)

    def double(batch):  # type: ignore[no-untyped-def]
        return {"v": [v * 2 for v in batch["v"]]}

    assert _values(ours.map(double, batched=True, batch_size=4).shuffle(seed=1, buffer_size=8)) == _values(
        ref.map(double, batched=True, batch_size=4).shuffle(seed=1, buffer_size=8))
    assert _values(ours.take(40).shuffle(seed=2, buffer_size=8)) == _values(ref.take(40).shuffle(seed=2, buffer_size=8))
    assert _values(ours.skip(5).shuffle(seed=3, buffer_size=4)) == _values(ref.skip(5).shuffle(seed=3, buffer_size=4))
    twice_ours = ours.shuffle(seed=4, buffer_size=5).shuffle(seed=5, buffer_size=9)
    twice_ref = ref.shuffle(seed=4, buffer_size=5).shuffle(seed=5, buffer_size=9)
    assert _values(twice_ours) == _values(twice_ref)
    taken_ours, taken_ref = ours.shuffle(seed=6, buffer_size=5).take(11), ref.shuffle(seed=6, buffer_size=5).take(11)
    for epoch in (0, 3):
        taken_ours.set_epoch(epoch)
        taken_ref.set_epoch(epoch)
        assert _values(taken_ours) == _values(taken_ref)


def test_streaming_files_shuffle_matches_the_reference(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(12):
        rows = "".join(json.dumps({"v": i * 100 + j}) + "\n" for j in range(i % 5 + 2))
        (folder / f"train-{i:02d}.jsonl").write_text(rows)
    files = sorted(str(p) for p in folder.glob("*.jsonl"))
    ours = ed.load_dataset("json", data_files=files, split="train", streaming=True)
    ref = hf.load_dataset("json", data_files=files, split="train", streaming=True)
    assert ours.n_shards == ref.n_shards == 12
    assert _values(ours.shuffle(seed=42, buffer_size=10)) == _values(ref.shuffle(seed=42, buffer_size=10))
