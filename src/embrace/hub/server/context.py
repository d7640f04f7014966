"""State shared by the server's routes: storage, blobs, the URL-signing secret, auth and permission checks, and
the :class:`HubError` that becomes an HTTP error carrying the ``X-Error-Code`` the real client maps to its
exception classes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from embrace.hub.fsutil import atomic_write_text
from embrace.hub.server.blobs import BlobStore
from embrace.hub.server.sqlite_store import SQLiteStorage
from embrace.hub.server.storage import HubStorage, Repo

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
RESERVED_NAMES = {"api", "datasets", "spaces", "kernels", "models", "lfs-upload", "static", "new", "settings"}
DEFAULT_MULTIPART_CHUNK = 64 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class HubError(Exception):
    """An HTTP error: ``status``, ``code`` (X-Error-Code, may be empty) and a message (X-Error-Message)."""

    def __init__(self, status: int, code: str, message: str, *, commit: str | None = None,
                 body: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.commit, self.body = status, code, message, commit, body or {}


def validate_name(part: str, what: str = "name") -> str:
    if not _NAME.match(part) or "--" in part or ".." in part or part.endswith(".git"):
        raise HubError(400, "", f"Invalid repo {what} {part!r}: use letters, digits, '.', '_', '-' (max 96), "
                                "no '--' or '..', and no .git suffix.")
    return part


def validate_path(path: str) -> str:
    """A repo file path: relative, no ``..``/``.``/empty segments, no ``.git`` folder, no control characters."""
    parts = path.split("/")
    if (not path or len(path) > 1000 or path.startswith("/") or "\\" in path
            or any(p in ("", ".", "..") for p in parts) or parts[0] == ".git" or ".git" in parts[:-1]
            or any(ord(c) < 32 for c in path)):
        raise HubError(400, "", f"Invalid path in repo: {path!r}")
    return path


@dataclass(frozen=True)
class Principal:
    """Who sent a request: a user name and its token role, or anonymous (``user=None``)."""

    user: str | None
    role: str = "read"
    display_name: str = ""
    orgs: tuple[str, ...] = ()

    def owns(self, namespace: str) -> bool:
        return self.user is not None and (namespace == self.user or namespace in self.orgs)


class HubContext:
    def __init__(self, data_dir: str | Path, *, storage: HubStorage | None = None,
                 max_commit_bytes: int = 1 << 30, multipart_chunk_size: int = DEFAULT_MULTIPART_CHUNK) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.storage: HubStorage = storage or SQLiteStorage(self.data_dir / "hub.sqlite3")
        self.blobs = BlobStore(self.data_dir)
        self.max_commit_bytes = max_commit_bytes
        if multipart_chunk_size < 1:
            raise ValueError("multipart_chunk_size must be a positive number of bytes")
        self.multipart_chunk_size = multipart_chunk_size  # LFS objects above this are uploaded in parts
        secret_file = self.data_dir / "secret.key"
        if not secret_file.exists():
            atomic_write_text(secret_file, secrets.token_hex(32))
            secret_file.chmod(0o600)
        self._secret = bytes.fromhex(secret_file.read_text().strip())

    # auth
    def principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        if not header:
            return Principal(None)
        scheme, _, secret = header.partition(" ")
        token = self.storage.lookup_token(secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None
        if token is None:
            raise HubError(401, "", "Invalid credentials in Authorization header")
        user = self.storage.get_user(token.user)
        return Principal(token.user, token.role, token.display_name, user.orgs if user else ())

    def require_user(self, principal: Principal) -> str:
        if principal.user is None:
            raise HubError(401, "", "You must be authenticated: pass a token (Authorization: Bearer ...).")
        return principal.user

    # repos and permissions
    def repo_for_read(self, repo_type: str, repo_id: str, principal: Principal, *, files: bool = False) -> Repo:
        """The repo if ``principal`` may see it. Private repos are indistinguishable from missing ones to
        outsiders (401 anonymous, 404 otherwise); gated repos show their metadata but not their ``files``."""
        namespace, _, name = repo_id.partition("/")
        repo = self.storage.get_repo(repo_type, namespace, name) if name else None
        if repo is None or (repo.private and not principal.owns(repo.namespace)):
            status = 401 if principal.user is None else 404
            raise HubError(status, "RepoNotFound", f"Repository not found: {repo_type} {repo_id}")
        if files and repo.gated and not principal.owns(repo.namespace):
            if principal.user is None:
                raise HubError(401, "GatedRepo", f"Access to {repo_id} is restricted: log in and ask for access.")
            if not self.storage.has_gated_access(repo, principal.user):
                raise HubError(403, "GatedRepo", f"Access to {repo_id} is restricted: ask for access on its page.")
        return repo

    def repo_for_write(self, repo_type: str, repo_id: str, principal: Principal) -> Repo:
        self.require_user(principal)
        repo = self.repo_for_read(repo_type, repo_id, principal)
        self.check_write(repo.namespace, principal)
        return repo

    def check_write(self, namespace: str, principal: Principal) -> None:
        user = self.require_user(principal)
        if not principal.owns(namespace):
            raise HubError(403, "", f"{user} may not write to the namespace {namespace!r}.")
        if principal.role != "write":
            raise HubError(403, "", "This token is read-only: create a write token to push.")

    def resolve(self, repo: Repo, revision: str) -> str:
        sha = self.storage.resolve(repo, revision)
        if sha is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return sha

    # signed URLs for LFS uploads, which the client sends without a token
    def _signature(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    def sign(self, repo: Repo, oid: str, size: int, ttl: int = 3600, chunk: int | None = None) -> str:
        """Query string authorising the upload of exactly ``oid``/``size`` to ``repo`` (in ``chunk``-byte parts
        when given) for ``ttl`` seconds."""
        expires = int(time.time()) + ttl
        payload = f"{repo.id}:{oid}:{size}:{expires}" + (f":{chunk}" if chunk else "")
        query = f"repo={repo.id}&size={size}&exp={expires}"
        return query + (f"&chunk={chunk}" if chunk else "") + f"&sig={self._signature(payload)}"

    def check_signature(self, repo_db_id: int, oid: str, size: int, expires: int, signature: str,
                        chunk: int | None = None) -> None:
        payload = f"{repo_db_id}:{oid}:{size}:{expires}" + (f":{chunk}" if chunk else "")
        if not hmac.compare_digest(self._signature(payload), signature) or expires < time.time():
            raise HubError(403, "", "The upload URL is invalid or expired: ask the LFS batch endpoint for a new one.")


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def repo_url(request: Request, repo: Repo) -> str:
    return f"{base_url(request)}/{URL_PREFIX[repo.type]}{repo.repo_id}"
