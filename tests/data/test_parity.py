"""Same operations on embrace.data and the reference `datasets`: same rows, same order, same features."""

from __future__ import annotations

import numpy as np
import pytest

import embrace.data as ed

hf = pytest.importorskip("datasets")
hf.disable_progress_bars()

ROWS = {
    "idx": list(range(40)),
    "text": [f"row {i} " + "x" * (i % 7) for i in range(40)],
    "score": [float(i) / 3 for i in range(40)],
    "label": [i % 3 for i in range(40)],
}


def both(features: bool = False) -> tuple[ed.Dataset, object]:
    if features:
        ours = ed.Features({"idx": ed.Value("int64"), "text": ed.Value("string"), "score": ed.Value("float32"),
                            "label": ed.ClassLabel(names=["a", "b", "c"])})
        ref = hf.Features({"idx": hf.Value("int64"), "text": hf.Value("string"), "score": hf.Value("float32"),
                           "label": hf.ClassLabel(names=["a", "b", "c"])})
        return ed.Dataset.from_dict(ROWS, features=ours), hf.Dataset.from_dict(ROWS, features=ref)
    return ed.Dataset.from_dict(ROWS), hf.Dataset.from_dict(ROWS)


def rows(ds: object) -> list[dict]:
    return [dict(r) for r in ds]  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [0, 1, 42, 1234])
def test_shuffle_same_order_as_reference(seed: int) -> None:
    ours, ref = both()
    assert ours.shuffle(seed=seed)["idx"] == list(ref.shuffle(seed=seed)["idx"])
    # shuffling a shuffled, filtered dataset composes indices the same way
    a = ours.shuffle(seed=seed).filter(lambda e: e["idx"] % 2 == 0).shuffle(seed=seed + 1)
    b = ref.shuffle(seed=seed).filter(lambda e: e["idx"] % 2 == 0).shuffle(seed=seed + 1)
    assert a["idx"] == list(b["idx"])


def test_shuffle_with_generator_matches() -> None:
    ours, ref = both()
    assert ours.shuffle(generator=np.random.default_rng(7))["idx"] == list(
        ref.shuffle(generator=np.random.default_rng(7))["idx"])


@pytest.mark.parametrize(("test_size", "train_size"), [(0.25, None), (0.1, None), (7, None), (None, 0.6),
                                                       (0.2, 0.5), (5, 20)])
def test_train_test_split_same_rows(test_size: float | int | None, train_size: float | int | None) -> None:
    ours, ref = both()
    a = ours.train_test_split(test_size=test_size, train_size=train_size, seed=3)
    b = ref.train_test_split(test_size=test_size, train_size=train_size, seed=3)
    assert a["train"]["idx"] == list(b["train"]["idx"])
    assert a["test"]["idx"] == list(b["test"]["idx"])


def test_train_test_split_no_shuffle_and_errors() -> None:
    ours, ref = both()
    a = ours.train_test_split(test_size=0.3, shuffle=False)
    b = ref.train_test_split(test_size=0.3, shuffle=False)
    assert a["test"]["idx"] == list(b["test"]["idx"])
    with pytest.raises(ValueError):
        ours.train_test_split(test_size=1.5)
    with pytest.raises(ValueError):
        ours.train_test_split(test_size=0.3, stratify_by_column="idx")  # not a ClassLabel


@pytest.mark.parametrize("seed", [0, 5, 99])
def test_stratified_split_same_rows(seed: int) -> None:
    ours, ref = both(features=True)
    a = ours.train_test_split(test_size=0.3, stratify_by_column="label", seed=seed)
    b = ref.train_test_split(test_size=0.3, stratify_by_column="label", seed=seed)
    assert a["train"]["idx"] == list(b["train"]["idx"])
    assert a["test"]["idx"] == list(b["test"]["idx"])


@pytest.mark.parametrize("contiguous", [True, False])
def test_shard_same_rows(contiguous: bool) -> None:
    ours, ref = both()
    for index in range(3):
        assert ours.shard(3, index, contiguous=contiguous)["idx"] == list(
            ref.shard(3, index, contiguous=contiguous)["idx"])


@pytest.mark.parametrize("strategy", ["first_exhausted", "all_exhausted", "all_exhausted_without_replacement"])
@pytest.mark.parametrize("probabilities", [None, [0.2, 0.5, 0.3]])
def test_interleave_same_rows(strategy: str, probabilities: list[float] | None) -> None:
    sizes = [5, 9, 3]
    ours = [ed.Dataset.from_dict({"v": [f"{k}-{i}" for i in range(n)]}) for k, n in enumerate(sizes)]
    refs = [hf.Dataset.from_dict({"v": [f"{k}-{i}" for i in range(n)]}) for k, n in enumerate(sizes)]
    a = ed.interleave_datasets(ours, probabilities=probabilities, seed=11, stopping_strategy=strategy)
    b = hf.interleave_datasets(refs, probabilities=probabilities, seed=11, stopping_strategy=strategy)
    assert a["v"] == list(b["v"])


def test_concatenate_same_rows() -> None:
    ours, ref = both()
    a = ed.concatenate_datasets([ours.select(range(3)), ours.shuffle(seed=1).select(range(4))])
    b = hf.concatenate_datasets([ref.select(range(3)), ref.shuffle(seed=1).select(range(4))])
    assert rows(a) == rows(b)
    extra = ed.Dataset.from_dict({"other": list(range(40))})
    assert ed.concatenate_datasets([ours, extra], axis=1).column_names == [*ROWS, "other"]


def test_map_variants_match() -> None:
    ours, ref = both()
    cases = [
        dict(function=lambda e: {"n": len(e["text"])}),
        dict(function=lambda e, i: {"i2": i * 2}, with_indices=True),
        dict(function=lambda b: {"up": [t.upper() for t in b["text"]]}, batched=True, batch_size=7),
        dict(function=lambda b: {"n": b["idx"] * 2}, batched=True, remove_columns=["idx", "text", "score", "label"],
             batch_size=None),
        dict(function=lambda t, k: {"t": t + k}, input_columns="text", fn_kwargs={"k": "!"}),
        dict(function=lambda b: {"idx": [x for x in b["idx"] for _ in range(2)]}, batched=True,
             remove_columns=["text", "score", "label"]),
        dict(function=lambda e: {"idx": e["idx"] + 100}),
        dict(function=None, remove_columns="score"),
    ]
    for kwargs in cases:
        a, b = ours.map(**kwargs), ref.map(**kwargs)
        assert a.column_names == b.column_names, kwargs
        assert rows(a) == rows(b), kwargs


def _delete_text(example: dict) -> dict:
    del example["text"]
    return example


def _assign_idx(batch: dict) -> dict:
    batch["idx"] = [0] * len(batch["idx"])
    batch["new"] = batch["score"]
    return batch


def test_map_returning_its_edited_input_matches() -> None:
    """Returning the input object itself: remove_columns and deleted keys win (the reference's rule)."""
    ours, ref = both()
    for kwargs in [dict(function=_delete_text), dict(function=_delete_text, batched=True),
                   dict(function=_assign_idx, batched=True, remove_columns=["idx", "label"]),
                   dict(function=lambda e: e, remove_columns=["score"]),
                   dict(function=lambda b: b, batched=True, batch_size=9, remove_columns="text")]:
        a, b = ours.map(**kwargs), ref.map(**kwargs)
        assert a.column_names == b.column_names, kwargs
        assert rows(a) == rows(b), kwargs


def test_filter_variants_match() -> None:
    ours, ref = both()
    for kwargs in [dict(function=lambda e: e["label"] == 1), dict(function=lambda e, i: i % 3 == 0, with_indices=True),
                   dict(function=lambda b: [x > 20 for x in b["idx"]], batched=True, batch_size=6),
                   dict(function=lambda s: s < 5, input_columns="score")]:
        assert rows(ours.filter(**kwargs)) == rows(ref.filter(**kwargs))


def test_column_operations_match() -> None:
    ours, ref = both()
    assert rows(ours.sort("label")) == rows(ref.sort("label"))
    assert rows(ours.sort(["label", "score"], reverse=[True, False])) == rows(
        ref.sort(["label", "score"], reverse=[True, False]))
    assert ours.unique("label") == ref.unique("label")
    assert rows(ours.rename_column("text", "t")) == rows(ref.rename_column("text", "t"))
    assert rows(ours.rename_columns({"text": "t", "idx": "i"})) == rows(ref.rename_columns({"text": "t", "idx": "i"}))
    assert rows(ours.remove_columns(["text"])) == rows(ref.remove_columns(["text"]))
    assert rows(ours.select_columns(["score", "idx"])) == rows(ref.select_columns(["score", "idx"]))
    assert rows(ours.select([5, 1, 1, 30])) == rows(ref.select([5, 1, 1, 30]))
    assert rows(ours.add_column("new", list(range(40, 0, -1)))) == rows(ref.add_column("new", list(range(40, 0, -1))))
    encoded, ref_encoded = ours.map(lambda e: {"s": "abc"[e["label"]]}), ref.map(lambda e: {"s": "abc"[e["label"]]})
    a, b = encoded.class_encode_column("s"), ref_encoded.class_encode_column("s")
    assert a.features["s"].names == b.features["s"].names
    assert a["s"] == list(b["s"])
    cast_a = ours.cast_column("score", ed.Value("float16"))
    cast_b = ref.cast_column("score", hf.Value("float16"))
    assert cast_a["score"] == list(cast_b["score"])
    with pytest.raises(ValueError):
        ours.remove_columns("nope")
    with pytest.raises(ValueError):
        ours.rename_column("text", "idx")


def test_nested_features_flatten_and_dict() -> None:
    data = {"a": [{"b": 1, "c": [1.0, 2.0]}, {"b": 2, "c": []}], "t": ["x", "y"]}
    ours, ref = ed.Dataset.from_dict(data), hf.Dataset.from_dict(data)
    assert ours.features.to_dict() == ref.features.to_dict()
    assert rows(ours.flatten()) == rows(ref.flatten())
    assert ours.flatten().column_names == ref.flatten().column_names


def test_features_to_dict_like_reference() -> None:
    ours = ed.Features({"v": ed.Value("float"), "l": ed.ClassLabel(names=["n", "p"]),
                        "s": ed.Sequence(ed.Value("int32")), "f": ed.List(ed.Value("string"), length=2),
                        "d": {"x": ed.Value("bool")}, "sd": ed.Sequence({"q": ed.Value("int8")})})
    ref = hf.Features({"v": hf.Value("float"), "l": hf.ClassLabel(names=["n", "p"]),
                       "s": hf.Sequence(hf.Value("int32")), "f": hf.List(hf.Value("string"), length=2),
                       "d": {"x": hf.Value("bool")}, "sd": hf.Sequence({"q": hf.Value("int8")})})
    assert ours.to_dict() == ref.to_dict()
    assert ours.arrow_schema.remove_metadata() == ref.arrow_schema.remove_metadata()
    assert ed.Features.from_dict(ref.to_dict()).to_dict() == ref.to_dict()
    label = ed.ClassLabel(names=["neg", "pos"])
    assert label.str2int("pos") == 1 and label.int2str(0) == "neg" and label.str2int(["neg", "pos"]) == [0, 1]
    assert ed.ClassLabel(num_classes=3).names == ["0", "1", "2"]


def test_formats_match_reference() -> None:
    import torch

    data = {"x": [[1, 2], [3, 4], [5, 6]], "y": [0.5, 1.5, 2.5], "s": ["a", "b", "c"], "r": [[1], [1, 2], []]}
    ours, ref = ed.Dataset.from_dict(data), hf.Dataset.from_dict(data)
    for fmt in ["numpy", "torch"]:
        a, b = ours.with_format(fmt), ref.with_format(fmt)
        for key in [0, slice(0, 2)]:
            ra, rb = a[key], b[key]
            assert set(ra) == set(rb)
            for col in ["x", "y"]:
                va, vb = ra[col], rb[col]
                if fmt == "torch":
                    assert isinstance(va, torch.Tensor) and va.dtype == vb.dtype and torch.equal(va, vb)
                else:
                    assert va.dtype == vb.dtype and np.array_equal(va, vb)
            assert list(ra["s"]) == list(rb["s"]) if not isinstance(ra["s"], str) else ra["s"] == rb["s"]
    a, b = ours.with_format("numpy", columns=["y"]), ref.with_format("numpy", columns=["y"])
    assert list(a[0]) == list(b[0])
    assert ours.with_format("pandas")[:2].equals(ref.with_format("pandas")[:2])
    assert ours.with_format("arrow")[:2].equals(ref.with_format("arrow")[:2])
    assert ours.to_pandas().equals(ref.to_pandas())
    assert ours.to_dict() == ref.to_dict() and ours.to_list() == ref.to_list()
    a_all = ours.with_format("torch", columns=["y"], output_all_columns=True)[0]
    assert a_all["s"] == "a" and isinstance(a_all["y"], torch.Tensor)


def test_iter_batches_match() -> None:
    ours, ref = both()
    assert list(ours.iter(batch_size=16)) == list(ref.iter(batch_size=16))
    assert list(ours.iter(batch_size=16, drop_last_batch=True)) == list(ref.iter(batch_size=16, drop_last_batch=True))
    assert ours[-1] == ref[-1]
    assert ours[3:40:5] == ref[3:40:5]


def test_from_list_pandas_generator_match() -> None:
    listed = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert rows(ed.Dataset.from_list(listed)) == rows(hf.Dataset.from_list(listed))
    frame = ed.Dataset.from_list(listed).to_pandas()
    assert rows(ed.Dataset.from_pandas(frame)) == rows(hf.Dataset.from_pandas(frame))

    def gen(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield {"i": i, "sq": [i] * (i % 3)}

    assert rows(ed.Dataset.from_generator(gen, gen_kwargs={"n": 2500})) == rows(
        hf.Dataset.from_generator(gen, gen_kwargs={"n": 2500}))


def test_save_to_disk_interop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ours, ref = both(features=True)
    ours.shuffle(seed=3).save_to_disk(tmp_path / "ours")
    loaded_by_ref = hf.load_from_disk(str(tmp_path / "ours"))
    assert rows(loaded_by_ref) == rows(ref.shuffle(seed=3))
    assert loaded_by_ref.features.to_dict() == ref.features.to_dict()
    ref.save_to_disk(str(tmp_path / "ref"))
    loaded = ed.load_from_disk(tmp_path / "ref")
    assert isinstance(loaded, ed.Dataset)
    assert rows(loaded) == rows(ref) and loaded.features.to_dict() == ref.features.to_dict()
    hf.DatasetDict({"train": ref, "test": ref.select(range(3))}).save_to_disk(str(tmp_path / "refdict"))
    loaded_dict = ed.load_from_disk(tmp_path / "refdict")
    assert isinstance(loaded_dict, ed.DatasetDict) and loaded_dict.num_rows == {"train": 40, "test": 3}


@pytest.mark.parametrize("epoch", [0, 1, 4])
def test_streaming_buffer_shuffle_same_order_as_reference(epoch: int) -> None:
    def gen(n: int = 50):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield {"v": i}

    ours = ed.IterableDataset.from_generator(gen).shuffle(seed=42, buffer_size=8)
    ref = hf.IterableDataset.from_generator(gen).shuffle(seed=42, buffer_size=8)
    ours.set_epoch(epoch)
    ref.set_epoch(epoch)
    assert [r["v"] for r in ours] == [r["v"] for r in ref]
    assert [r["v"] for r in ed.IterableDataset.from_generator(gen, gen_kwargs={"n": 5})] == list(range(5))
