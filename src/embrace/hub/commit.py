"""Commits to a hub repo: preupload (the server picks regular vs LFS for each file), git-lfs batch upload of the
LFS files to the pre-signed URLs the server returns (single part or multipart), then one NDJSON commit
(HUB_PROTOCOL.md §6). Files unchanged on the server are skipped; a commit with nothing left is a no-op."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from embrace.hub.constants import REPO_TYPE_PLURAL, REPO_TYPE_URL_PREFIX
from embrace.hub.fsutil import git_blob_sha1
from embrace.hub.http import build_headers, raise_for_status, request

_CHUNK = 1024 * 1024
_PREUPLOAD_BATCH = 256


def check_path_in_repo(path: str) -> str:
    """Reject paths the hub refuses: absolute, ``..``, or inside ``.git/`` / ``.cache/``."""
    path = path.replace(os.sep, "/")
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", "..") for p in parts) or parts[0] in (".git", ".cache"):
        raise ValueError(f"Invalid path_in_repo {path!r}: use a relative path without '..', .git/ or .cache/.")
    return path[2:] if path.startswith("./") else path


@dataclass
class CommitOperationAdd:
    """Add or replace ``path_in_repo`` with a local file path, bytes, or a binary file object."""

    path_in_repo: str
    path_or_fileobj: str | Path | bytes | BinaryIO
    upload_mode: str = field(default="regular", init=False)
    remote_oid: str | None = field(default=None, init=False)
    size: int = field(default=0, init=False)
    sha256: str = field(default="", init=False)
    sample: bytes = field(default=b"", init=False)

    def __post_init__(self) -> None:
        self.path_in_repo = check_path_in_repo(self.path_in_repo)
        if isinstance(self.path_or_fileobj, str | Path) and not Path(self.path_or_fileobj).is_file():
            raise FileNotFoundError(f"{self.path_or_fileobj} is not a file: cannot upload it as {self.path_in_repo}.")
        digest = hashlib.sha256()
        with self.open() as handle:
            self.sample = handle.read(512)
            digest.update(self.sample)
            self.size = len(self.sample)
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                self.size += len(chunk)
        self.sha256 = digest.hexdigest()

    def open(self) -> BinaryIO:
        """A fresh binary handle on the content (file objects are rewound to where they started)."""
        source = self.path_or_fileobj
        if isinstance(source, str | Path):
            return open(source, "rb")
        if isinstance(source, bytes):
            return io.BytesIO(source)
        data = source.read()
        source.seek(0)
        self.path_or_fileobj = data if isinstance(data, bytes) else bytes(data)
        return io.BytesIO(self.path_or_fileobj)

    def read_all(self) -> bytes:
        with self.open() as handle:
            return handle.read()

    def git_oid(self) -> str:
        return git_blob_sha1(self.read_all())


@dataclass
class CommitOperationDelete:
    """Delete a file, or a whole folder when ``is_folder`` (or the path ends with ``/``)."""

    path_in_repo: str
    is_folder: bool = False

    def __post_init__(self) -> None:
        if self.path_in_repo.endswith("/"):
            self.is_folder = True
        self.path_in_repo = check_path_in_repo(self.path_in_repo.rstrip("/"))


CommitOperation = CommitOperationAdd | CommitOperationDelete


@dataclass(frozen=True)
class CommitInfo:
    commit_url: str
    oid: str
    commit_message: str = ""
    pr_url: str | None = None

    @property
    def pr_num(self) -> int | None:
        return int(self.pr_url.rsplit("/", 1)[-1]) if self.pr_url else None

    @property
    def pr_revision(self) -> str | None:
        return f"refs/pr/{self.pr_num}" if self.pr_url else None


def _api_url(endpoint: str, repo_type: str, repo_id: str, route: str, revision: str) -> str:
    return f"{endpoint}/api/{REPO_TYPE_PLURAL[repo_type]}/{repo_id}/{route}/{quote(revision, safe='')}"


def preupload(adds: list[CommitOperationAdd], *, endpoint: str, repo_type: str, repo_id: str, revision: str,
              token: str | bool | None, create_pr: bool) -> None:
    """Ask the server how to upload each file; sets ``upload_mode`` and ``remote_oid`` on the operations."""
    by_path = {op.path_in_repo: op for op in adds}
    url = _api_url(endpoint, repo_type, repo_id, "preupload", revision)
    for start in range(0, len(adds), _PREUPLOAD_BATCH):
        batch = adds[start:start + _PREUPLOAD_BATCH]
        payload = {"files": [{"path": op.path_in_repo, "sample": base64.b64encode(op.sample).decode(),
                              "size": op.size} for op in batch]}
        response = request("POST", url, json=payload, headers=build_headers(token, required=True),
                           params={"create_pr": "1"} if create_pr else None)
        raise_for_status(response, what="preupload")
        for item in response.json()["files"]:
            op = by_path[item["path"]]
            op.upload_mode = "regular" if op.size == 0 else item["uploadMode"]
            op.remote_oid = item.get("oid")


def _iter_file(op: CommitOperationAdd, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    with op.open() as handle:
        handle.seek(start)
        left = op.size - start if length is None else length
        while left > 0 and (chunk := handle.read(min(_CHUNK, left))):
            left -= len(chunk)
            yield chunk


def upload_lfs_files(lfs_ops: list[CommitOperationAdd], *, endpoint: str, repo_type: str, repo_id: str,
                     revision: str, token: str | bool | None, create_pr: bool) -> None:
    """git-lfs batch, then PUT each missing object to its signed URL (no token), then verify (with token)."""
    if not lfs_ops:
        return
    url = f"{endpoint}/{REPO_TYPE_URL_PREFIX[repo_type]}{repo_id}.git/info/lfs/objects/batch"
    lfs_headers = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
    payload: dict[str, object] = {
        "operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
        "objects": [{"oid": op.sha256, "size": op.size} for op in lfs_ops]}
    if not create_pr:
        payload["ref"] = {"name": revision}
    response = request("POST", url, content=json.dumps(payload),
                       headers=build_headers(token, required=True, extra=lfs_headers))
    raise_for_status(response, what="LFS batch")
    by_oid = {op.sha256: op for op in lfs_ops}
    for obj in response.json().get("objects", []):
        if obj.get("error"):
            raise ValueError(f"LFS upload of {obj.get('oid')} refused: {obj['error'].get('message')}")
        actions = obj.get("actions")
        if not actions:
            continue  # already stored on the server
        op = by_oid[obj["oid"]]
        upload = actions["upload"]
        chunk_size = (upload.get("header") or {}).get("chunk_size")
        if chunk_size:
            _multipart(op, upload, int(chunk_size))
        else:
            put = request("PUT", upload["href"], content=_iter_file(op),
                          headers={"Content-Length": str(op.size), **(upload.get("header") or {})}, timeout=None)
            raise_for_status(put, what=f"LFS upload of {op.path_in_repo}")
        if actions.get("verify"):
            verify = actions["verify"]
            checked = request("POST", verify["href"], json={"oid": op.sha256, "size": op.size},
                              headers=build_headers(token, extra=verify.get("header") or {}))
            raise_for_status(checked, what=f"LFS verify of {op.path_in_repo}")


def _multipart(op: CommitOperationAdd, upload: dict[str, object], chunk_size: int) -> None:
    header = dict(upload.get("header") or {})  # type: ignore[call-overload]
    part_urls = sorted(((int(k), v) for k, v in header.items() if str(k).isdigit()), key=lambda kv: kv[0])
    parts = []
    for number, part_url in part_urls:
        start = (number - 1) * chunk_size
        length = min(chunk_size, op.size - start)
        response = request("PUT", str(part_url), content=b"".join(_iter_file(op, start, length)), timeout=None)
        raise_for_status(response, what=f"LFS part {number} of {op.path_in_repo}")
        etag = response.headers.get("ETag")
        if not etag:
            raise ValueError(f"LFS part {number} of {op.path_in_repo}: the storage returned no ETag.")
        parts.append({"partNumber": number, "etag": etag})
    done = request("POST", str(upload["href"]), json={"oid": op.sha256, "parts": parts},
                   headers={"Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"})
    raise_for_status(done, what=f"LFS multipart completion of {op.path_in_repo}")


def commit_payload(operations: list[CommitOperation], header: dict[str, object]) -> bytes:
    """The NDJSON body: the header line, then one line per operation."""
    lines = [{"key": "header", "value": header}]
    for op in operations:
        if isinstance(op, CommitOperationDelete):
            key = "deletedFolder" if op.is_folder else "deletedFile"
            lines.append({"key": key, "value": {"path": op.path_in_repo + ("/" if op.is_folder else "")}})
        elif op.upload_mode == "lfs":
            lines.append({"key": "lfsFile", "value": {"path": op.path_in_repo, "algo": "sha256", "oid": op.sha256,
                                                      "size": op.size}})
        else:
            content = base64.b64encode(op.read_all()).decode()
            lines.append({"key": "file", "value": {"path": op.path_in_repo, "content": content, "encoding": "base64"}})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def create_commit(operations: list[CommitOperation], *, endpoint: str, repo_type: str, repo_id: str,
                  revision: str, token: str | bool | None, commit_message: str, commit_description: str = "",
                  parent_commit: str | None = None, create_pr: bool = False) -> CommitInfo:
    """Run the whole commit protocol; returns the new commit (or the current head when nothing changed)."""
    adds = [op for op in operations if isinstance(op, CommitOperationAdd)]
    preupload(adds, endpoint=endpoint, repo_type=repo_type, repo_id=repo_id, revision=revision, token=token,
              create_pr=create_pr)
    kept: list[CommitOperation] = []
    for op in operations:
        if isinstance(op, CommitOperationAdd) and op.remote_oid is not None:
            local = op.sha256 if op.upload_mode == "lfs" else op.git_oid()
            if local == op.remote_oid:
                continue  # unchanged on the server
        kept.append(op)
    repo_url = f"{endpoint}/{REPO_TYPE_URL_PREFIX[repo_type]}{repo_id}"
    if not kept:
        from embrace.hub.snapshot import resolve_revision

        sha = resolve_revision(repo_id, revision, repo_type=repo_type, token=token, endpoint=endpoint)
        return CommitInfo(f"{repo_url}/commit/{sha}", sha, commit_message)
    lfs_ops = [op for op in kept if isinstance(op, CommitOperationAdd) and op.upload_mode == "lfs"]
    upload_lfs_files(lfs_ops, endpoint=endpoint, repo_type=repo_type, repo_id=repo_id, revision=revision,
                     token=token, create_pr=create_pr)
    header: dict[str, object] = {"summary": commit_message, "description": commit_description}
    if parent_commit:
        header["parentCommit"] = parent_commit
    response = request(
        "POST", _api_url(endpoint, repo_type, repo_id, "commit", revision), content=commit_payload(kept, header),
        headers=build_headers(token, required=True, extra={"Content-Type": "application/x-ndjson"}),
        params={"create_pr": "1"} if create_pr else None, timeout=None)
    raise_for_status(response, what="commit")
    data = response.json()
    return CommitInfo(data["commitUrl"], data["commitOid"], commit_message, data.get("pullRequestUrl"))
