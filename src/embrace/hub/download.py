"""``hf_hub_download``: one file of a hub repo into the HF cache (or a ``local_dir``), resumable and verified.

Cache layout and protocol as in huggingface_hub (see HUB_PROTOCOL.md §3): HEAD ``resolve/<rev>/<file>`` gives the
commit (``X-Repo-Commit``) and the blob name (``X-Linked-Etag`` or ``ETag``), the bytes go to
``blobs/<etag>.incomplete`` (resumed with ``Range`` when a previous attempt was cut), are checked against the size
and the content hash the ETag encodes (sha256 for LFS, git sha1 for regular files), then renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlparse

import httpx

from embrace.hub import errors
from embrace.hub.cache import cached_repo_path, is_commit_hash, link_snapshot_file, resolve_commit, write_ref
from embrace.hub.constants import (
    DEFAULT_REVISION,
    REPO_TYPE_URL_PREFIX,
    download_timeout,
    hub_cache_dir,
    is_offline,
    progress_bars_disabled,
)
from embrace.hub.constants import (
    endpoint as default_endpoint,
)
from embrace.hub.constants import (
    etag_timeout as default_etag_timeout,
)
from embrace.hub.fsutil import file_lock
from embrace.hub.http import build_headers, raise_for_status, request

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_CHUNK = 1024 * 1024
_MAX_RESUMES = 5
_HEAD_ATTEMPTS = 4
# endpoint -> when a connection to it last failed: for a while, cached files are served without another try
# (a from_pretrained re-checks several files; an unreachable hub should cost one timeout, not one per file)
_unreachable_since: dict[str, float] = {}
_UNREACHABLE_TTL = 30.0


@dataclass(frozen=True)
class HfFileMetadata:
    """What the HEAD of a ``resolve`` URL tells: the commit, the blob name, the size and where to GET it."""

    commit_hash: str
    etag: str
    size: int | None
    location: str


def hf_hub_url(
    repo_id: str,
    filename: str,
    *,
    subfolder: str | None = None,
    repo_type: str | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
) -> str:
    """``{endpoint}/{prefix}{repo_id}/resolve/{revision}/{filename}`` with the revision fully URL-encoded."""
    if subfolder:
        filename = f"{subfolder}/{filename}"
    prefix = REPO_TYPE_URL_PREFIX[repo_type or "model"]
    rev = quote(revision or DEFAULT_REVISION, safe="")
    base = (endpoint or default_endpoint()).rstrip("/")
    return f"{base}/{prefix}{repo_id}/resolve/{rev}/{quote(filename)}"


def _normalize_etag(value: str | None) -> str | None:
    if not value:
        return None
    return value.lstrip("W/").strip('"') or None


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlparse(a), urlparse(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def get_hf_file_metadata(
    url: str, *, token: str | bool | None = None, timeout: float | None = None, endpoint: str | None = None
) -> HfFileMetadata:
    """HEAD ``url``, following redirects on the hub's own origin by hand (off-origin 3xx carry the metadata)."""
    headers = build_headers(token, extra={"Accept-Encoding": "identity", "X-HF-Download-Counter": "1"})
    hub = endpoint or default_endpoint()
    current = url
    for _ in range(20):
        response = request("HEAD", current, headers=headers, follow_redirects=False, timeout=timeout)
        location = response.headers.get("Location")
        if 300 <= response.status_code < 400 and location:
            target = urljoin(current, location)
            if _same_origin(target, current) or _same_origin(target, hub):
                current = target
                continue
            current = target
            break
        raise_for_status(response, what=f"HEAD {url}")
        break
    commit = response.headers.get("X-Repo-Commit")
    etag = _normalize_etag(response.headers.get("X-Linked-Etag") or response.headers.get("ETag"))
    if not commit or not etag:
        raise errors.LocalEntryNotFoundError(
            f"{url} did not answer with X-Repo-Commit and ETag headers: it does not seem to be a Hugging Face "
            "Hub endpoint. Check HF_ENDPOINT."
        )
    size_header = response.headers.get("X-Linked-Size")
    if size_header is None and not 300 <= response.status_code < 400:
        size_header = response.headers.get("Content-Length")
    return HfFileMetadata(commit.lower(), etag, int(size_header) if size_header else None, current)


def content_hasher(etag: str, size: int | None) -> Callable[[], Any] | None:
    """A factory of the hash the ETag encodes: sha256 (LFS) or git blob sha1 (regular file, size needed)."""
    if _SHA256.match(etag):
        return hashlib.sha256
    if _SHA1.match(etag) and size is not None:
        return lambda: hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    return None


def _check(path: Path, etag: str, expected_size: int | None, digest: str | None) -> None:
    """Check the finished download: its size, and the content hash computed while streaming."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        path.unlink(missing_ok=True)
        raise errors.ChecksumError(f"Consistency check failed: {path.name} has {size} bytes, expected {expected_size}.")
    if digest is not None and digest != etag:
        path.unlink(missing_ok=True)
        raise errors.ChecksumError(f"Checksum mismatch: downloaded {digest}, the hub announced {etag}. Retry.")


def _hash_existing(new_hasher: Callable[[], Any] | None, path: Path) -> Any:
    hasher = new_hasher() if new_hasher else None
    if hasher is not None and path.exists():
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
    return hasher


def http_get(
    url: str,
    temp_path: Path,
    *,
    token: str | bool | None,
    expected_size: int | None,
    hub_endpoint: str,
    label: str | None,
    new_hasher: Callable[[], Any] | None = None,
) -> str | None:
    """Stream ``url`` into ``temp_path``, appending to what is already there (``Range``) and resuming after
    dropped connections up to 5 times. Authorization is only sent to the hub's origin. Returns the hex digest
    of the whole file when ``new_hasher`` is given (hashed while streaming; a resumed prefix is re-read once)."""
    from tqdm.auto import tqdm

    send_token = token if _same_origin(url, hub_endpoint) else False
    hidden = label is None or progress_bars_disabled()
    progress = tqdm(total=expected_size, unit="B", unit_scale=True, desc=label, disable=hidden, leave=False)
    try:
        for attempt in range(_MAX_RESUMES + 1):
            done = temp_path.stat().st_size if temp_path.exists() else 0
            if expected_size is not None and done == expected_size and done > 0:
                hasher = _hash_existing(new_hasher, temp_path)
                return hasher.hexdigest() if hasher is not None else None
            headers = build_headers(send_token, extra={"X-HF-Download-Counter": "1"})
            if done:
                headers["Range"] = f"bytes={done}-"
            try:
                with contextlib.closing(get_stream(url, headers)) as response:
                    if response.status_code == 416 and done:  # stale partial file bigger than the blob
                        temp_path.unlink()
                        continue
                    raise_for_status(response, what=f"GET {url}")
                    mode = "ab" if response.status_code == 206 else "wb"
                    hasher = _hash_existing(new_hasher, temp_path) if mode == "ab" else (
                        new_hasher() if new_hasher else None)
                    progress.n = done if mode == "ab" else 0
                    with open(temp_path, mode) as handle:
                        for chunk in response.iter_bytes(_CHUNK):
                            handle.write(chunk)
                            if hasher is not None:
                                hasher.update(chunk)
                            progress.update(len(chunk))
                return hasher.hexdigest() if hasher is not None else None
            except (httpx.TransportError, httpx.StreamError) as exc:
                if attempt == _MAX_RESUMES:
                    raise errors.HubHTTPError(f"Download of {url} kept failing: {exc}") from exc
                time.sleep(min(0.5 * 2**attempt, 4))
        return None
    finally:
        progress.close()


def get_stream(url: str, headers: dict[str, str]) -> httpx.Response:
    if is_offline():
        raise errors.OfflineModeIsEnabled(f"Cannot reach {url}: offline mode is on (HF_HUB_OFFLINE=1).")
    from embrace.hub.http import get_client

    client = get_client()
    req = client.build_request("GET", url, headers=headers, timeout=httpx.Timeout(download_timeout() * 6))
    return client.send(req, stream=True, follow_redirects=True)


def _fetch_blob(
    meta: HfFileMetadata, blob: Path, lock: Path, *, token: str | bool | None, hub: str, label: str | None
) -> None:
    with file_lock(lock):
        if blob.exists():
            return
        incomplete = blob.with_name(blob.name + ".incomplete")
        digest = http_get(meta.location, incomplete, token=token, expected_size=meta.size, hub_endpoint=hub,
                          label=label, new_hasher=content_hasher(meta.etag, meta.size))
        _check(incomplete, meta.etag, meta.size, digest)
        os.replace(incomplete, blob)


def hf_hub_download(
    repo_id: str,
    filename: str,
    *,
    subfolder: str | None = None,
    repo_type: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    endpoint: str | None = None,
    etag_timeout: float | None = None,
    progress: bool = True,
) -> str:
    """Download ``filename`` of ``repo_id`` at ``revision`` (branch, tag or sha; default ``main``) and return the
    local path: ``<cache>/<type>s--<ns>--<name>/snapshots/<commit>/<filename>``, or ``local_dir/<filename>``.

    Offline (``HF_HUB_OFFLINE=1`` or ``local_files_only``) no request is sent and the cache answers. Errors:
    ``RepositoryNotFoundError``, ``RevisionNotFoundError``, ``RemoteEntryNotFoundError`` (also cached as
    ``.no_exist``), ``GatedRepoError``, ``LocalEntryNotFoundError`` (not cached and the hub unreachable).
    """
    repo_type = repo_type or "model"
    revision = revision or DEFAULT_REVISION
    if subfolder:
        filename = f"{subfolder}/{filename}"
    if filename.startswith("/") or ".." in filename.split("/"):
        raise ValueError(f"Invalid filename {filename!r}: it must be a relative path inside the repo.")
    hub = (endpoint or default_endpoint()).rstrip("/")
    if local_dir is not None:
        from embrace.hub.local_dir import download_to_local_dir

        return download_to_local_dir(
            repo_id, filename, repo_type=repo_type, revision=revision, local_dir=Path(local_dir), token=token,
            local_files_only=local_files_only, force_download=force_download, endpoint=hub,
            etag_timeout=etag_timeout, progress=progress,
        )
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    repo_path = cached_repo_path(repo_id, repo_type, cache)
    if is_commit_hash(revision) and not force_download:
        pointer = repo_path / "snapshots" / revision / filename
        if pointer.exists():
            return str(pointer)

    url = hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=hub)
    if local_files_only or is_offline():
        return _from_cache_or_raise(repo_path, revision, filename, None, offline=True)
    commit_cached = resolve_commit(repo_path, revision)
    in_cache = commit_cached is not None and (repo_path / "snapshots" / commit_cached / filename).exists()
    if in_cache and time.monotonic() - _unreachable_since.get(hub, -_UNREACHABLE_TTL) < _UNREACHABLE_TTL:
        return str(repo_path / "snapshots" / str(commit_cached) / filename)  # the hub just failed: no new wait
    try:
        meta = _metadata_with_retry(url, token=token, timeout=etag_timeout or default_etag_timeout(), endpoint=hub,
                                    attempts=1 if in_cache else _HEAD_ATTEMPTS)
    except errors.RemoteEntryNotFoundError as exc:
        commit = _commit_from_error(exc)
        if commit:
            write_ref(repo_path, revision, commit)
            marker = repo_path / ".no_exist" / commit / filename
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        raise
    except errors.RevisionNotFoundError:
        raise
    except (errors.HubHTTPError, httpx.TransportError, errors.LocalEntryNotFoundError) as exc:
        if isinstance(exc, httpx.TransportError):
            _unreachable_since[hub] = time.monotonic()
        return _from_cache_or_raise(repo_path, revision, filename, exc, offline=False)

    write_ref(repo_path, revision, meta.commit_hash)
    blob = repo_path / "blobs" / meta.etag
    pointer = repo_path / "snapshots" / meta.commit_hash / filename
    if pointer.exists() and not force_download:
        return str(pointer)
    if force_download:
        blob.unlink(missing_ok=True)
    blob.parent.mkdir(parents=True, exist_ok=True)
    lock = cache / ".locks" / repo_path.name / f"{meta.etag}.lock"
    _fetch_blob(meta, blob, lock, token=token, hub=hub, label=filename if progress else None)
    link_snapshot_file(blob, pointer)
    return str(pointer)


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, errors.HubHTTPError) and (exc.status_code in (408, 429) or (exc.status_code or 0) >= 500)


def _metadata_with_retry(url: str, *, token: str | bool | None, timeout: float, endpoint: str,
                         attempts: int) -> HfFileMetadata:
    """HEAD with back-off on transient failures (timeouts, 408/429/5xx), used when nothing is cached to fall
    back on; a cached file is served at once instead."""
    for attempt in range(attempts):
        try:
            return get_hf_file_metadata(url, token=token, timeout=timeout, endpoint=endpoint)
        except (errors.HubHTTPError, httpx.TransportError) as exc:
            if attempt == attempts - 1 or not _is_transient(exc):
                raise
            time.sleep(0.25 * 2**attempt)
    raise AssertionError("unreachable")


def _commit_from_error(exc: errors.HubHTTPError) -> str | None:
    return exc.commit_hash.lower() if exc.commit_hash and _SHA1.match(exc.commit_hash.lower()) else None


def _from_cache_or_raise(
    repo_path: Path, revision: str, filename: str, cause: Exception | None, *, offline: bool
) -> str:
    commit = resolve_commit(repo_path, revision)
    if commit is not None:
        pointer = repo_path / "snapshots" / commit / filename
        if pointer.exists():
            return str(pointer)
    if isinstance(cause, errors.RepositoryNotFoundError) or (
        isinstance(cause, errors.HubHTTPError) and cause.status_code == 401
    ):
        raise cause
    why = "offline mode is on (HF_HUB_OFFLINE=1 or local_files_only=True)" if offline else f"the hub failed: {cause}"
    raise errors.LocalEntryNotFoundError(
        f"{filename} (revision {revision}) is not in the cache at {repo_path} and {why}. "
        "Connect to the hub once, or pass a local folder."
    ) from cause
