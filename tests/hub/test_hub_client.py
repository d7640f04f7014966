"""embrace's own hub client against a real `embrace hub serve`: uploads, downloads at a branch/tag/sha,
patterns, local_dir, resume of partial downloads, checksum verification, offline mode with zero requests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from counting_proxy import CountingProxy
from hub_helpers import HubServer

from embrace.hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    IncompleteSnapshotError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    cached_file,
    hf_hub_download,
    snapshot_download,
)
from embrace.hub.errors import ChecksumError, GatedRepoError, HubHTTPError


def _make_repo(api: HfApi, repo_id: str, tmp_path: Path) -> dict[str, bytes]:
    files = {
        "config.json": b'{"hidden_size": 8}',
        "model.safetensors": os.urandom(300_000),
        "sub/notes.txt": "héllo\n".encode(),
    }
    folder = tmp_path / "upload"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="first")
    return files


def test_upload_then_download_every_file(online: HubServer, tmp_path: Path) -> None:
    api = HfApi()
    files = _make_repo(api, "alice/client-basic", tmp_path)
    assert sorted(api.list_repo_files("alice/client-basic")) == [".gitattributes", *sorted(files)]
    info = api.model_info("alice/client-basic", files_metadata=True)
    lfs = {s.rfilename: s.lfs for s in info.siblings}
    assert lfs["model.safetensors"].sha256 == hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert lfs["config.json"] is None
    snapshot = Path(os.environ["HF_HOME"]) / "hub/models--alice--client-basic/snapshots" / str(info.sha)
    for name, data in files.items():
        path = Path(hf_hub_download("alice/client-basic", name))
        assert path.read_bytes() == data
        assert path == snapshot / name and path.is_symlink()
    blob = Path(hf_hub_download("alice/client-basic", "model.safetensors")).resolve()
    assert blob.name == lfs["model.safetensors"]["sha256"]  # LFS blobs are named by their sha256
    ref = Path(os.environ["HF_HOME"]) / "hub/models--alice--client-basic/refs/main"
    assert ref.read_text() == info.sha


def test_snapshot_on_branch_tag_and_sha_with_patterns(online: HubServer, tmp_path: Path) -> None:
    api = HfApi()
    _make_repo(api, "alice/client-revs", tmp_path)
    first = api.model_info("alice/client-revs").sha
    api.create_tag("alice/client-revs", tag="v1")
    api.create_branch("alice/client-revs", branch="dev")
    api.upload_file(path_or_fileobj=b"new", path_in_repo="added.txt", repo_id="alice/client-revs", revision="dev")
    api.create_commit("alice/client-revs", [CommitOperationDelete("sub/")], commit_message="rm sub")
    head = api.model_info("alice/client-revs").sha
    assert head != first

    tag_snap = Path(snapshot_download("alice/client-revs", revision="v1"))
    assert tag_snap.name == first and (tag_snap / "sub/notes.txt").exists()
    sha_snap = Path(snapshot_download("alice/client-revs", revision=first, allow_patterns=["*.json"]))
    assert sha_snap == tag_snap
    dev = Path(snapshot_download("alice/client-revs", revision="dev", ignore_patterns="*.safetensors"))
    assert (dev / "added.txt").read_bytes() == b"new" and not (dev / "model.safetensors").exists()
    main = Path(snapshot_download("alice/client-revs"))
    assert main.name == head and not (main / "sub").exists() and not (main / "added.txt").exists()
    repo_cache = main.parent.parent
    assert (repo_cache / "refs/v1").read_text() == first and (repo_cache / f"trees/{head}.json").is_file()

    local = tmp_path / "local"
    snapshot_download("alice/client-revs", revision="dev", local_dir=local)
    assert (local / "added.txt").read_bytes() == b"new"
    assert (local / ".cache/huggingface/download/added.txt.metadata").read_text().splitlines()[1]


def test_error_classes(online: HubServer, tmp_path: Path) -> None:
    api = HfApi()
    _make_repo(api, "alice/client-errors", tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/does-not-exist", "config.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("alice/client-errors", "config.json", revision="nope")
    with pytest.raises(RevisionNotFoundError):
        snapshot_download("alice/client-errors", revision="nope")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("alice/client-errors", "missing.json")
    # the miss is cached: an optional file resolves to None without asking again
    assert cached_file("alice/client-errors", "missing.json", missing_ok=True, local_files_only=True) is None
    api.create_repo("alice/client-private", private=True, exist_ok=True)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/client-private", token=False)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/client-private", token=online.tokens["bob"])
    assert api.model_info("alice/client-private", token=online.tokens["alice_read"]).private
    with pytest.raises(HubHTTPError) as denied:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x", repo_id="alice/client-errors",
                        token=online.tokens["alice_read"])
    assert denied.value.status_code == 403
    with pytest.raises(HubHTTPError) as bad:
        api.whoami(token="hf_not_a_real_token")
    assert bad.value.status_code == 401
    api.update_repo_settings("alice/client-errors", gated="auto")
    with pytest.raises(GatedRepoError):
        hf_hub_download("alice/client-errors", "config.json", token=False, cache_dir=tmp_path / "c2")
    assert api.model_info("alice/client-errors", token=False).gated == "auto"  # metadata stays visible
    with pytest.raises(GatedRepoError):
        hf_hub_download("alice/client-errors", "config.json", token=online.tokens["bob"], cache_dir=tmp_path / "c3")
    from embrace.cli import main

    assert main(["hub", "grant", "alice/client-errors", "bob", "--data", str(online.data)]) == 0
    approved = hf_hub_download("alice/client-errors", "config.json", token=online.tokens["bob"],
                               cache_dir=tmp_path / "c3")
    assert Path(approved).read_bytes() == b'{"hidden_size": 8}'


def test_big_text_file_goes_through_lfs_by_size(online: HubServer) -> None:
    api = HfApi()
    api.create_repo("alice/client-big", exist_ok=True)
    text = b"all work and no play\n" * 550_000  # 11.5 MB of text: LFS because of its size alone
    api.upload_file(path_or_fileobj=text, path_in_repo="corpus.txt", repo_id="alice/client-big")
    [sibling] = [s for s in api.model_info("alice/client-big", files_metadata=True).siblings
                 if s.rfilename == "corpus.txt"]
    assert sibling.lfs is not None and sibling.lfs.sha256 == hashlib.sha256(text).hexdigest()
    assert Path(hf_hub_download("alice/client-big", "corpus.txt")).read_bytes() == text


def test_stale_parent_commit_is_412_and_unchanged_upload_is_noop(online: HubServer, tmp_path: Path) -> None:
    api = HfApi()
    _make_repo(api, "alice/client-parent", tmp_path)
    head = api.model_info("alice/client-parent").sha
    api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id="alice/client-parent", parent_commit=head)
    with pytest.raises(HubHTTPError) as stale:
        api.upload_file(path_or_fileobj=b"2", path_in_repo="b.txt", repo_id="alice/client-parent", parent_commit=head)
    assert stale.value.status_code == 412
    now = api.model_info("alice/client-parent").sha
    same = api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id="alice/client-parent")
    assert same.oid == now  # nothing changed: no commit
    pr = api.create_commit("alice/client-parent", [CommitOperationAdd("pr.txt", b"pr")], commit_message="pr",
                           create_pr=True)
    assert pr.pr_revision == "refs/pr/1"
    assert Path(hf_hub_download("alice/client-parent", "pr.txt", revision="refs/pr/1")).read_bytes() == b"pr"


def test_offline_makes_zero_requests(online: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = HfApi()
    _make_repo(api, "alice/client-offline", tmp_path)
    proxy = CountingProxy(online.url)
    try:
        monkeypatch.setenv("HF_ENDPOINT", proxy.url)
        snapshot_download("alice/client-offline", allow_patterns=["*.json", "sub/*"])
        assert proxy.requests
        seen = len(proxy.requests)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert Path(hf_hub_download("alice/client-offline", "config.json")).is_file()
        assert cached_file("alice/client-offline", "sub/notes.txt").is_file()
        snap = snapshot_download("alice/client-offline", allow_patterns="*.json")
        assert Path(snap, "config.json").is_file()
        with pytest.raises(IncompleteSnapshotError):
            snapshot_download("alice/client-offline")  # the tree is cached: model.safetensors is known missing
        with pytest.raises(LocalEntryNotFoundError):
            hf_hub_download("alice/client-offline", "model.safetensors")
        monkeypatch.delenv("HF_HUB_OFFLINE")
        assert Path(hf_hub_download("alice/client-offline", "config.json", local_files_only=True)).is_file()
        assert len(proxy.requests) == seen
    finally:
        proxy.close()


def test_resume_partial_download_and_verify_checksum(online: HubServer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    api = HfApi()
    files = _make_repo(api, "alice/client-resume", tmp_path)
    data = files["model.safetensors"]
    sha = hashlib.sha256(data).hexdigest()
    blobs = Path(os.environ["HF_HOME"]) / "hub/models--alice--client-resume/blobs"
    blobs.mkdir(parents=True)
    (blobs / f"{sha}.incomplete").write_bytes(data[:100_000])
    proxy = CountingProxy(online.url)
    try:
        monkeypatch.setenv("HF_ENDPOINT", proxy.url)
        assert Path(hf_hub_download("alice/client-resume", "model.safetensors")).read_bytes() == data
        ranged = [r for r in proxy.requests if r[0] == "GET" and r[1].endswith("/model.safetensors")]
        assert [r[2] for r in ranged] == ["bytes=100000-"]  # resumed, not restarted
        # a corrupt partial file is detected by the sha256 check and removed, the retry succeeds
        blob = Path(hf_hub_download("alice/client-resume", "model.safetensors")).resolve()
        blob.unlink()
        (blobs / f"{sha}.incomplete").write_bytes(b"\0" * 100_000)
        with pytest.raises(ChecksumError):
            hf_hub_download("alice/client-resume", "model.safetensors", force_download=True)
        assert not (blobs / f"{sha}.incomplete").exists()
        assert Path(hf_hub_download("alice/client-resume", "model.safetensors", force_download=True)).read_bytes() == data
    finally:
        proxy.close()


def test_repo_lifecycle_and_listing(online: HubServer, tmp_path: Path) -> None:
    api = HfApi()
    url = api.create_repo("acme/client-org-data", repo_type="dataset")
    assert url.repo_id == "acme/client-org-data" and "/datasets/" in url
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data/train.csv", repo_id="acme/client-org-data",
                    repo_type="dataset")
    assert Path(hf_hub_download("acme/client-org-data", "data/train.csv", repo_type="dataset")).read_bytes() \
        == b"a,b\n1,2\n"
    assert "acme/client-org-data" in [d.id for d in api.list_datasets(author="acme")]
    with pytest.raises(HubHTTPError):
        api.create_repo("acme/client-org-data", repo_type="dataset")
    assert api.create_repo("acme/client-org-data", repo_type="dataset", exist_ok=True).repo_id == "acme/client-org-data"
    with pytest.raises(HubHTTPError) as foreign:
        api.create_repo("acme/bobs", token=online.tokens["bob"])
    assert foreign.value.status_code == 403
    commits = api.list_repo_commits("acme/client-org-data", repo_type="dataset")
    assert [c.title for c in commits] == ["Upload data/train.csv", "initial commit"]
    api.delete_repo("acme/client-org-data", repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("acme/client-org-data")
    api.delete_repo("acme/client-org-data", repo_type="dataset", missing_ok=True)
