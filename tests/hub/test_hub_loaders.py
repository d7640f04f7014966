"""embrace's own loaders resolve hub repo ids through the hub client: load_dataset("org/data") downloads the
dataset repo from `embrace hub serve`, then works offline from the cache."""

from __future__ import annotations

import pytest
from hub_helpers import HubServer

from embrace.hub import HfApi


def test_embrace_load_dataset_from_the_hub_then_offline(online: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    data = pytest.importorskip("embrace.data")
    api = HfApi()
    api.create_repo("acme/loader-data", repo_type="dataset", exist_ok=True)
    api.upload_file(path_or_fileobj=b"text,label\nhello,1\nbye,0\n", path_in_repo="data/train.csv",
                    repo_id="acme/loader-data", repo_type="dataset")
    ds = data.load_dataset("acme/loader-data", split="train")
    assert ds.to_list() == [{"text": "hello", "label": 1}, {"text": "bye", "label": 0}]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    again = data.load_dataset("acme/loader-data", split="train")
    assert again.to_list() == ds.to_list()
