"""load_dataset on files and folders (parity with the reference), streaming, torch DataLoader, bad rows."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import embrace.data as ed

hf = pytest.importorskip("datasets")
hf.disable_progress_bars()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rows(ds: object) -> list[dict]:
    return [dict(r) for r in ds]  # type: ignore[attr-defined]


def csv_text(start: int, n: int) -> str:
    return "id,name,score\n" + "".join(f"{i},name {i},{i / 4}\n" for i in range(start, start + n))


def test_each_format_matches_reference(tmp_path: Path) -> None:
    csv = write(tmp_path / "f.csv", csv_text(0, 30))
    jsonl = write(tmp_path / "f.jsonl", "".join(json.dumps({"a": i, "b": [i] * (i % 3), "c": {"d": str(i)}}) + "\n"
                                               for i in range(25)))
    text = write(tmp_path / "f.txt", "first line\nsecond\n\nfourth\n")
    whole = write(tmp_path / "whole.json", json.dumps([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]))
    ed.Dataset.from_dict({"v": [1.5, 2.5]}).to_parquet(tmp_path / "f.parquet")
    for builder, files, kwargs in [("csv", csv, {}), ("json", jsonl, {}), ("text", text, {}), ("json", whole, {}),
                                   ("parquet", tmp_path / "f.parquet", {}),
                                   ("text", text, {"sample_by": "paragraph"})]:
        ours = ed.load_dataset(builder, data_files=str(files), split="train", **kwargs)
        ref = hf.load_dataset(builder, data_files=str(files), split="train", **kwargs)
        assert rows(ours) == rows(ref), builder
        assert ours.features.to_dict() == ref.features.to_dict(), builder
    ed.Dataset.from_dict({"v": [1, 2]}).save_to_disk(tmp_path / "saved")
    arrow_file = next((tmp_path / "saved").glob("*.arrow"))
    assert ed.load_dataset("arrow", data_files=str(arrow_file), split="train")["v"] == [1, 2]


@pytest.mark.parametrize("layout", [
    {"train.csv": (0, 10), "test.csv": (100, 4)},
    {"data/train.csv": (0, 5), "data/validation.csv": (50, 3), "data/test.csv": (80, 2)},
    {"train/a.csv": (0, 3), "train/b.csv": (3, 3), "test/c.csv": (9, 2)},
    {"my_train_0.csv": (0, 3), "my_train_1.csv": (3, 2), "my-dev.csv": (20, 2)},
    {"data/train-00000-of-00002.csv": (0, 3), "data/train-00001-of-00002.csv": (3, 3),
     "data/test-00000-of-00001.csv": (9, 1)},
    {"stuff.csv": (0, 6), "more.csv": (6, 2)},
])
def test_folder_splits_match_reference(tmp_path: Path, layout: dict[str, tuple[int, int]]) -> None:
    for name, (start, n) in layout.items():
        write(tmp_path / "repo" / name, csv_text(start, n))
    write(tmp_path / "repo" / "README.md", "# readme\n")
    ours = ed.load_dataset(str(tmp_path / "repo"))
    ref = hf.load_dataset(str(tmp_path / "repo"))
    assert list(ours) == list(ref)
    for split in ref:
        assert rows(ours[split]) == rows(ref[split])


def test_data_files_dict_split_slices_and_reload(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", csv_text(0, 40))
    write(tmp_path / "b.csv", csv_text(40, 10))
    dd = ed.load_dataset("csv", data_files={"train": str(tmp_path / "a.csv"), "test": [str(tmp_path / "b.csv")]})
    assert isinstance(dd, ed.DatasetDict) and dd.num_rows == {"train": 40, "test": 10}
    assert dd["train"].cache_files, "loaded splits are memory-mapped Arrow files"
    part = ed.load_dataset("csv", data_files=str(tmp_path / "a.csv"), split="train[5:10]")
    ref = hf.load_dataset("csv", data_files=str(tmp_path / "a.csv"), split="train[5:10]")
    assert rows(part) == rows(ref)
    pct = ed.load_dataset("csv", data_files=str(tmp_path / "a.csv"), split="train[:25%]")
    assert pct["id"] == list(range(10))
    glob_ds = ed.load_dataset("csv", data_files=str(tmp_path / "*.csv"), split="train")
    assert len(glob_ds) == 50
    features = ed.Features({"id": ed.Value("int32"), "name": ed.Value("string"), "score": ed.Value("float32")})
    typed = ed.load_dataset("csv", data_files=str(tmp_path / "a.csv"), split="train", features=features)
    assert typed.features.to_dict() == features.to_dict()
    with pytest.raises(ed.DatasetNotFoundError):
        ed.load_dataset("csv", data_files=str(tmp_path / "missing.csv"))
    with pytest.raises(ed.DatasetNotFoundError):
        ed.load_dataset(str(tmp_path / "no_such_folder"))


def test_bad_rows_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", "a,b\n1,x\n2,y,extra\n3,z\n4,\x01garbled\n")
    with pytest.warns(ed.BadRowsWarning) as record:
        ds = ed.load_dataset("csv", data_files=str(path), split="train")
    assert ds["a"] == [1, 3, 4]
    reasons = [r[2] for r in ds.info["bad_rows"]]
    assert any("expected 2 fields, found 3" in r for r in reasons)
    assert any("garbled" in r for r in reasons)
    assert "bad rows" in str(record[0].message)
    jsonl = write(tmp_path / "bad.jsonl", '{"a": 1}\n{"a": 2\n{"a": 3}\n')
    with pytest.warns(ed.BadRowsWarning):
        assert ed.load_dataset("json", data_files=str(jsonl), split="train")["a"] == [1, 3]
    with pytest.raises(ed.SchemaError):
        ed.load_dataset("csv", data_files=str(path), split="train", on_bad_lines="error", download_mode="x")


def test_schema_errors_name_the_row() -> None:
    with pytest.raises(ed.SchemaError, match="row 2"):
        ed.Dataset.from_dict({"a": [1, 2, "three", 4]})
    with pytest.raises(ed.SchemaError, match="row 1"):
        ed.Dataset.from_dict({"a": [1, 2]}, features=ed.Features({"a": ed.ClassLabel(names=["x", "y"])}))
    with pytest.raises(ed.SchemaError, match="different lengths"):
        ed.Dataset.from_dict({"a": [1, 2], "b": [1]})
    with pytest.raises(ed.SchemaError, match="row 1"):
        ed.Dataset.from_dict({"l": ["x", "nope"]}).cast_column("l", ed.ClassLabel(names=["x", "y"]))


def test_streaming_reads_lazily_and_transforms(tmp_path: Path) -> None:
    for i in range(3):
        write(tmp_path / "s" / f"train_{i}.jsonl", "".join(json.dumps({"v": i * 100 + j}) + "\n" for j in range(10)))
    stream = ed.load_dataset(str(tmp_path / "s"), streaming=True, split="train")
    assert isinstance(stream, ed.IterableDataset) and stream.n_shards == 3
    assert [r["v"] for r in stream.take(3)] == [0, 1, 2]
    assert [r["v"] for r in stream.skip(28)] == [208, 209]
    mapped = stream.map(lambda b: {"w": [v * 2 for v in b["v"]]}, batched=True, batch_size=4).filter(
        lambda e: e["v"] % 2 == 0)
    assert [r["w"] for r in mapped][:3] == [0, 4, 8]
    shuffled = [r["v"] for r in stream.shuffle(seed=0, buffer_size=8)]
    assert sorted(shuffled) == sorted(r["v"] for r in stream) and shuffled != [r["v"] for r in stream]
    assert shuffled == [r["v"] for r in stream.shuffle(seed=0, buffer_size=8)]
    (tmp_path / "s" / "train_0.jsonl").write_text('{"v": -1}\n')  # lazily read: new content is seen
    assert next(iter(stream))["v"] == -1
    gen = ed.IterableDataset.from_generator(lambda n: ({"i": i} for i in range(n)), gen_kwargs={"n": 5})
    assert list(gen.iter(batch_size=2)) == [{"i": [0, 1]}, {"i": [2, 3]}, {"i": [4]}]


def test_torch_dataloader_map_style_and_worker_sharding(tmp_path: Path) -> None:
    import torch
    from torch.utils.data import DataLoader

    ds = ed.Dataset.from_dict({"x": list(range(10)), "y": [float(i) for i in range(10)]}).with_format("torch")
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert torch.equal(batch["x"], torch.arange(4)) and batch["y"].dtype == torch.float32
    for i in range(4):
        write(tmp_path / "w" / f"part{i}.jsonl", "".join(json.dumps({"v": i * 10 + j}) + "\n" for j in range(5)))
    stream = ed.load_dataset("json", data_files=str(tmp_path / "w" / "*.jsonl"), split="train", streaming=True)
    assert isinstance(stream, torch.utils.data.IterableDataset)
    seen = [int(v) for b in DataLoader(stream, batch_size=3, num_workers=2) for v in b["v"]]
    assert sorted(seen) == sorted(i * 10 + j for i in range(4) for j in range(5))
    one_shard = ed.IterableDataset.from_generator(lambda: ({"v": i} for i in range(9)))
    seen = [int(v) for b in DataLoader(one_shard, batch_size=2, num_workers=2) for v in b["v"]]
    assert sorted(seen) == list(range(9))


@pytest.mark.slow
def test_tweets_csv_real_corpus() -> None:
    from tests.conftest import asset

    path = asset("tweets_csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dd = ed.load_dataset("csv", data_files=str(path), encoding="latin-1")
    dd = dd.class_encode_column("sentiment")
    train = dd["train"]
    assert train.num_rows == 38158
    assert train.features["sentiment"].names == ["negative", "neutral", "positive"]
    counts = {name: 0 for name in train.features["sentiment"].names}
    for label in train["sentiment"]:
        counts[train.features["sentiment"].int2str(label)] += 1
    assert counts == {"negative": 16186, "neutral": 15018, "positive": 6954}
    bad = [w for w in caught if issubclass(w.category, ed.BadRowsWarning)]
    assert bad and len(train.info["bad_rows"]) > 1000  # garbled (mis-encoded) tweets are listed, and kept
    assert all("garbled" in reason for _src, _row, reason, _text in train.info["bad_rows"])
    split = train.train_test_split(test_size=0.1, stratify_by_column="sentiment", seed=0)
    assert split.num_rows == {"train": 34342, "test": 3816}


@pytest.mark.slow
def test_spam_assassin_emails_real_corpus() -> None:
    from tests.conftest import asset

    root = asset("spam_assassin") / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ed.BadRowsWarning)
        ds = ed.load_dataset("json", data_files=str(root / "*" / "*.json"), split="train")
    ds = ds.map(lambda e: {"label": "spam" if e["group"].startswith("spam") else "ham"})
    ds = ds.class_encode_column("label")
    assert isinstance(ds.features["label"], ed.ClassLabel) and ds.features["label"].names == ["ham", "spam"]
    assert len(ds) == 6046
    labels = ds["label"]
    assert labels.count(0) == 4150 and labels.count(1) == 1896
    dd = ds.train_test_split(test_size=0.2, stratify_by_column="label", seed=1)
    assert abs(dd["test"]["label"].count(1) / len(dd["test"]) - 1896 / 6046) < 0.01


def test_csv_streams_lazily_and_recovers_from_late_type_changes(tmp_path: Path) -> None:
    lines = ["id,code"] + [f"{i},{i}" for i in range(20_000)] + ["20000,not-a-number"]
    path = write(tmp_path / "late.csv", "\n".join(lines) + "\n")
    ds = ed.load_dataset("csv", data_files=str(path), split="train", block_size=1 << 16)
    assert ds.features["code"].dtype == "large_string" and ds["code"][-1] == "not-a-number" and len(ds) == 20_001
    assert ds.features["id"].dtype == "int64"
    stream = ed.load_dataset("csv", data_files=str(path), split="train", streaming=True, block_size=1 << 16)
    assert [r["id"] for r in stream.take(2)] == [0, 1]  # the first block is enough: no full read
    with pytest.raises(ed.SchemaError, match="code"):
        list(stream)
