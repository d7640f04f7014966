"""Fixtures of the hub tests: a session-wide `embrace hub serve` subprocess and a client environment for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_helpers import MULTIPART_CHUNK, HubServer, make_server, point_client_at


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> HubServer:
    # 5 MiB parts (S3's minimum, as the Hub): the LFS-sized uploads of the suite go through multipart
    server = make_server(tmp_path_factory.mktemp("hubdata"), multipart_chunk_size=MULTIPART_CHUNK)
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def online(hub: HubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HubServer:
    """embrace's client pointed at the test hub, with a fresh cache and alice's token."""
    return point_client_at(hub, monkeypatch, tmp_path / "hf_home")
