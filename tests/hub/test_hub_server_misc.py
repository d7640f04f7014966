"""The web page, the CLI, token storage, push_folder_to_hub and tree pagination."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from hub_helpers import HubServer
from starlette.testclient import TestClient

from embrace.cli import main
from embrace.hub import HfApi, get_token, hf_hub_download, login, logout, push_folder_to_hub
from embrace.hub.errors import RepositoryNotFoundError


def test_web_page_lists_public_repos_and_renders_the_card(online: HubServer) -> None:
    import httpx

    api = HfApi()
    api.create_repo("alice/web-public", exist_ok=True)
    api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# Card title\n<script>alert(1)</script>\n",
                    path_in_repo="README.md", repo_id="alice/web-public")
    api.create_repo("alice/web-hidden", private=True, exist_ok=True)
    index = httpx.get(online.url + "/").text
    assert "alice/web-public" in index and "alice/web-hidden" not in index
    page = httpx.get(online.url + "/alice/web-public").text
    assert "<strong>Card title</strong>" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert "README.md" in page and "license: mit" not in page
    assert "No such public repo" in httpx.get(online.url + "/alice/web-hidden").text


def test_login_saves_token_atomically_and_hf_token_wins(online: HubServer, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("HF_TOKEN")
    assert get_token() is None
    info = login(online.tokens["bob"])
    assert info is not None and info["name"] == "bob"
    token_file = tmp_path / "hf_home" / "token"
    assert token_file.read_text() == online.tokens["bob"]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert HfApi().whoami()["name"] == "bob"
    monkeypatch.setenv("HF_TOKEN", online.tokens["alice"])
    assert HfApi().whoami()["name"] == "alice"
    logout()
    assert not token_file.exists()


def test_cli_download_upload_login_whoami(online: HubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "a.json").write_text("{}")
    (folder / "b.txt").write_text("b")
    assert main(["hub", "upload", "alice/cli-repo", str(folder), "--commit-message", "cli"]) == 0
    assert main(["download", "alice/cli-repo", "--include", "*.json", "--local-dir", str(tmp_path / "dl")]) == 0
    assert (tmp_path / "dl/a.json").read_text() == "{}" and not (tmp_path / "dl/b.txt").exists()
    assert main(["download", "alice/cli-repo", "b.txt"]) == 0
    assert capsys.readouterr().out.strip().endswith("b.txt")
    assert main(["hub", "login", "--token", online.tokens["alice"]]) == 0
    assert main(["hub", "whoami"]) == 0
    assert '"name": "alice"' in capsys.readouterr().out
    assert main(["download", "alice/cli-missing"]) == 1  # a typed error, reported without a traceback


def test_cli_user_management(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from embrace.hub.server.sqlite_store import SQLiteStorage

    data = tmp_path / "data"
    assert main(["hub", "adduser", "carol", "--data", str(data), "--org", "team"]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["hub", "token", "carol", "--data", str(data), "--role", "read"]) == 0
    read_token = capsys.readouterr().out.strip()
    store = SQLiteStorage(data / "hub.sqlite3")
    found = store.lookup_token(token)
    assert found is not None and found.role == "write"
    found_read = store.lookup_token(read_token)
    assert found_read is not None and found_read.role == "read"
    user = store.get_user("carol")
    assert user is not None and user.orgs == ("team",)
    assert main(["hub", "token", "nobody", "--data", str(data)]) == 1


def test_push_folder_to_hub_creates_private_repo_and_branch(online: HubServer, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    info = push_folder_to_hub(folder, "push-helper", commit_message="checkpoint 1", private=True, revision="ckpts")
    assert "/alice/push-helper/commit/" in info.commit_url
    path = hf_hub_download("alice/push-helper", "config.json", revision="ckpts")
    assert Path(path).read_text() == '{"model_type": "bert"}'
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("alice/push-helper", token=False)
    again = push_folder_to_hub(folder, "alice/push-helper", commit_message="same", revision="ckpts")
    assert again.oid == info.oid  # nothing changed, nothing committed


def test_tree_pagination_follows_link_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from embrace.hub.server import read_routes
    from embrace.hub.server.app import create_app
    from embrace.hub.server.sqlite_store import SQLiteStorage

    store = SQLiteStorage(tmp_path / "hub.sqlite3")
    store.create_user("alice")
    token = store.create_token("alice")
    store.close()
    monkeypatch.setattr(read_routes, "PAGE_SIZE", 2)
    client = TestClient(create_app(tmp_path))
    auth = {"authorization": f"Bearer {token}"}
    assert client.post("/api/repos/create", json={"name": "paged"}, headers=auth).status_code == 200
    lines = ['{"key": "header", "value": {"summary": "s"}}'] + [
        f'{{"key": "file", "value": {{"path": "d/f{i}.txt", "content": "eA==", "encoding": "base64"}}}}'
        for i in range(5)]
    assert client.post("/api/models/alice/paged/commit/main", content="\n".join(lines), headers=auth).status_code == 200
    seen, url = [], "/api/models/alice/paged/tree/main?recursive=true"
    while url:
        page = client.get(url)
        seen += [item["path"] for item in page.json()]
        url = page.links.get("next", {}).get("url")
    assert seen == [".gitattributes", "d", "d/f0.txt", "d/f1.txt", "d/f2.txt", "d/f3.txt", "d/f4.txt"]
    sub = client.get("/api/models/alice/paged/tree/main/d").json()
    assert len(sub) == 2  # pages of 2 on a sub-folder
    assert client.get("/api/models/alice/paged/tree/main/nope").headers["X-Error-Code"] == "EntryNotFound"
    refs = client.get("/api/models/alice/paged/revision/refs%2Fpr%2F9").headers["X-Error-Code"]
    assert refs == "RevisionNotFound"


def test_gc_removes_only_unreferenced_blobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from embrace.hub.server.app import create_app
    from embrace.hub.server.sqlite_store import SQLiteStorage

    store = SQLiteStorage(tmp_path / "hub.sqlite3")
    store.create_user("alice")
    token = store.create_token("alice")
    client = TestClient(create_app(tmp_path))
    auth = {"authorization": f"Bearer {token}"}
    for name, files in (("keep", ["shared", "kept only"]), ("drop", ["shared", "dropped only"])):
        assert client.post("/api/repos/create", json={"name": name}, headers=auth).status_code == 200
        lines = ['{"key": "header", "value": {"summary": "s"}}'] + [
            f'{{"key": "file", "value": {{"path": "f{i}.txt", "content": "{base64.b64encode(c.encode()).decode()}"}}}}'
            for i, c in enumerate(files)]
        assert client.post(f"/api/models/alice/{name}/commit/main", content="\n".join(lines),
                           headers=auth).status_code == 200
    assert client.request("DELETE", "/api/repos/delete", json={"name": "drop"}, headers=auth).status_code == 200
    blobs = {p.name for p in (tmp_path / "blobs").glob("*/*/*")}
    assert main(["hub", "gc", "--data", str(tmp_path)]) == 0
    assert "removed 1 unreferenced blob(s)" in capsys.readouterr().out
    left = {p.name for p in (tmp_path / "blobs").glob("*/*/*")}
    assert left == blobs - {hashlib.sha256(b"dropped only").hexdigest()}
    assert client.get("/alice/keep/resolve/main/f0.txt").content == b"shared"
    assert client.get("/alice/keep/resolve/main/f1.txt").content == b"kept only"
