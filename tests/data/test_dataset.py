"""Dataset/DatasetDict behaviour beyond the parity table: features, transforms, hub repos, disk round trips."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import embrace.data as ed


def test_array2d_and_nested_features_round_trip(tmp_path: Path) -> None:
    features = ed.Features({"m": ed.Array2D(shape=(2, 3), dtype="float32"), "tags": ed.Sequence(ed.Value("string")),
                            "meta": {"lang": ed.Value("string"), "n": ed.Value("int32")}})
    data = {"m": [np.arange(6).reshape(2, 3), np.ones((2, 3))], "tags": [["a"], []],
            "meta": [{"lang": "en", "n": 1}, {"lang": "fr", "n": 2}]}
    ds = ed.Dataset.from_dict(data, features=features)
    assert ds.features.to_dict() == features.to_dict()
    batch = ds.with_format("numpy")[:]
    assert batch["m"].shape == (2, 2, 3) and batch["m"].dtype == np.float32
    assert ds.with_format("torch")[0]["m"].shape == (2, 3)
    ds.save_to_disk(tmp_path / "a")
    back = ed.load_from_disk(tmp_path / "a")
    assert isinstance(back, ed.Dataset) and back.features.to_dict() == features.to_dict()
    assert back[1]["meta"] == {"lang": "fr", "n": 2}
    with pytest.raises(ed.SchemaError, match="row 1"):
        ed.Dataset.from_dict({"m": [np.zeros((2, 3)), np.zeros((3, 3))]}, features=ed.Features({"m": features["m"]}))


def test_map_keeps_classlabel_and_accepts_features() -> None:
    features = ed.Features({"text": ed.Value("string"), "label": ed.ClassLabel(names=["neg", "pos"])})
    ds = ed.Dataset.from_dict({"text": ["bad", "good"], "label": ["neg", "pos"]}, features=features)
    assert ds["label"] == [0, 1]
    mapped = ds.map(lambda e: {"n": len(e["text"])})
    assert isinstance(mapped.features["label"], ed.ClassLabel)
    typed = ds.map(lambda e: {"n": len(e["text"])},
                   features=ed.Features({**features, "n": ed.Value("int16")}))
    assert typed.features["n"].dtype == "int16"
    relabeled = ds.map(lambda e: {"label": 1 - e["label"]})
    assert relabeled["label"] == [1, 0]


def test_transform_and_format_columns() -> None:
    ds = ed.Dataset.from_dict({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    shown = ds.with_transform(lambda batch: {"a2": [v * 2 for v in batch["a"]]})
    assert shown[0] == {"a2": 2} and shown[:2] == {"a2": [2, 4]}
    assert ds[0] == {"a": 1, "b": "x"}, "with_transform must not change the original"
    ds.set_format("numpy", columns=["a"])
    assert list(ds[0]) == ["a"] and ds.format["type"] == "numpy"
    ds.reset_format()
    assert ds[0] == {"a": 1, "b": "x"}
    with pytest.raises(ValueError):
        ds.set_format("numpy", columns=["nope"])
    with pytest.raises(ValueError):
        ds.with_format("tensorflow")
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(KeyError):
        ds["nope"]


def test_dataset_dict_operations_and_save(tmp_path: Path) -> None:
    dd = ed.DatasetDict({"train": ed.Dataset.from_dict({"t": ["a", "b", "c", "a"], "v": [1, 2, 3, 4]}),
                         "test": ed.Dataset.from_dict({"t": ["d"], "v": [5]})})
    encoded = dd.class_encode_column("t")
    assert encoded["train"].features["t"].names == encoded["test"].features["t"].names == ["a", "b", "c", "d"]
    assert encoded["test"]["t"] == [3]
    shuffled = dd.shuffle(seeds={"train": 1, "test": 2})
    assert sorted(shuffled["train"]["v"]) == [1, 2, 3, 4]
    mapped = dd.map(lambda e: {"w": e["v"] * 10}).filter(lambda e: e["w"] > 10)
    assert mapped.num_rows == {"train": 3, "test": 1}
    mapped.save_to_disk(tmp_path / "dd")
    back = ed.load_from_disk(tmp_path / "dd")
    assert isinstance(back, ed.DatasetDict) and back["train"]["w"] == [20, 30, 40]
    assert "train" in repr(back)
    with pytest.raises(KeyError):
        back["validation"]


def test_save_to_disk_is_atomic_and_refuses_overwriting_its_source(tmp_path: Path) -> None:
    ds = ed.Dataset.from_dict({"a": list(range(10))})
    ds.save_to_disk(tmp_path / "s")
    ds.select(range(3)).save_to_disk(tmp_path / "s")  # overwrite with a new version
    loaded = ed.load_from_disk(tmp_path / "s")
    assert isinstance(loaded, ed.Dataset) and loaded["a"] == [0, 1, 2]
    with pytest.raises(ValueError, match="memory-mapped"):
        loaded.save_to_disk(tmp_path / "s")
    assert not [p for p in os.listdir(tmp_path) if "incomplete" in p]
    (tmp_path / "s" / "state.json").write_text("{broken")
    with pytest.raises(ed.CorruptDatasetError):
        ed.load_from_disk(tmp_path / "s")


def test_hub_dataset_repo_from_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    repo = tmp_path / "hf" / "hub" / "datasets--someone--tiny"
    commit = "a" * 40
    snapshot = repo / "snapshots" / commit / "data"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    ed.Dataset.from_dict({"q": ["x", "y", "z"]}).to_parquet(snapshot / "train-00000-of-00001.parquet")
    ed.Dataset.from_dict({"q": ["t"]}).to_parquet(snapshot / "test-00000-of-00001.parquet")
    stream = ed.load_dataset("someone/tiny", split="train", streaming=True)
    assert stream.column_names == ["q"] and [r["q"] for r in stream] == ["x", "y", "z"]
    dd = ed.load_dataset("someone/tiny")
    assert dd.num_rows == {"train": 3, "test": 1}
    assert ed.load_dataset("someone/tiny", split="test")["q"] == ["t"]
    with pytest.raises(ed.DatasetNotFoundError, match="HF_HUB_OFFLINE"):
        ed.load_dataset("someone/missing")


def test_generator_and_interleave_streams() -> None:
    def gen(start: int):  # type: ignore[no-untyped-def]
        yield from ({"v": start + i} for i in range(3))

    a = ed.IterableDataset.from_generator(gen, gen_kwargs={"start": 0})
    b = ed.IterableDataset.from_generator(gen, gen_kwargs={"start": 10})
    assert [r["v"] for r in ed.interleave_datasets([a, b])] == [0, 10, 1, 11, 2, 12]
    assert [r["v"] for r in ed.concatenate_datasets([a, b])] == [0, 1, 2, 10, 11, 12]
    def gen_many(starts: list[int]):  # type: ignore[no-untyped-def]
        for start in starts:
            yield from gen(start)

    sharded = ed.IterableDataset.from_generator(gen_many, gen_kwargs={"starts": [0, 100]})
    assert sharded.n_shards == 2 and [r["v"] for r in sharded.shard(2, 1)] == [100, 101, 102]
    renamed = a.rename_column("v", "w").map(lambda e: {"x": e["w"] + 1}).select_columns(["x"])
    assert list(renamed) == [{"x": 1}, {"x": 2}, {"x": 3}]
    as_torch = next(iter(a.with_format("torch")))
    assert int(as_torch["v"]) == 0 and as_torch["v"].dtype.is_floating_point is False


def test_map_whose_first_rows_are_all_none_gets_the_later_type() -> None:
    """The reference raises TypeError when the first 1000 written values are None; we rewrite with the real type."""
    ds = ed.Dataset.from_dict({"x": list(range(3000))})
    mapped = ds.map(lambda b: {"y": [None if v < 1500 else [1.5] for v in b["x"]],
                               "z": [[] if v < 2000 else [v] for v in b["x"]]}, batched=True, batch_size=500)
    assert mapped[0] == {"x": 0, "y": None, "z": []}
    assert mapped[2500] == {"x": 2500, "y": [1.5], "z": [2500]}
    assert ed.Features(mapped.features).to_dict()["z"] == {"feature": {"dtype": "int64", "_type": "Value"},
                                                           "_type": "List"}


def test_take_skip_to_iterable_and_class_encode_after_select() -> None:
    ds = ed.Dataset.from_dict({"v": list(range(10)), "lab": list("abcabcabcd")})
    assert ds.take(3)["v"] == [0, 1, 2] and ds.skip(8)["v"] == [8, 9]
    assert ds.shuffle(seed=0).take(2)["v"] == ds.shuffle(seed=0)["v"][:2]
    stream = ds.to_iterable_dataset(num_shards=3)
    assert stream.n_shards == 3 and [r["v"] for r in stream] == list(range(10))
    encoded = ds.select([0, 1, 3]).class_encode_column("lab")  # "c" and "d" exist only outside the selection
    assert encoded.features["lab"].names == ["a", "b"] and encoded["lab"] == [0, 1, 0]
    frame = ds.to_pandas()
    typed = ed.Dataset.from_pandas(frame, features=ed.Features({"v": ed.Value("int32"),
                                                                "lab": ed.ClassLabel(names=list("abcd"))}))
    assert typed["lab"][:4] == [0, 1, 2, 0] and typed.features["v"].dtype == "int32"


def test_map_and_filter_on_empty_dataset_keep_columns() -> None:
    empty = ed.Dataset.from_dict({"a": [1, 2], "b": ["x", "y"]}).filter(lambda e: False)
    assert len(empty) == 0 and empty.column_names == ["a", "b"]
    mapped = empty.map(lambda e: {"c": 1}, remove_columns=["b"])
    assert len(mapped) == 0 and mapped.column_names == ["a"]
    assert empty.map(lambda b: b, batched=True, keep_in_memory=True).column_names == ["a", "b"]
    assert empty.train_test_split(test_size=0.5)["train"].num_rows == 0


def test_pickle_reopens_memory_maps_instead_of_copying(tmp_path: Path) -> None:
    import pickle

    ed.Dataset.from_dict({"t": ["x" * 1000] * 2000, "i": list(range(2000))}).save_to_disk(tmp_path / "p")
    ds = ed.load_from_disk(tmp_path / "p")
    assert isinstance(ds, ed.Dataset)
    for view in [ds, ds.select(range(100, 300)), ds.shuffle(seed=0).with_format("numpy", columns=["i"]),
                 ds.map(lambda e: {"j": e["i"] * 2})]:
        blob = pickle.dumps(view)
        assert len(blob) < 100_000, "a memory-mapped dataset must pickle by reference"
        back = pickle.loads(blob)
        assert len(back) == len(view) and back._fingerprint == view._fingerprint
        assert back.with_format(None)[:5] == view.with_format(None)[:5]
    in_memory = ed.Dataset.from_dict({"a": [1, 2]}).rename_column("a", "b")
    assert pickle.loads(pickle.dumps(in_memory))["b"] == [1, 2]
