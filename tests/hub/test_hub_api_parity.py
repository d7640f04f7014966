"""Parity of embrace's HfApi with huggingface_hub's on the same repo of `embrace hub serve`: the same calls give
the same data, read through the same attribute names (so ported code keeps working)."""

from __future__ import annotations

import os
from pathlib import Path

from hub_helpers import HubServer, run_reference

from embrace.hub import HfApi

DESCRIBE = r"""
import json
from huggingface_hub import HfApi
api = HfApi()
info = api.model_info("alice/parity", files_metadata=True)
refs = api.list_repo_refs("alice/parity")
print(json.dumps({
    "info": [info.id, info.sha, info.private, info.author, info.last_modified.isoformat()],
    "siblings": sorted([s.rfilename, s.size, s.blob_id, s.lfs.sha256 if s.lfs else None, s.lfs.size if s.lfs else None]
                       for s in info.siblings),
    "files": api.list_repo_files("alice/parity"),
    "tree": sorted([t.path, getattr(t, "size", None), getattr(t, "blob_id", None) or t.tree_id,
                    t.lfs.sha256 if getattr(t, "lfs", None) else None]
                   for t in api.list_repo_tree("alice/parity", recursive=True)),
    "subtree": sorted(t.path for t in api.list_repo_tree("alice/parity", path_in_repo="sub")),
    "branches": sorted([b.name, b.target_commit] for b in refs.branches),
    "tags": sorted([t.name, t.target_commit] for t in refs.tags),
    "commits": [[c.commit_id, c.title, c.authors, c.created_at.isoformat()] for c in api.list_repo_commits("alice/parity")],
    "models": [m.id for m in api.list_models(author="alice", search="parity")],
}))
"""


def test_hfapi_metadata_parity(online: HubServer, tmp_path: Path) -> None:
    api = HfApi()
    api.create_repo("alice/parity", exist_ok=True)
    folder = tmp_path / "p"
    (folder / "sub" / "deep").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "deep" / "w.safetensors").write_bytes(os.urandom(5000))
    (folder / "sub" / "a.txt").write_text("a")
    api.upload_folder(folder_path=folder, repo_id="alice/parity")
    api.create_tag("alice/parity", tag="v1")
    reference = run_reference(DESCRIBE, endpoint=online.url, hf_home=tmp_path / "ref", token=online.tokens["alice"])

    info = api.model_info("alice/parity", files_metadata=True)
    refs = api.list_repo_refs("alice/parity")
    ours = {
        "info": [info.id, info.sha, info.private, info.author,
                 info.last_modified.isoformat() if info.last_modified else None],
        "siblings": sorted([s.rfilename, s.size, s.blob_id, s.lfs.sha256 if s.lfs else None,
                            s.lfs.size if s.lfs else None] for s in info.siblings),
        "files": api.list_repo_files("alice/parity"),
        "tree": sorted([t.path, getattr(t, "size", None), getattr(t, "blob_id", None) or t.tree_id,
                        t.lfs.sha256 if getattr(t, "lfs", None) else None]
                       for t in api.list_repo_tree("alice/parity", recursive=True)),
        "subtree": sorted(t.path for t in api.list_repo_tree("alice/parity", path_in_repo="sub")),
        "branches": sorted([b.name, b.target_commit] for b in refs.branches),
        "tags": sorted([t.name, t.target_commit] for t in refs.tags),
        "commits": [[c.commit_id, c.title, c.authors, c.created_at.isoformat() if c.created_at else None]
                    for c in api.list_repo_commits("alice/parity")],
        "models": [m.id for m in api.list_models(author="alice", search="parity")],
    }
    assert ours == reference
    assert reference["subtree"] == ["sub/a.txt", "sub/deep"]
