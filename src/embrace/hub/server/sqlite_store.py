"""SQLite implementation of :class:`HubStorage`: one WAL database file, one connection guarded by a lock per
process (SQLite's own locking covers several processes). Each commit copies the file table of its parent, which
keeps reads of any revision a single indexed query."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from embrace.hub.server.storage import (
    Commit,
    EntryMissingError,
    FileEntry,
    HubStorage,
    NameTakenError,
    Operation,
    ParentMismatchError,
    Ref,
    RefExistsError,
    Repo,
    RepoExistsError,
    RepoMissingError,
    RevisionMissingError,
    Token,
    User,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, fullname TEXT NOT NULL, is_org INTEGER NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (org TEXT NOT NULL, user TEXT NOT NULL, PRIMARY KEY (org, user));
CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL,
    display_name TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repos (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, namespace TEXT NOT NULL,
    name TEXT NOT NULL, private INTEGER NOT NULL, gated TEXT, created_at TEXT NOT NULL, last_modified TEXT NOT NULL,
    next_pr INTEGER NOT NULL DEFAULT 1, UNIQUE (type, namespace, name));
CREATE TABLE IF NOT EXISTS commits (repo_id INTEGER NOT NULL, sha TEXT NOT NULL, parent TEXT, title TEXT NOT NULL,
    message TEXT NOT NULL, author TEXT NOT NULL, date TEXT NOT NULL, PRIMARY KEY (repo_id, sha));
CREATE TABLE IF NOT EXISTS files (repo_id INTEGER NOT NULL, commit_sha TEXT NOT NULL, path TEXT NOT NULL,
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, oid TEXT NOT NULL, lfs INTEGER NOT NULL,
    PRIMARY KEY (repo_id, commit_sha, path));
CREATE TABLE IF NOT EXISTS refs (repo_id INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    target TEXT NOT NULL, PRIMARY KEY (repo_id, kind, name));
CREATE TABLE IF NOT EXISTS gated_access (repo_id INTEGER NOT NULL, user TEXT NOT NULL, PRIMARY KEY (repo_id, user));
CREATE TABLE IF NOT EXISTS lfs_objects (repo_id INTEGER NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    PRIMARY KEY (repo_id, sha256));
"""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(UTC).microsecond // 1000:03d}Z"


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SQLiteStorage(HubStorage):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes SQLite's write lock up front (no upgrade deadlocks across processes)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # users, orgs, tokens
    def create_user(self, name: str, *, fullname: str = "", is_org: bool = False) -> User:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM users WHERE name=?", (name,)).fetchone():
                raise NameTakenError(f"The name {name!r} is already taken by a user or organisation.")
            db.execute("INSERT INTO users VALUES (?,?,?,?)", (name, fullname or name, int(is_org), now_iso()))
        return User(name, fullname or name, is_org)

    def get_user(self, name: str) -> User | None:
        rows = self._query("SELECT * FROM users WHERE name=?", (name,))
        if not rows:
            return None
        orgs = tuple(r["org"] for r in self._query("SELECT org FROM members WHERE user=? ORDER BY org", (name,)))
        return User(rows[0]["name"], rows[0]["fullname"], bool(rows[0]["is_org"]), orgs)

    def add_member(self, org: str, user: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO members VALUES (?,?)", (org, user))

    def create_token(self, user: str, *, role: str = "write", display_name: str = "token") -> str:
        if role not in ("read", "write"):
            raise ValueError(f"token role must be 'read' or 'write', got {role!r}")
        secret = "hf_" + secrets.token_urlsafe(30)
        with self._tx() as db:
            db.execute(
                "INSERT INTO tokens VALUES (?,?,?,?,?)", (_hash_token(secret), user, role, display_name, now_iso())
            )
        return secret

    def lookup_token(self, secret: str) -> Token | None:
        rows = self._query("SELECT user, role, display_name FROM tokens WHERE hash=?", (_hash_token(secret),))
        return Token(rows[0]["user"], rows[0]["role"], rows[0]["display_name"]) if rows else None

    # repos
    @staticmethod
    def _repo(row: sqlite3.Row) -> Repo:
        return Repo(row["id"], row["type"], row["namespace"], row["name"], bool(row["private"]), row["gated"],
                    row["created_at"], row["last_modified"])

    def create_repo(self, repo_type: str, namespace: str, name: str, *, private: bool, author: str,
                    initial_files: list[FileEntry]) -> Repo:
        stamp = now_iso()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM repos WHERE type=? AND namespace=? AND name=?",
                          (repo_type, namespace, name)).fetchone():
                raise RepoExistsError(f"{repo_type} repo {namespace}/{name} already exists.")
            cursor = db.execute(
                "INSERT INTO repos (type, namespace, name, private, gated, created_at, last_modified) "
                "VALUES (?,?,?,?,NULL,?,?)", (repo_type, namespace, name, int(private), stamp, stamp))
            repo_id = int(cursor.lastrowid or 0)
            sha = _commit_sha(None, "initial commit", author, {f.path: f for f in initial_files})
            db.execute("INSERT INTO commits VALUES (?,?,?,?,?,?,?)",
                       (repo_id, sha, None, "initial commit", "", author, stamp))
            self._insert_files(db, repo_id, sha, initial_files)
            db.execute("INSERT INTO refs VALUES (?,?,?,?)", (repo_id, "branch", "main", sha))
        repo = self.get_repo(repo_type, namespace, name)
        assert repo is not None
        return repo

    def get_repo(self, repo_type: str, namespace: str, name: str) -> Repo | None:
        rows = self._query("SELECT * FROM repos WHERE type=? AND namespace=? AND name=?", (repo_type, namespace, name))
        return self._repo(rows[0]) if rows else None

    def get_repo_by_id(self, repo_db_id: int) -> Repo | None:
        rows = self._query("SELECT * FROM repos WHERE id=?", (repo_db_id,))
        return self._repo(rows[0]) if rows else None

    def delete_repo(self, repo: Repo) -> None:
        with self._tx() as db:
            for table in ("files", "commits", "refs", "gated_access", "lfs_objects"):
                db.execute(f"DELETE FROM {table} WHERE repo_id=?", (repo.id,))
            db.execute("DELETE FROM repos WHERE id=?", (repo.id,))

    def update_repo(self, repo: Repo, *, private: bool | None = None, gated: str | None | bool = False) -> Repo:
        with self._tx() as db:
            if private is not None:
                db.execute("UPDATE repos SET private=? WHERE id=?", (int(private), repo.id))
            if gated is not False:
                db.execute("UPDATE repos SET gated=? WHERE id=?", (gated or None, repo.id))
        updated = self.get_repo(repo.type, repo.namespace, repo.name)
        if updated is None:
            raise RepoMissingError(f"{repo.repo_id} was deleted meanwhile.")
        return updated

    def list_repos(self, repo_type: str) -> list[Repo]:
        rows = self._query("SELECT * FROM repos WHERE type=? ORDER BY last_modified DESC", (repo_type,))
        return [self._repo(r) for r in rows]

    def grant_gated_access(self, repo: Repo, user: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO gated_access VALUES (?,?)", (repo.id, user))

    def has_gated_access(self, repo: Repo, user: str) -> bool:
        return bool(self._query("SELECT 1 FROM gated_access WHERE repo_id=? AND user=?", (repo.id, user)))

    # refs and commits
    def list_refs(self, repo: Repo) -> list[Ref]:
        rows = self._query("SELECT kind, name, target FROM refs WHERE repo_id=? ORDER BY kind, name", (repo.id,))
        return [Ref(r["kind"], r["name"], r["target"]) for r in rows]

    def _resolve(self, db: sqlite3.Connection, repo_id: int, revision: str) -> tuple[str | None, Ref | None]:
        kind = "pr" if revision.startswith("refs/pr/") else None
        names = [revision]
        for prefix, k in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
            if revision.startswith(prefix):
                names, kind = [revision[len(prefix):]], k
        for name in names:
            sql = "SELECT kind, name, target FROM refs WHERE repo_id=? AND name=?" + (" AND kind=?" if kind else "")
            params: tuple[object, ...] = (repo_id, name, kind) if kind else (repo_id, name)
            # a branch wins over a tag of the same name, as in git
            rows = sorted(db.execute(sql, params).fetchall(), key=lambda r: r["kind"] != "branch")
            if rows:
                return rows[0]["target"], Ref(rows[0]["kind"], rows[0]["name"], rows[0]["target"])
        lowered = revision.lower()
        if 7 <= len(lowered) <= 40 and all(c in "0123456789abcdef" for c in lowered):
            rows = db.execute("SELECT sha FROM commits WHERE repo_id=? AND sha LIKE ? LIMIT 2",
                              (repo_id, lowered + "%")).fetchall()
            if len(rows) == 1:
                return rows[0]["sha"], None
        return None, None

    def resolve(self, repo: Repo, revision: str) -> str | None:
        with self._lock:
            return self._resolve(self._db, repo.id, revision)[0]

    def get_commit(self, repo: Repo, sha: str) -> Commit | None:
        rows = self._query("SELECT * FROM commits WHERE repo_id=? AND sha=?", (repo.id, sha))
        if not rows:
            return None
        r = rows[0]
        return Commit(r["sha"], r["parent"], r["title"], r["message"], r["author"], r["date"])

    @staticmethod
    def _entry(row: sqlite3.Row) -> FileEntry:
        return FileEntry(row["path"], row["size"], row["sha256"], row["oid"], bool(row["lfs"]))

    def list_files(self, repo: Repo, sha: str) -> dict[str, FileEntry]:
        rows = self._query("SELECT * FROM files WHERE repo_id=? AND commit_sha=? ORDER BY path", (repo.id, sha))
        return {r["path"]: self._entry(r) for r in rows}

    def get_file(self, repo: Repo, sha: str, path: str) -> FileEntry | None:
        rows = self._query("SELECT * FROM files WHERE repo_id=? AND commit_sha=? AND path=?", (repo.id, sha, path))
        return self._entry(rows[0]) if rows else None

    @staticmethod
    def _insert_files(db: sqlite3.Connection, repo_id: int, sha: str, entries: list[FileEntry]) -> None:
        db.executemany("INSERT INTO files VALUES (?,?,?,?,?,?,?)",
                       [(repo_id, sha, f.path, f.size, f.sha256, f.oid, int(f.lfs)) for f in entries])

    def commit(self, repo: Repo, revision: str, operations: list[Operation], *, title: str, message: str,
               author: str, parent_commit: str | None = None, create_pr: bool = False) -> tuple[str, int | None]:
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM repos WHERE id=?", (repo.id,)).fetchone():
                raise RepoMissingError(f"{repo.repo_id} does not exist any more.")
            head, ref = self._resolve(db, repo.id, revision)
            if head is None or (ref is None and not create_pr) or (ref is not None and ref.kind == "tag"):
                raise RevisionMissingError(f"Cannot commit to {revision!r}: it is not a branch of {repo.repo_id}.")
            if parent_commit and not head.startswith(parent_commit.lower()):
                raise ParentMismatchError(
                    f"{revision} moved: its head is {head}, not the parent commit {parent_commit}. Pull and retry.")
            files = {r["path"]: self._entry(r) for r in db.execute(
                "SELECT * FROM files WHERE repo_id=? AND commit_sha=?", (repo.id, head))}
            for op in operations:
                _apply(files, op)
            sha = _commit_sha(head, title, author, files)
            stamp = now_iso()
            db.execute("INSERT INTO commits VALUES (?,?,?,?,?,?,?)",
                       (repo.id, sha, head, title, message, author, stamp))
            self._insert_files(db, repo.id, sha, list(files.values()))
            pr_number = None
            if create_pr:
                pr_number = int(db.execute("SELECT next_pr FROM repos WHERE id=?", (repo.id,)).fetchone()[0])
                db.execute("UPDATE repos SET next_pr=? WHERE id=?", (pr_number + 1, repo.id))
                db.execute("INSERT INTO refs VALUES (?,?,?,?)", (repo.id, "pr", f"refs/pr/{pr_number}", sha))
            else:
                assert ref is not None
                db.execute("UPDATE refs SET target=? WHERE repo_id=? AND kind=? AND name=?",
                           (sha, repo.id, ref.kind, ref.name))
            db.execute("UPDATE repos SET last_modified=? WHERE id=?", (stamp, repo.id))
        return sha, pr_number

    def create_ref(self, repo: Repo, kind: str, name: str, target: str) -> None:
        with self._tx() as db:
            if db.execute("SELECT 1 FROM refs WHERE repo_id=? AND kind=? AND name=?", (repo.id, kind, name)).fetchone():
                raise RefExistsError(f"{kind} {name!r} already exists in {repo.repo_id}.")
            db.execute("INSERT INTO refs VALUES (?,?,?,?)", (repo.id, kind, name, target))

    def delete_ref(self, repo: Repo, kind: str, name: str) -> None:
        with self._tx() as db:
            cursor = db.execute("DELETE FROM refs WHERE repo_id=? AND kind=? AND name=?", (repo.id, kind, name))
            if cursor.rowcount == 0:
                raise RevisionMissingError(f"{kind} {name!r} does not exist in {repo.repo_id}.")

    def add_lfs_object(self, repo: Repo, sha256: str, size: int) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO lfs_objects VALUES (?,?,?)", (repo.id, sha256, size))

    def lfs_object_size(self, repo: Repo, sha256: str) -> int | None:
        rows = self._query("SELECT size FROM lfs_objects WHERE repo_id=? AND sha256=?", (repo.id, sha256))
        return int(rows[0]["size"]) if rows else None

    def referenced_blobs(self) -> set[str]:
        rows = self._query("SELECT sha256 FROM files UNION SELECT sha256 FROM lfs_objects")
        return {r["sha256"] for r in rows}


def _apply(files: dict[str, FileEntry], op: Operation) -> None:
    if op.kind == "add":
        assert op.entry is not None
        files[op.path] = op.entry
    elif op.kind == "delete_file":
        if op.path not in files:
            raise EntryMissingError(f"A file with this name doesn't exist: {op.path}")
        del files[op.path]
    elif op.kind == "delete_folder":
        prefix = op.path.rstrip("/") + "/"
        doomed = [p for p in files if p.startswith(prefix)]
        if not doomed:
            raise EntryMissingError(f"A folder with this name doesn't exist: {op.path}")
        for path in doomed:
            del files[path]
    else:
        raise ValueError(f"unknown operation {op.kind!r}")


def _commit_sha(parent: str | None, title: str, author: str, files: dict[str, FileEntry]) -> str:
    """A unique 40-hex commit id over the parent, the file table and a nonce (two identical commits still differ)."""
    body = json.dumps([parent, title, author, time.time_ns(), secrets.token_hex(8),
                       sorted((p, f.oid) for p, f in files.items())])
    return hashlib.sha1(body.encode(), usedforsecurity=False).hexdigest()
