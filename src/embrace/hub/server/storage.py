"""The storage interface of the hub server: metadata (users, repos, refs, commits, file tables) behind one small
abstract class, so the SQLite default (:mod:`.sqlite_store`) can be swapped for PostgreSQL. File bytes live in the
content-addressed :class:`~embrace.hub.server.blobs.BlobStore`, never in the database."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from embrace.errors import EmbraceError


class StorageError(EmbraceError):
    """Base class of storage-level refusals; the app maps each to an HTTP status and ``X-Error-Code``."""


class RepoExistsError(StorageError):
    pass


class RepoMissingError(StorageError):
    pass


class RevisionMissingError(StorageError):
    pass


class EntryMissingError(StorageError):
    pass


class ParentMismatchError(StorageError):
    """The branch head moved since the client's ``parentCommit``: HTTP 412, the client must rebase and retry."""


class RefExistsError(StorageError):
    pass


class NameTakenError(StorageError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    fullname: str = ""
    is_org: bool = False
    orgs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Token:
    user: str
    role: str  # "read" or "write"
    display_name: str


@dataclass(frozen=True)
class Repo:
    id: int
    type: str  # "model" | "dataset" | "space"
    namespace: str
    name: str
    private: bool
    gated: str | None  # None, "auto" or "manual"
    created_at: str
    last_modified: str

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit. ``oid`` is the git object id (of the LFS pointer for LFS files); the bytes are the
    blob named ``sha256``."""

    path: str
    size: int
    sha256: str
    oid: str
    lfs: bool


@dataclass(frozen=True)
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str


@dataclass(frozen=True)
class Ref:
    kind: str  # "branch" | "tag" | "pr"
    name: str  # "main", "v1.0", "refs/pr/1"
    target: str


@dataclass
class Operation:
    """One change of a commit: ``add`` (with ``entry``), ``delete_file`` or ``delete_folder`` (of ``path``)."""

    kind: str
    path: str
    entry: FileEntry | None = None
    extra: dict[str, str] = field(default_factory=dict)


class HubStorage(abc.ABC):
    """Metadata store. Every method is atomic; ``commit`` is a compare-and-set on the branch head."""

    # users, orgs, tokens
    @abc.abstractmethod
    def create_user(self, name: str, *, fullname: str = "", is_org: bool = False) -> User: ...

    @abc.abstractmethod
    def get_user(self, name: str) -> User | None: ...

    @abc.abstractmethod
    def add_member(self, org: str, user: str) -> None: ...

    @abc.abstractmethod
    def create_token(self, user: str, *, role: str = "write", display_name: str = "token") -> str:
        """Create a token and return its secret (only its hash is stored)."""

    @abc.abstractmethod
    def lookup_token(self, secret: str) -> Token | None: ...

    # repos
    @abc.abstractmethod
    def create_repo(self, repo_type: str, namespace: str, name: str, *, private: bool, author: str,
                    initial_files: list[FileEntry]) -> Repo: ...

    @abc.abstractmethod
    def get_repo(self, repo_type: str, namespace: str, name: str) -> Repo | None: ...

    @abc.abstractmethod
    def get_repo_by_id(self, repo_db_id: int) -> Repo | None: ...

    @abc.abstractmethod
    def delete_repo(self, repo: Repo) -> None: ...

    @abc.abstractmethod
    def update_repo(self, repo: Repo, *, private: bool | None = None, gated: str | None | bool = False) -> Repo: ...

    @abc.abstractmethod
    def list_repos(self, repo_type: str) -> list[Repo]: ...

    @abc.abstractmethod
    def grant_gated_access(self, repo: Repo, user: str) -> None: ...

    @abc.abstractmethod
    def has_gated_access(self, repo: Repo, user: str) -> bool: ...

    # refs and commits
    @abc.abstractmethod
    def list_refs(self, repo: Repo) -> list[Ref]: ...

    @abc.abstractmethod
    def resolve(self, repo: Repo, revision: str) -> str | None:
        """Commit sha of a branch, tag, ``refs/pr/N``, full sha or unique sha prefix (>= 7 chars), or None."""

    @abc.abstractmethod
    def get_commit(self, repo: Repo, sha: str) -> Commit | None: ...

    @abc.abstractmethod
    def list_files(self, repo: Repo, sha: str) -> dict[str, FileEntry]: ...

    @abc.abstractmethod
    def get_file(self, repo: Repo, sha: str, path: str) -> FileEntry | None: ...

    @abc.abstractmethod
    def commit(self, repo: Repo, revision: str, operations: list[Operation], *, title: str, message: str,
               author: str, parent_commit: str | None = None, create_pr: bool = False) -> tuple[str, int | None]:
        """Apply ``operations`` on top of ``revision``'s head; return (new sha, PR number or None)."""

    @abc.abstractmethod
    def create_ref(self, repo: Repo, kind: str, name: str, target: str) -> None: ...

    @abc.abstractmethod
    def delete_ref(self, repo: Repo, kind: str, name: str) -> None: ...

    # LFS objects a repo may reference (uploaded to it, checked by hash)
    @abc.abstractmethod
    def add_lfs_object(self, repo: Repo, sha256: str, size: int) -> None: ...

    @abc.abstractmethod
    def lfs_object_size(self, repo: Repo, sha256: str) -> int | None: ...

    @abc.abstractmethod
    def referenced_blobs(self) -> set[str]:
        """sha256 of every blob some commit or LFS upload of a live repo still references (for garbage collection)."""
