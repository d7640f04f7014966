"""``Dataset.push_to_hub`` / ``DatasetDict.push_to_hub`` against `embrace hub serve`: parquet shards in a dataset
repo that ``load_dataset("org/name")`` reads back through the resolver (features included), re-pushing a split
replaces its shards, and the reference ``datasets`` library loads the same repo."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.hub.hub_helpers import HubServer, run_reference

from embrace.data import ClassLabel, Dataset, DatasetDict, Features, Value, load_dataset
from embrace.data.hub_push import PushToHubError
from embrace.hub import HfApi

FEATURES = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"]),
                     "scores": [Value("float32")]})


def _rows(n: int, start: int = 0) -> dict[str, list]:
    return {"text": [f"row {i}" for i in range(start, start + n)], "label": [i % 2 for i in range(start, start + n)],
            "scores": [[float(i), 0.5] for i in range(start, start + n)]}


def test_dataset_dict_round_trip_through_the_hub(online: HubServer) -> None:
    data = DatasetDict({"train": Dataset.from_dict(_rows(10), features=FEATURES),
                        "test": Dataset.from_dict(_rows(4, 100), features=FEATURES)})
    info = data.push_to_hub("acme/pushed", num_shards={"train": 3}, commit_message="first push")
    files = sorted(HfApi().list_repo_files("acme/pushed", repo_type="dataset"))
    assert files == [".gitattributes", "README.md", "data/test-00000-of-00001.parquet",
                     "data/train-00000-of-00003.parquet", "data/train-00001-of-00003.parquet",
                     "data/train-00002-of-00003.parquet"]
    assert info.oid == HfApi().dataset_info("acme/pushed").sha
    loaded = load_dataset("acme/pushed")
    assert sorted(loaded) == ["test", "train"]
    assert loaded["train"].to_dict() == data["train"].to_dict()
    assert loaded["test"].to_dict() == data["test"].to_dict()
    assert loaded["train"].features["label"].names == ["neg", "pos"]  # ClassLabel survives

    # re-pushing one split replaces its shards and leaves the other split alone
    Dataset.from_dict(_rows(5, 50), features=FEATURES).push_to_hub("acme/pushed", split="train")
    after = set(HfApi().list_repo_files("acme/pushed", repo_type="dataset"))
    assert "data/train-00000-of-00001.parquet" in after and "data/train-00001-of-00003.parquet" not in after
    assert "data/test-00000-of-00001.parquet" in after
    again = load_dataset("acme/pushed", split="train")
    assert again["text"] == [f"row {i}" for i in range(50, 55)]


def test_shard_size_private_repo_and_card(online: HubServer) -> None:
    ds = Dataset.from_dict({"x": list(range(2000))})
    ds.push_to_hub("alice/sharded", max_shard_size="5KB", private=True)
    api = HfApi()
    shards = [f for f in api.list_repo_files("alice/sharded", repo_type="dataset") if f.endswith(".parquet")]
    assert len(shards) == 4  # 16 KB of int64 in 5 KB shards
    assert api.dataset_info("alice/sharded").private
    card = Path(api.hf_hub_download("alice/sharded", "README.md", repo_type="dataset")).read_text()
    assert '"split": "train"' in card and "data/train-*" in card
    assert load_dataset("alice/sharded", split="train")["x"] == list(range(2000))


@pytest.mark.parametrize(("kwargs", "message"), [({"split": "bad split"}, "Split name"),
                                                 ({"num_shards": 0}, "num_shards")])
def test_bad_arguments(online: HubServer, kwargs: dict, message: str) -> None:
    with pytest.raises(PushToHubError, match=message):
        Dataset.from_dict({"x": [1]}).push_to_hub("alice/bad-push", **kwargs)


LOAD = r"""
import json
from datasets import load_dataset
ds = load_dataset("acme/for-reference")
print(json.dumps({"splits": sorted(ds), "rows": ds["train"].to_dict(), "names": ds["train"].features["label"].names}))
"""


@pytest.mark.slow
def test_reference_datasets_loads_the_pushed_repo(online: HubServer, tmp_path: Path) -> None:
    data = DatasetDict({"train": Dataset.from_dict(_rows(6), features=FEATURES),
                        "validation": Dataset.from_dict(_rows(2, 9), features=FEATURES)})
    data.push_to_hub("acme/for-reference")
    out = run_reference(LOAD, endpoint=online.url, hf_home=tmp_path / "ref_home", timeout=240,
                        extra_env={"HF_HUB_DISABLE_XET": ""})
    assert out["splits"] == ["train", "validation"] and out["names"] == ["neg", "pos"]
    assert out["rows"] == data["train"].to_dict()
