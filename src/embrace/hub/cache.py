"""The HF hub cache layout, read without any network access.

``<cache>/models--org--name/{blobs/, refs/<revision>, snapshots/<commit>/<file>, .no_exist/<commit>/<file>}``
is what huggingface_hub writes; a cache filled by either library serves the other.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from embrace.hub.constants import DEFAULT_REVISION, REPO_TYPES, hub_cache_dir

_COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")


def repo_folder_name(repo_id: str, repo_type: str = "model") -> str:
    """``"org/name"`` -> ``"models--org--name"`` (the same naming huggingface_hub uses)."""
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}")
    return "--".join([f"{repo_type}s", *repo_id.split("/")])


def cached_repo_path(repo_id: str, repo_type: str = "model", cache_dir: str | os.PathLike[str] | None = None) -> Path:
    return Path(cache_dir or hub_cache_dir()) / repo_folder_name(repo_id, repo_type)


def resolve_commit(repo_path: Path, revision: str | None) -> str | None:
    """The commit a revision (branch, tag or full sha) points to in the cache, or None when unknown."""
    revision = revision or DEFAULT_REVISION
    ref_file = repo_path / "refs" / revision
    if ref_file.is_file():
        return ref_file.read_text().strip()
    if _COMMIT_HASH.match(revision) and (repo_path / "snapshots" / revision).is_dir():
        return revision
    return None


def try_to_load_from_cache(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    repo_type: str = "model",
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path | None | bool:
    """Look a file up in the cache. Returns its path, ``False`` when the cache records that the file does not
    exist at that commit (``.no_exist``), or ``None`` when the cache cannot tell."""
    repo_path = cached_repo_path(repo_id, repo_type, cache_dir)
    commit = resolve_commit(repo_path, revision)
    if commit is None:
        return None
    candidate = repo_path / "snapshots" / commit / filename
    if candidate.is_file():
        return candidate
    if (repo_path / ".no_exist" / commit / filename).exists():
        return False
    return None


def is_commit_hash(revision: str | None) -> bool:
    return bool(revision and _COMMIT_HASH.match(revision))


def write_ref(repo_path: Path, revision: str, commit: str) -> None:
    """Record ``refs/<revision>`` = commit (atomically; ``refs/pr/1`` nests folders as huggingface_hub does)."""
    if revision == commit:
        return
    from embrace.hub.fsutil import atomic_write_text

    ref_file = repo_path / "refs" / revision
    try:
        if ref_file.read_text() == commit:
            return
    except OSError:
        pass
    atomic_write_text(ref_file, commit)


def link_snapshot_file(blob: Path, pointer: Path) -> None:
    """Make ``snapshots/<commit>/<path>`` point at ``blobs/<etag>`` with a relative symlink (a copy where the
    filesystem refuses symlinks), replacing whatever was there atomically."""
    import os
    import shutil
    import uuid

    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_name(f".{pointer.name}.{uuid.uuid4().hex}.tmp")
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), tmp)
    except OSError:
        shutil.copyfile(blob, tmp)
    os.replace(tmp, pointer)
