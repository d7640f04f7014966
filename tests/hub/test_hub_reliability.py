"""Reliability of `embrace hub serve`: concurrent downloads and commits, killed uploads, restarts, and
rejection of path traversal, oversized headers and bad tokens."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from hub_helpers import HubServer, make_server, point_client_at

from embrace.hub import HfApi, hf_hub_download
from embrace.hub.errors import HubHTTPError


@pytest.fixture(scope="module")
def own_hub(tmp_path_factory: pytest.TempPathFactory) -> HubServer:
    server = make_server(tmp_path_factory.mktemp("reliable"))
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def client_env(own_hub: HubServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> HubServer:
    return point_client_at(own_hub, monkeypatch, tmp_path / "home")


def _auth(server: HubServer) -> dict[str, str]:
    return {"authorization": f"Bearer {server.tokens['alice']}"}


def test_50_concurrent_downloads_are_all_intact(client_env: HubServer, tmp_path: Path) -> None:
    api = HfApi()
    api.create_repo("alice/many", exist_ok=True)
    data = os.urandom(1_500_000)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id="alice/many")
    digest = hashlib.sha256(data).hexdigest()

    def fetch(i: int) -> str:
        # half the clients share one cache (file locks), half have their own
        cache = tmp_path / ("shared" if i % 2 else f"c{i}")
        return hashlib.sha256(Path(hf_hub_download("alice/many", "w.bin", cache_dir=cache)).read_bytes()).hexdigest()

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(fetch, range(50)))
    assert results == [digest] * 50
    assert not list((tmp_path / "shared").rglob("*.incomplete"))


def test_10_concurrent_commits_one_wins_per_parent_and_retries_land(client_env: HubServer) -> None:
    api = HfApi()
    api.create_repo("alice/race", exist_ok=True)
    parent = api.model_info("alice/race").sha

    def commit(i: int) -> int | None:
        try:
            api.upload_file(path_or_fileobj=f"file {i}".encode(), path_in_repo=f"f{i}.txt", repo_id="alice/race",
                            parent_commit=parent)
        except HubHTTPError as exc:
            return exc.status_code
        return 200

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(commit, range(10)))
    assert sorted(statuses) == [200] + [412] * 9  # type: ignore[type-var]

    def commit_with_retry(i: int) -> None:
        for _ in range(50):
            head = api.model_info("alice/race").sha
            try:
                api.upload_file(path_or_fileobj=f"retry {i}".encode(), path_in_repo=f"r{i}.txt",
                                repo_id="alice/race", parent_commit=head)
                return
            except HubHTTPError as exc:
                assert exc.status_code == 412
        raise AssertionError("never won the race")

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(commit_with_retry, range(10)))
    files = set(api.list_repo_files("alice/race"))
    assert {f"r{i}.txt" for i in range(10)} <= files and len(files & {f"f{i}.txt" for i in range(10)}) == 1
    assert len(api.list_repo_commits("alice/race")) == 12  # initial + 1 winner + 10 retried
    for i in range(10):
        assert Path(hf_hub_download("alice/race", f"r{i}.txt")).read_bytes() == f"retry {i}".encode()


def _signed_upload(server: HubServer, repo: str, data: bytes) -> tuple[str, str]:
    oid = hashlib.sha256(data).hexdigest()
    batch = httpx.post(f"{server.url}/{repo}.git/info/lfs/objects/batch", headers=_auth(server), json={
        "operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]})
    batch.raise_for_status()
    return oid, batch.json()["objects"][0]["actions"]["upload"]["href"]


def _send_partial_put(href: str, data: bytes) -> socket.socket:
    url = urlparse(href)
    sock = socket.create_connection((url.hostname, url.port))
    head = (f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {len(data)}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    sock.sendall(head + data[: len(data) // 2])
    return sock


def _commit_lfs(server: HubServer, repo: str, oid: str, size: int) -> httpx.Response:
    lines = [{"key": "header", "value": {"summary": "lfs"}},
             {"key": "lfsFile", "value": {"path": "big.bin", "algo": "sha256", "oid": oid, "size": size}}]
    body = "\n".join(json.dumps(line) for line in lines)
    return httpx.post(f"{server.url}/api/models/{repo}/commit/main", headers=_auth(server), content=body)


def test_killed_upload_leaves_nothing_visible(client_env: HubServer) -> None:
    HfApi().create_repo("alice/killed", exist_ok=True)
    data = os.urandom(3_000_000)
    oid, href = _signed_upload(client_env, "alice/killed", data)
    sock = _send_partial_put(href, data)
    sock.close()  # the client dies mid-upload
    blob = client_env.data / "blobs" / oid[:2] / oid[2:4] / oid
    httpx.get(f"{client_env.url}/api/models", timeout=5)  # let the server notice the disconnect
    assert not blob.exists()
    refused = _commit_lfs(client_env, "alice/killed", oid, len(data))
    assert refused.status_code == 400
    # a full upload to the same URL then succeeds and can be committed
    assert httpx.put(href, content=data).status_code == 200
    assert _commit_lfs(client_env, "alice/killed", oid, len(data)).status_code == 200
    assert hashlib.sha256(Path(hf_hub_download("alice/killed", "big.bin")).read_bytes()).hexdigest() == oid
    # a PUT whose bytes do not hash to the signed oid is refused
    assert httpx.put(href, content=os.urandom(len(data))).status_code == 400


def test_server_killed_mid_upload_then_restart_keeps_everything(client_env: HubServer, tmp_path: Path) -> None:
    api = HfApi()
    api.create_repo("alice/durable", exist_ok=True)
    api.upload_file(path_or_fileobj=b"kept", path_in_repo="kept.txt", repo_id="alice/durable")
    api.create_tag("alice/durable", tag="v1")
    before = api.model_info("alice/durable").sha
    data = os.urandom(2_000_000)
    oid, href = _signed_upload(client_env, "alice/durable", data)
    sock = _send_partial_put(href, data)
    assert client_env.process is not None
    client_env.process.send_signal(signal.SIGKILL)
    client_env.process.wait(10)
    sock.close()
    client_env.process = None
    client_env.start()
    assert not list((client_env.data / "tmp").iterdir())  # partial upload swept at start-up
    assert not (client_env.data / "blobs" / oid[:2] / oid[2:4] / oid).exists()
    assert api.model_info("alice/durable").sha == before
    assert api.list_repo_refs("alice/durable").tags[0].target_commit == before
    assert api.whoami()["name"] == "alice"  # tokens survive too
    fresh = Path(hf_hub_download("alice/durable", "kept.txt", revision="v1", cache_dir=tmp_path / "after"))
    assert fresh.read_bytes() == b"kept"


def test_path_traversal_is_rejected(client_env: HubServer) -> None:
    HfApi().create_repo("alice/traverse", exist_ok=True)
    for bad in ("../evil.txt", "a/../../evil.txt", "/abs.txt", ".git/config", "a//b.txt"):
        lines = [{"key": "header", "value": {"summary": "x"}},
                 {"key": "file", "value": {"path": bad, "content": "eA==", "encoding": "base64"}}]
        response = httpx.post(f"{client_env.url}/api/models/alice/traverse/commit/main", headers=_auth(client_env),
                              content="\n".join(json.dumps(line) for line in lines))
        assert response.status_code == 400, bad
    for raw in ("/alice/traverse/resolve/main/..%2F..%2Fhub.sqlite3", "/alice/traverse/resolve/main/%2e%2e/secret.key",
                "/alice/traverse/resolve/main/a/%2E%2E/%2E%2E/%2E%2E/secret.key"):
        response = httpx.get(client_env.url + raw)
        assert response.status_code in (400, 404) and b"SQLite" not in response.content
    assert not (client_env.data.parent / "evil.txt").exists()


def test_oversized_headers_and_bad_tokens_are_rejected(client_env: HubServer) -> None:
    huge = httpx.get(f"{client_env.url}/api/models", headers={"X-Big": "a" * 100_000})
    assert huge.status_code in (400, 431)
    assert httpx.get(f"{client_env.url}/api/models").status_code == 200  # still serving
    for header in ("Bearer hf_forged", "Bearer", "Basic dXNlcjpwdw==", "hf_no_scheme"):
        response = httpx.get(f"{client_env.url}/api/whoami-v2", headers={"authorization": header})
        assert response.status_code == 401, header
        created = httpx.post(f"{client_env.url}/api/repos/create", headers={"authorization": header},
                             json={"name": "forged"})
        assert created.status_code == 401, header
    HfApi().create_repo("alice/signed", exist_ok=True)
    href = _signed_upload(client_env, "alice/signed", b"abc")[1]
    assert httpx.put(href.replace("sig=", "sig=0"), content=b"abc").status_code == 403  # tampered signature
    assert httpx.put(href.replace("size=3", "size=4"), content=b"abcd").status_code == 403  # tampered size
