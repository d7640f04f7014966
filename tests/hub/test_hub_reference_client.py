"""The REAL huggingface_hub client (the reference) against `embrace hub serve`, and the HF cache shared in both
directions between huggingface_hub and embrace. The reference runs in a fresh interpreter because it reads
HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when imported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hub_helpers import HubServer, run_reference

from embrace.hub import HfApi, cached_file, hf_hub_download, snapshot_download

FLOWS = r"""
import json, os, hashlib, pathlib, tempfile
import huggingface_hub as hh
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError,
                                    GatedRepoError, HfHubHTTPError)

api = HfApi()
out = {}
out["whoami"] = api.whoami()["name"]
url = api.create_repo("ref-model")
out["create_url"] = str(url)
out["create_exist_ok"] = api.create_repo("alice/ref-model", exist_ok=True).repo_id
work = pathlib.Path(tempfile.mkdtemp())
(work / "small.txt").write_text("small file")
big = os.urandom(11 * 1024 * 1024)
(work / "big.bin").write_bytes(big)
out["upload_small"] = api.upload_file(path_or_fileobj=str(work / "small.txt"), path_in_repo="small.txt",
                                      repo_id="alice/ref-model").oid
out["upload_lfs"] = api.upload_file(path_or_fileobj=str(work / "big.bin"), path_in_repo="weights/big.bin",
                                    repo_id="alice/ref-model").oid
folder = work / "folder"
(folder / "nested").mkdir(parents=True)
(folder / "config.json").write_text('{"a": 1}')
(folder / "nested" / "data.safetensors").write_bytes(os.urandom(50_000))
(folder / "README.md").write_text("---\nlicense: mit\n---\n# Ref model\nHello card\n")
out["upload_folder"] = api.upload_folder(folder_path=str(folder), repo_id="alice/ref-model").oid
head = api.model_info("alice/ref-model").sha
out["head"] = head
api.create_tag("alice/ref-model", tag="v1")
api.create_branch("alice/ref-model", branch="dev")
api.upload_file(path_or_fileobj=b"dev only", path_in_repo="dev.txt", repo_id="alice/ref-model", revision="dev")
out["files"] = sorted(api.list_repo_files("alice/ref-model"))
info = api.model_info("alice/ref-model", files_metadata=True)
out["lfs_sha"] = {s.rfilename: s.lfs.sha256 for s in info.siblings if s.lfs}
out["big_sha"] = hashlib.sha256(big).hexdigest()
p = hf_hub_download("alice/ref-model", "weights/big.bin")
out["download_big_ok"] = pathlib.Path(p).read_bytes() == big
out["download_blob_name"] = pathlib.Path(p).resolve().name
out["download_small"] = pathlib.Path(hf_hub_download("alice/ref-model", "small.txt")).read_text()
out["snap_branch"] = sorted(str(x.relative_to(d)) for d in [pathlib.Path(snapshot_download(
    "alice/ref-model", revision="dev", allow_patterns=["*.txt"]))] for x in d.rglob("*") if x.is_file())
snap_tag = pathlib.Path(snapshot_download("alice/ref-model", revision="v1"))
out["snap_tag_name"] = snap_tag.name
out["snap_tag_has_dev"] = (snap_tag / "dev.txt").exists()
snap_sha = pathlib.Path(snapshot_download("alice/ref-model", revision=head, ignore_patterns="*.bin"))
out["snap_sha_name"] = snap_sha.name
out["models_listed"] = "alice/ref-model" in [m.id for m in api.list_models(author="alice")]
out["refs"] = sorted(b.name for b in api.list_repo_refs("alice/ref-model").branches)
out["commits"] = len(api.list_repo_commits("alice/ref-model"))
out["paths_info"] = sorted(p.path for p in api.get_paths_info("alice/ref-model", ["small.txt", "weights", "nope"]))
out["repo_exists"] = [api.repo_exists("alice/ref-model"), api.repo_exists("alice/nope")]
out["file_exists"] = [api.file_exists("alice/ref-model", "small.txt"), api.file_exists("alice/ref-model", "x")]

def error(fn):
    try:
        fn()
    except Exception as exc:
        return type(exc).__name__ + ":" + str(getattr(getattr(exc, "response", None), "status_code", ""))
    return "no error"

out["err_repo"] = error(lambda: hf_hub_download("alice/nope", "x.txt"))
out["err_revision"] = error(lambda: hf_hub_download("alice/ref-model", "small.txt", revision="nope"))
out["err_revision_snapshot"] = error(lambda: snapshot_download("alice/ref-model", revision="nope"))
out["err_entry"] = error(lambda: hf_hub_download("alice/ref-model", "missing.txt"))
api.create_repo("alice/ref-private", private=True)
api.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id="alice/ref-private")
anon = HfApi(token=False)
out["private_anon"] = error(lambda: anon.model_info("alice/ref-private"))
out["private_anon_download"] = error(lambda: hf_hub_download("alice/ref-private", "s.txt", token=False,
                                                            cache_dir=str(work / "c")))
out["private_token"] = pathlib.Path(hf_hub_download("alice/ref-private", "s.txt")).read_bytes().decode()
out["private_bob"] = error(lambda: HfApi(token=os.environ["BOB_TOKEN"]).model_info("alice/ref-private"))
api.create_repo("alice/ref-visibility")
api.update_repo_settings("alice/ref-visibility", private=True)
out["made_private"] = error(lambda: anon.model_info("alice/ref-visibility"))
api.create_repo("alice/ref-gated")
api.update_repo_settings("alice/ref-gated", gated="auto")
out["gated_anon"] = error(lambda: hf_hub_download("alice/ref-gated", ".gitattributes", token=False,
                                                 cache_dir=str(work / "g")))
out["gated_bob"] = error(lambda: hf_hub_download("alice/ref-gated", ".gitattributes",
                                                token=os.environ["BOB_TOKEN"], cache_dir=str(work / "g2")))
out["stale_parent"] = error(lambda: api.upload_file(path_or_fileobj=b"z", path_in_repo="z.txt",
                                                    repo_id="alice/ref-model", parent_commit=out["upload_small"]))
pr = api.create_commit("alice/ref-model", [hh.CommitOperationAdd("pr.txt", b"pr")], commit_message="pr",
                       create_pr=True)
out["pr_revision"] = pr.pr_revision
out["pr_download"] = pathlib.Path(hf_hub_download("alice/ref-model", "pr.txt", revision=pr.pr_revision)).read_text()
out["readonly_upload"] = error(lambda: HfApi(token=os.environ["READ_TOKEN"]).upload_file(
    path_or_fileobj=b"x", path_in_repo="x", repo_id="alice/ref-model"))
api.create_repo("acme/ref-data", repo_type="dataset")
api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="train.csv", repo_id="acme/ref-data",
                repo_type="dataset")
out["dataset_download"] = pathlib.Path(hf_hub_download("acme/ref-data", "train.csv",
                                                       repo_type="dataset")).read_text()
api.delete_repo("acme/ref-data", repo_type="dataset")
out["dataset_deleted"] = error(lambda: api.dataset_info("acme/ref-data"))
api.delete_repo("acme/ref-data", repo_type="dataset", missing_ok=True)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def flows(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return run_reference(FLOWS, endpoint=hub.url, hf_home=tmp_path_factory.mktemp("ref_home"),
                         token=hub.tokens["alice"],
                         extra_env={"BOB_TOKEN": hub.tokens["bob"], "READ_TOKEN": hub.tokens["alice_read"]})


def test_reference_auth_and_create_repo(flows: dict[str, object], hub: HubServer) -> None:
    assert flows["whoami"] == "alice"
    assert flows["create_url"] == f"{hub.url}/alice/ref-model"
    assert flows["create_exist_ok"] == "alice/ref-model"


def test_reference_uploads_small_lfs_and_folder(flows: dict[str, object]) -> None:
    assert all(isinstance(flows[k], str) and len(str(flows[k])) == 40
               for k in ("upload_small", "upload_lfs", "upload_folder"))
    assert flows["files"] == [".gitattributes", "README.md", "config.json", "nested/data.safetensors", "small.txt",
                              "weights/big.bin"]
    lfs = flows["lfs_sha"]
    assert isinstance(lfs, dict) and lfs["weights/big.bin"] == flows["big_sha"]
    assert set(lfs) == {"weights/big.bin", "nested/data.safetensors"}


def test_reference_downloads_on_branch_tag_sha(flows: dict[str, object]) -> None:
    assert flows["download_big_ok"] is True
    assert flows["download_blob_name"] == flows["big_sha"]
    assert flows["download_small"] == "small file"
    assert flows["snap_branch"] == ["dev.txt", "small.txt"]
    assert flows["snap_tag_name"] == flows["head"] and flows["snap_tag_has_dev"] is False
    assert flows["snap_sha_name"] == flows["head"]


def test_reference_metadata_endpoints(flows: dict[str, object]) -> None:
    assert flows["models_listed"] is True
    assert flows["refs"] == ["dev", "main"]
    assert flows["commits"] == 4
    assert flows["paths_info"] == ["small.txt", "weights"]
    assert flows["repo_exists"] == [True, False]
    assert flows["file_exists"] == [True, False]


def test_reference_error_classes(flows: dict[str, object]) -> None:
    assert flows["err_repo"] == "RepositoryNotFoundError:404"
    assert flows["err_revision"] == "RevisionNotFoundError:404"
    assert flows["err_revision_snapshot"] == "RevisionNotFoundError:404"
    assert flows["err_entry"] == "RemoteEntryNotFoundError:404"
    assert flows["gated_anon"] == "GatedRepoError:401"
    assert flows["gated_bob"] == "GatedRepoError:403"
    assert flows["stale_parent"] == "HfHubHTTPError:412"
    assert flows["readonly_upload"] == "HfHubHTTPError:403"


def test_reference_private_repo(flows: dict[str, object]) -> None:
    assert flows["private_anon"] == "RepositoryNotFoundError:401"
    assert flows["private_anon_download"] == "RepositoryNotFoundError:401"
    assert flows["private_bob"] == "RepositoryNotFoundError:404"
    assert flows["private_token"] == "secret"
    assert flows["made_private"] == "RepositoryNotFoundError:401"


def test_reference_pr_dataset_and_delete(flows: dict[str, object]) -> None:
    assert flows["pr_revision"] == "refs/pr/1" and flows["pr_download"] == "pr"
    assert flows["dataset_download"] == "a,b\n1,2\n"
    assert flows["dataset_deleted"] == "RepositoryNotFoundError:404"


CACHE_FILL = r"""
import json
from huggingface_hub import snapshot_download, hf_hub_download
snap = snapshot_download("alice/interop", allow_patterns=["*.json", "*.safetensors"])
print(json.dumps({"snap": snap, "file": hf_hub_download("alice/interop", "config.json")}))
"""

CACHE_READ_OFFLINE = r"""
import json, pathlib
from huggingface_hub import snapshot_download, hf_hub_download
snap = snapshot_download("alice/interop")
f = hf_hub_download("alice/interop", "model.safetensors")
print(json.dumps({"snap": snap, "file": f, "bytes": pathlib.Path(f).stat().st_size}))
"""


@pytest.fixture
def interop_repo(online: HubServer, tmp_path: Path) -> HubServer:
    api = HfApi()
    api.create_repo("alice/interop", exist_ok=True)
    folder = tmp_path / "interop"
    folder.mkdir()
    (folder / "config.json").write_text('{"x": 1}')
    (folder / "model.safetensors").write_bytes(os.urandom(40_000))
    (folder / "notes.md").write_text("not downloaded by the reference")
    api.upload_folder(folder_path=folder, repo_id="alice/interop")
    return online


def test_cache_filled_by_reference_serves_embrace_offline(interop_repo: HubServer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "shared_home"
    filled = run_reference(CACHE_FILL, endpoint=interop_repo.url, hf_home=home, token=interop_repo.tokens["alice"],
                           extra_env={"HF_HUB_DISABLE_XET": ""})  # downloads need no Xet opt-out
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: offline must not care
    assert hf_hub_download("alice/interop", "config.json") == filled["file"]
    assert snapshot_download("alice/interop", allow_patterns="*.json") == filled["snap"]
    assert cached_file("alice/interop", "model.safetensors") == Path(str(filled["snap"])) / "model.safetensors"
    assert cached_file("alice/interop", "notes.md", missing_ok=True) is None  # repo cached, file not: optional


def test_cache_filled_by_embrace_serves_reference_offline(interop_repo: HubServer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "shared_home"
    monkeypatch.setenv("HF_HOME", str(home))
    snap = snapshot_download("alice/interop")
    read = run_reference(CACHE_READ_OFFLINE, endpoint="http://127.0.0.1:9", hf_home=home,
                         extra_env={"HF_HUB_OFFLINE": "1"})
    assert read["snap"] == snap
    assert read["file"] == str(Path(snap) / "model.safetensors") and read["bytes"] == 40_000


XET_DEFAULT = r"""
import json, os
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("alice/xet-default", exist_ok=True)
api.upload_file(path_or_fileobj=b"plain text", path_in_repo="notes.txt", repo_id="alice/xet-default")
try:
    api.upload_file(path_or_fileobj=os.urandom(2000), path_in_repo="w.bin", repo_id="alice/xet-default")
    lfs = "ok"
except Exception as exc:
    lfs = f"{type(exc).__name__}: {exc}"
print(json.dumps({"files": api.list_repo_files("alice/xet-default"), "lfs": lfs}))
"""


def test_reference_without_xet_optout_uploads_regular_files_only(hub: HubServer, tmp_path: Path) -> None:
    """Documents why HF_HUB_DISABLE_XET=1 is needed: with hf_xet installed the client sends LFS files through
    Xet (its own choice), which this server does not run; regular files still upload."""
    out = run_reference(XET_DEFAULT, endpoint=hub.url, hf_home=tmp_path / "xet_home", token=hub.tokens["alice"],
                        extra_env={"HF_HUB_DISABLE_XET": ""})
    assert "notes.txt" in out["files"] and "w.bin" not in out["files"]
    assert "xet-write-token" in str(out["lfs"]) and "501" in str(out["lfs"])
