"""``snapshot_download``: a whole repo (or the files matching patterns) at one commit, on 8 threads.

The revision is resolved to a commit (``/api/{T}/{repo}/revision/{rev}``), the recursive tree of that commit is
listed once and cached in ``trees/<commit>.json``, and every selected file goes through ``hf_hub_download`` at the
commit, so a cache shared with huggingface_hub stays consistent.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx

from embrace.hub import errors
from embrace.hub.cache import cached_repo_path, is_commit_hash, resolve_commit, write_ref
from embrace.hub.constants import (
    DEFAULT_REVISION,
    REPO_TYPE_PLURAL,
    hub_cache_dir,
    is_offline,
    progress_bars_disabled,
)
from embrace.hub.constants import (
    endpoint as default_endpoint,
)
from embrace.hub.download import hf_hub_download
from embrace.hub.fsutil import atomic_write_text
from embrace.hub.http import build_headers, paginate, raise_for_status, request


def filter_paths(
    paths: Iterable[str], allow_patterns: str | list[str] | None, ignore_patterns: str | list[str] | None
) -> list[str]:
    """Keep paths matching any allow pattern and no ignore pattern (fnmatch; ``"dir/"`` means ``"dir/*"``)."""

    def normalize(patterns: str | list[str] | None) -> list[str] | None:
        if patterns is None:
            return None
        items = [patterns] if isinstance(patterns, str) else list(patterns)
        return [p + "*" if p.endswith("/") else p for p in items]

    allow, ignore = normalize(allow_patterns), normalize(ignore_patterns)
    return [
        path
        for path in paths
        if (allow is None or any(fnmatch.fnmatch(path, p) for p in allow))
        and not (ignore and any(fnmatch.fnmatch(path, p) for p in ignore))
    ]


def resolve_revision(
    repo_id: str, revision: str, *, repo_type: str, token: str | bool | None, endpoint: str
) -> str:
    """The commit sha a branch, tag or sha names on the hub."""
    url = f"{endpoint}/api/{REPO_TYPE_PLURAL[repo_type]}/{repo_id}/revision/{quote(revision, safe='')}"
    response = request("GET", url, headers=build_headers(token))
    raise_for_status(response, what=f"revision {revision} of {repo_id}")
    sha = response.json().get("sha")
    if not isinstance(sha, str) or not is_commit_hash(sha):
        raise errors.HubHTTPError(f"{url} answered without a commit sha.")
    return sha


def list_tree_files(
    repo_id: str, commit: str, *, repo_type: str, token: str | bool | None, endpoint: str
) -> dict[str, dict[str, object]]:
    """``{path: {size, blob_id[, lfs_sha256, lfs_size]}}`` of every file at ``commit`` (the ``trees/`` format)."""
    url = f"{endpoint}/api/{REPO_TYPE_PLURAL[repo_type]}/{repo_id}/tree/{commit}"
    files: dict[str, dict[str, object]] = {}
    params = {"recursive": "true", "expand": "false"}
    for entry in paginate(url, params=params, headers=build_headers(token)):
        if entry.get("type") != "file":
            continue
        record: dict[str, object] = {"size": entry.get("size"), "blob_id": entry.get("oid")}
        if entry.get("lfs"):
            record["lfs_sha256"] = entry["lfs"].get("oid")
            record["lfs_size"] = entry["lfs"].get("size")
        files[entry["path"]] = record
    return files


def _read_tree_cache(path: Path) -> dict[str, dict[str, object]] | None:
    try:
        data = json.loads(path.read_text())
        files = data["files"]
        return files if isinstance(files, dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def snapshot_download(
    repo_id: str,
    *,
    repo_type: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    allow_patterns: str | list[str] | None = None,
    ignore_patterns: str | list[str] | None = None,
    max_workers: int = 8,
    force_download: bool = False,
    endpoint: str | None = None,
    etag_timeout: float | None = None,
) -> str:
    """Download the repo at ``revision`` and return the folder: ``snapshots/<commit>`` in the cache, or
    ``local_dir``. Offline, the cached snapshot is returned; ``IncompleteSnapshotError`` when the cached tree
    shows that requested files are missing."""
    repo_type = repo_type or "model"
    revision = revision or DEFAULT_REVISION
    hub = (endpoint or default_endpoint()).rstrip("/")
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    repo_path = cached_repo_path(repo_id, repo_type, cache)
    trees = (Path(local_dir) / ".cache" / "huggingface" / "trees") if local_dir else repo_path / "trees"

    commit: str | None = None
    failure: Exception | None = None
    if local_files_only or is_offline():
        failure = errors.OfflineModeIsEnabled("offline mode is on (HF_HUB_OFFLINE=1 or local_files_only=True)")
    else:
        try:
            commit = revision if is_commit_hash(revision) else resolve_revision(
                repo_id, revision, repo_type=repo_type, token=token, endpoint=hub
            )
        except errors.RevisionNotFoundError:
            raise
        except (errors.HubHTTPError, httpx.TransportError) as exc:
            failure = exc
    if commit is None:
        return _offline_snapshot(repo_path, revision, trees, local_dir, allow_patterns, ignore_patterns, failure)

    files = _read_tree_cache(trees / f"{commit}.json")
    if files is None:
        files = list_tree_files(repo_id, commit, repo_type=repo_type, token=token, endpoint=hub)
        atomic_write_text(trees / f"{commit}.json", json.dumps({"format_version": 1, "files": files}))
    wanted = filter_paths(sorted(files), allow_patterns, ignore_patterns)

    def fetch(path: str) -> str:
        return hf_hub_download(
            repo_id, path, repo_type=repo_type, revision=commit, cache_dir=cache, local_dir=local_dir, token=token,
            force_download=force_download, endpoint=hub, etag_timeout=etag_timeout, progress=False,
        )

    from tqdm.auto import tqdm

    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        results = pool.map(fetch, wanted)
        for _ in tqdm(results, total=len(wanted), desc=f"Fetching {len(wanted)} files",
                      disable=progress_bars_disabled() or len(wanted) < 2, leave=False):
            pass
    if local_dir is not None:
        return str(Path(local_dir))
    write_ref(repo_path, revision, commit)
    snapshot = repo_path / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    return str(snapshot)


def _offline_snapshot(
    repo_path: Path,
    revision: str,
    trees: Path,
    local_dir: str | os.PathLike[str] | None,
    allow_patterns: str | list[str] | None,
    ignore_patterns: str | list[str] | None,
    failure: Exception | None,
) -> str:
    if local_dir is not None and Path(local_dir).is_dir():
        return str(Path(local_dir))
    if isinstance(failure, errors.RepositoryNotFoundError) and not repo_path.is_dir():
        raise failure
    commit = resolve_commit(repo_path, revision)
    snapshot = repo_path / "snapshots" / commit if commit else None
    if commit is None or snapshot is None or not snapshot.is_dir():
        raise errors.LocalEntryNotFoundError(
            f"No cached snapshot of {repo_path.name} at revision {revision!r} and the hub cannot be used "
            f"({failure}). Download it once while online."
        ) from failure
    files = _read_tree_cache(trees / f"{commit}.json")
    if files is not None:
        missing = [p for p in filter_paths(sorted(files), allow_patterns, ignore_patterns) if not (snapshot / p).exists()]
        if missing:
            raise errors.IncompleteSnapshotError(
                f"The cached snapshot {snapshot} lacks {len(missing)} requested file(s) ({missing[:5]}) and the hub "
                f"cannot be used ({failure}). Run snapshot_download online once."
            )
    return str(snapshot)
