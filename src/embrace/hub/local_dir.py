"""Downloads into a plain folder (``local_dir=``): files land at their repo paths, and the commit and ETag of each
are kept in ``<local_dir>/.cache/huggingface/download/<path>.metadata`` (the layout huggingface_hub uses), so a
second call skips unchanged files."""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import httpx

from embrace.hub import errors
from embrace.hub.constants import is_offline
from embrace.hub.fsutil import atomic_write_text, sha256_file

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def metadata_dir(local_dir: Path) -> Path:
    return local_dir / ".cache" / "huggingface"


def read_local_metadata(local_dir: Path, filename: str) -> tuple[str, str, float] | None:
    """(commit, etag, timestamp) recorded for ``filename``, or None when absent or stale (the file changed)."""
    meta = metadata_dir(local_dir) / "download" / f"{filename}.metadata"
    target = local_dir / filename
    try:
        commit, etag, stamp = meta.read_text().splitlines()[:3]
        timestamp = float(stamp)
    except (OSError, ValueError):
        return None
    if not target.exists() or target.stat().st_mtime - 1 > timestamp:
        return None
    return commit, etag, timestamp


def write_local_metadata(local_dir: Path, filename: str, commit: str, etag: str) -> None:
    atomic_write_text(metadata_dir(local_dir) / "download" / f"{filename}.metadata", f"{commit}\n{etag}\n{time.time()}\n")


def download_to_local_dir(
    repo_id: str,
    filename: str,
    *,
    repo_type: str,
    revision: str,
    local_dir: Path,
    token: str | bool | None,
    local_files_only: bool,
    force_download: bool,
    endpoint: str,
    etag_timeout: float | None,
    progress: bool = True,
) -> str:
    from embrace.hub.download import _fetch_blob, get_hf_file_metadata, hf_hub_url

    target = local_dir / filename
    recorded = read_local_metadata(local_dir, filename)
    if recorded and recorded[0] == revision and not force_download:
        return str(target)
    if local_files_only or is_offline():
        if target.exists():
            return str(target)
        raise errors.LocalEntryNotFoundError(
            f"{filename} is not in {local_dir} and offline mode forbids downloading it."
        )
    url = hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, token=token, timeout=etag_timeout, endpoint=endpoint)
    except (errors.RemoteEntryNotFoundError, errors.RevisionNotFoundError, errors.RepositoryNotFoundError):
        raise
    except (errors.HubHTTPError, httpx.TransportError) as exc:
        if target.exists():
            return str(target)
        raise errors.LocalEntryNotFoundError(f"{filename} is not in {local_dir} and the hub failed: {exc}") from exc
    if not force_download and target.exists():
        if recorded and recorded[1] == meta.etag:
            write_local_metadata(local_dir, filename, meta.commit_hash, meta.etag)
            return str(target)
        if _SHA256.match(meta.etag) and sha256_file(target) == meta.etag:
            write_local_metadata(local_dir, filename, meta.commit_hash, meta.etag)
            return str(target)
    staging = metadata_dir(local_dir) / "download" / f"{filename}.{meta.etag}"
    staging.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    _fetch_blob(meta, staging, staging.with_suffix(".lock"), token=token, hub=endpoint,
                label=filename if progress else None)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)
    write_local_metadata(local_dir, filename, meta.commit_hash, meta.etag)
    return str(target)
