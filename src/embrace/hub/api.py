"""``HfApi``: repo metadata, repo management and uploads against the Hugging Face Hub or any compatible server
(``embrace hub serve``). Method names and arguments follow huggingface_hub; results are light dataclasses that
also keep the raw JSON (``.raw``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from embrace.hub import errors
from embrace.hub.commit import CommitInfo, CommitOperation, CommitOperationAdd, CommitOperationDelete, create_commit
from embrace.hub.constants import DEFAULT_REVISION, REPO_TYPE_PLURAL, REPO_TYPE_URL_PREFIX
from embrace.hub.constants import endpoint as default_endpoint
from embrace.hub.http import build_headers, paginate, raise_for_status, request
from embrace.hub.snapshot import filter_paths


class BlobLfsInfo(dict[str, Any]):
    """LFS details of a file: ``.sha256``, ``.size``, ``.pointer_size`` (also readable as dict keys, like
    huggingface_hub's)."""

    def __init__(self, *, size: int, sha256: str, pointer_size: int | None = None) -> None:
        super().__init__(size=size, sha256=sha256, pointer_size=pointer_size)

    @property
    def size(self) -> int:
        return int(self["size"])

    @property
    def sha256(self) -> str:
        return str(self["sha256"])

    @property
    def pointer_size(self) -> int | None:
        value = self["pointer_size"]
        return int(value) if value is not None else None


def _lfs(data: dict[str, Any] | None) -> BlobLfsInfo | None:
    if not data:
        return None
    return BlobLfsInfo(size=data["size"], sha256=data.get("sha256") or data["oid"], pointer_size=data.get("pointerSize"))


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class RepoSibling:
    rfilename: str
    size: int | None = None
    blob_id: str | None = None
    lfs: BlobLfsInfo | None = None


@dataclass(frozen=True)
class GitRefInfo:
    name: str
    ref: str
    target_commit: str


@dataclass(frozen=True)
class GitRefs:
    """``list_repo_refs`` result; ``pull_requests`` is None unless asked for."""

    branches: list[GitRefInfo]
    converts: list[GitRefInfo]
    tags: list[GitRefInfo]
    pull_requests: list[GitRefInfo] | None = None


@dataclass(frozen=True)
class GitCommitInfo:
    commit_id: str
    authors: list[str]
    created_at: datetime | None
    title: str
    message: str


@dataclass(frozen=True)
class RepoInfo:
    """``model_info`` / ``dataset_info`` result: ``id``, ``sha`` of the revision, ``siblings`` and the raw JSON."""

    id: str
    sha: str | None
    private: bool
    gated: str | bool
    siblings: list[RepoSibling]
    tags: list[str]
    last_modified: datetime | None
    created_at: datetime | None
    author: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RepoInfo:
        siblings = [RepoSibling(s["rfilename"], s.get("size"), s.get("blobId"), _lfs(s.get("lfs")))
                    for s in data.get("siblings") or []]
        return cls(data["id"], data.get("sha"), bool(data.get("private")), data.get("gated") or False, siblings,
                   list(data.get("tags") or []), _datetime(data.get("lastModified")),
                   _datetime(data.get("createdAt")), data.get("author"), data)


ModelInfo = DatasetInfo = RepoInfo


@dataclass(frozen=True)
class RepoFile:
    path: str
    size: int
    blob_id: str
    lfs: BlobLfsInfo | None = None


@dataclass(frozen=True)
class RepoFolder:
    path: str
    tree_id: str


class RepoUrl(str):
    """The URL of a repo (a ``str``), with ``repo_id``, ``repo_type`` and ``endpoint``."""

    repo_id: str
    repo_type: str
    endpoint: str

    def __new__(cls, url: str, *, repo_id: str, repo_type: str, endpoint: str) -> RepoUrl:
        value = super().__new__(cls, url)
        value.repo_id, value.repo_type, value.endpoint = repo_id, repo_type, endpoint
        return value


class HfApi:
    """Client of one hub ``endpoint`` (default ``HF_ENDPOINT`` or huggingface.co) with an optional ``token``."""

    def __init__(self, endpoint: str | None = None, token: str | bool | None = None) -> None:
        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.token = token

    def _token(self, token: str | bool | None) -> str | bool | None:
        return self.token if token is None else token

    def _api(self, repo_type: str | None, repo_id: str, *parts: str) -> str:
        base = f"{self.endpoint}/api/{REPO_TYPE_PLURAL[repo_type or 'model']}/{repo_id}"
        return "/".join([base, *parts])

    def _get(self, url: str, token: str | bool | None, params: dict[str, Any] | None = None) -> Any:
        response = request("GET", url, params=params, headers=build_headers(self._token(token)))
        raise_for_status(response)
        return response.json()

    # identity
    def whoami(self, token: str | bool | None = None) -> dict[str, Any]:
        """The user behind the token: ``{"name", "orgs": [...], "auth": {...}}``."""
        response = request("GET", f"{self.endpoint}/api/whoami-v2",
                           headers=build_headers(self._token(token), required=True))
        raise_for_status(response, what="whoami")
        result: dict[str, Any] = response.json()
        return result

    # metadata
    def repo_info(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                  files_metadata: bool = False, token: str | bool | None = None) -> RepoInfo:
        url = self._api(repo_type, repo_id, "revision", quote(revision, safe="")) if revision else self._api(
            repo_type, repo_id)
        params = {"blobs": "true"} if files_metadata else None
        return RepoInfo.from_json(self._get(url, token, params))

    def model_info(self, repo_id: str, *, revision: str | None = None, files_metadata: bool = False,
                   token: str | bool | None = None) -> RepoInfo:
        return self.repo_info(repo_id, revision=revision, files_metadata=files_metadata, token=token)

    def dataset_info(self, repo_id: str, *, revision: str | None = None, files_metadata: bool = False,
                     token: str | bool | None = None) -> RepoInfo:
        return self.repo_info(repo_id, revision=revision, repo_type="dataset", files_metadata=files_metadata,
                              token=token)

    def repo_exists(self, repo_id: str, *, repo_type: str | None = None, token: str | bool | None = None) -> bool:
        try:
            self.repo_info(repo_id, repo_type=repo_type, token=token)
        except errors.RepositoryNotFoundError:
            return False
        return True

    def file_exists(self, repo_id: str, filename: str, *, repo_type: str | None = None, revision: str | None = None,
                    token: str | bool | None = None) -> bool:
        from embrace.hub.download import get_hf_file_metadata, hf_hub_url

        url = hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=self.endpoint)
        try:
            get_hf_file_metadata(url, token=self._token(token), endpoint=self.endpoint)
        except errors.RemoteEntryNotFoundError:
            return False
        return True

    def list_models(self, *, search: str | None = None, author: str | None = None, limit: int | None = None,
                    full: bool = False, token: str | bool | None = None, repo_type: str = "model") -> Iterator[RepoInfo]:
        params: dict[str, Any] = {k: v for k, v in {"search": search, "author": author, "limit": limit}.items() if v}
        if full:
            params["full"] = "true"
        url = f"{self.endpoint}/api/{REPO_TYPE_PLURAL[repo_type]}"
        for count, item in enumerate(paginate(url, params=params, headers=build_headers(self._token(token))), 1):
            yield RepoInfo.from_json(item)
            if limit is not None and count >= limit:
                return

    def list_datasets(self, **kwargs: Any) -> Iterator[RepoInfo]:
        return self.list_models(repo_type="dataset", **kwargs)

    def list_repo_tree(self, repo_id: str, path_in_repo: str | None = None, *, recursive: bool = False,
                       revision: str | None = None, repo_type: str | None = None,
                       token: str | bool | None = None) -> Iterator[RepoFile | RepoFolder]:
        parts = ["tree", quote(revision or DEFAULT_REVISION, safe="")]
        if path_in_repo:
            parts.append(quote(path_in_repo.strip("/")))
        url = self._api(repo_type, repo_id, *parts)
        params = {"recursive": str(recursive).lower(), "expand": "false"}
        for item in paginate(url, params=params, headers=build_headers(self._token(token))):
            if item["type"] == "file":
                yield RepoFile(item["path"], item["size"], item["oid"], _lfs(item.get("lfs")))
            else:
                yield RepoFolder(item["path"], item["oid"])

    def list_repo_files(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                        token: str | bool | None = None) -> list[str]:
        return [item.path for item in self.list_repo_tree(repo_id, recursive=True, revision=revision,
                                                          repo_type=repo_type, token=token)
                if isinstance(item, RepoFile)]

    def list_repo_refs(self, repo_id: str, *, repo_type: str | None = None, include_pull_requests: bool = False,
                       token: str | bool | None = None) -> GitRefs:
        params = {"include_prs": "1"} if include_pull_requests else None
        data = self._get(self._api(repo_type, repo_id, "refs"), token, params)

        def refs(key: str) -> list[GitRefInfo]:
            return [GitRefInfo(r["name"], r["ref"], r["targetCommit"]) for r in data.get(key) or []]

        pulls = refs("pullRequests") if include_pull_requests else None
        return GitRefs(refs("branches"), refs("converts"), refs("tags"), pulls)

    def list_repo_commits(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                          token: str | bool | None = None) -> list[GitCommitInfo]:
        """Commits reachable from ``revision``, newest first."""
        url = self._api(repo_type, repo_id, "commits", quote(revision or DEFAULT_REVISION, safe=""))
        return [
            GitCommitInfo(c["id"], [a.get("user", "") for a in c.get("authors") or []], _datetime(c.get("date")),
                          c.get("title", ""), c.get("message", ""))
            for c in paginate(url, headers=build_headers(self._token(token)))
        ]

    # repo management
    def create_repo(self, repo_id: str, *, private: bool | None = None, repo_type: str | None = None,
                    exist_ok: bool = False, token: str | bool | None = None) -> RepoUrl:
        namespace, _, name = repo_id.rpartition("/")
        body: dict[str, Any] = {"name": name, "organization": namespace or None}
        if repo_type:
            body["type"] = repo_type
        if private is not None:
            body["private"] = private
        response = request("POST", f"{self.endpoint}/api/repos/create", json=body,
                           headers=build_headers(self._token(token), required=True))
        if response.status_code == 409 and exist_ok:
            url = response.json().get("url") or f"{self.endpoint}/{REPO_TYPE_URL_PREFIX[repo_type or 'model']}{repo_id}"
        else:
            raise_for_status(response, what=f"create_repo {repo_id}")
            url = response.json()["url"]
        url = url.rstrip("/")
        full_id = url[len(self.endpoint) + 1:] if url.startswith(self.endpoint + "/") else url.split("/", 3)[-1]
        prefix = REPO_TYPE_URL_PREFIX[repo_type or "model"]
        full_id = full_id[len(prefix):] if prefix and full_id.startswith(prefix) else full_id
        return RepoUrl(url, repo_id=full_id, repo_type=repo_type or "model", endpoint=self.endpoint)

    def delete_repo(self, repo_id: str, *, repo_type: str | None = None, missing_ok: bool = False,
                    token: str | bool | None = None) -> None:
        namespace, _, name = repo_id.rpartition("/")
        body: dict[str, Any] = {"name": name, "organization": namespace or None}
        if repo_type:
            body["type"] = repo_type
        response = request("DELETE", f"{self.endpoint}/api/repos/delete", json=body,
                           headers=build_headers(self._token(token), required=True))
        try:
            raise_for_status(response, what=f"delete_repo {repo_id}")
        except errors.RepositoryNotFoundError:
            if not missing_ok:
                raise

    def update_repo_settings(self, repo_id: str, *, private: bool | None = None, gated: str | bool | None = None,
                             repo_type: str | None = None, token: str | bool | None = None) -> None:
        body: dict[str, Any] = {}
        if private is not None:
            body["private"] = private
        if gated is not None:
            body["gated"] = gated
        response = request("PUT", self._api(repo_type, repo_id, "settings"), json=body,
                           headers=build_headers(self._token(token), required=True))
        raise_for_status(response, what="update_repo_settings")

    def _ref(self, method: str, repo_id: str, kind: str, name: str, body: dict[str, Any] | None,
             repo_type: str | None, token: str | bool | None, exist_ok: bool = False) -> None:
        response = request(method, self._api(repo_type, repo_id, kind, quote(name, safe="")), json=body,
                           headers=build_headers(self._token(token), required=True))
        if response.status_code == 409 and exist_ok:
            return
        raise_for_status(response, what=f"{kind} {name}")

    def create_branch(self, repo_id: str, *, branch: str, revision: str | None = None, repo_type: str | None = None,
                      exist_ok: bool = False, token: str | bool | None = None) -> None:
        body = {"startingPoint": revision} if revision else {}
        self._ref("POST", repo_id, "branch", branch, body, repo_type, token, exist_ok)

    def delete_branch(self, repo_id: str, *, branch: str, repo_type: str | None = None,
                      token: str | bool | None = None) -> None:
        self._ref("DELETE", repo_id, "branch", branch, None, repo_type, token)

    def create_tag(self, repo_id: str, *, tag: str, revision: str | None = None, tag_message: str | None = None,
                   repo_type: str | None = None, exist_ok: bool = False, token: str | bool | None = None) -> None:
        body = {"tag": tag, "message": tag_message or ""}
        self._ref("POST", repo_id, "tag", revision or DEFAULT_REVISION, body, repo_type, token, exist_ok)

    def delete_tag(self, repo_id: str, *, tag: str, repo_type: str | None = None,
                   token: str | bool | None = None) -> None:
        self._ref("DELETE", repo_id, "tag", tag, None, repo_type, token)

    # uploads
    def create_commit(self, repo_id: str, operations: list[CommitOperation], *, commit_message: str,
                      commit_description: str | None = None, revision: str | None = None,
                      repo_type: str | None = None, create_pr: bool = False, parent_commit: str | None = None,
                      token: str | bool | None = None) -> CommitInfo:
        return create_commit(list(operations), endpoint=self.endpoint, repo_type=repo_type or "model",
                             repo_id=repo_id, revision=revision or DEFAULT_REVISION, token=self._token(token),
                             commit_message=commit_message, commit_description=commit_description or "",
                             parent_commit=parent_commit, create_pr=create_pr)

    def upload_file(self, *, path_or_fileobj: str | Path | bytes | BinaryIO, path_in_repo: str, repo_id: str,
                    repo_type: str | None = None, revision: str | None = None, commit_message: str | None = None,
                    commit_description: str | None = None, create_pr: bool = False,
                    parent_commit: str | None = None, token: str | bool | None = None) -> CommitInfo:
        operation = CommitOperationAdd(path_in_repo, path_or_fileobj)
        return self.create_commit(repo_id, [operation], commit_message=commit_message or f"Upload {path_in_repo}",
                                  commit_description=commit_description, revision=revision, repo_type=repo_type,
                                  create_pr=create_pr, parent_commit=parent_commit, token=token)

    def upload_folder(self, *, folder_path: str | os.PathLike[str], repo_id: str, path_in_repo: str | None = None,
                      repo_type: str | None = None, revision: str | None = None, commit_message: str | None = None,
                      commit_description: str | None = None, allow_patterns: str | list[str] | None = None,
                      ignore_patterns: str | list[str] | None = None, delete_patterns: str | list[str] | None = None,
                      create_pr: bool = False, parent_commit: str | None = None,
                      token: str | bool | None = None) -> CommitInfo:
        """Upload every file of ``folder_path`` (minus ``.git/`` and ``.cache/huggingface/``) in one commit;
        remote files matching ``delete_patterns`` that the folder no longer has are deleted in the same commit."""
        folder = Path(folder_path)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder: upload_folder needs a directory.")
        local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        local = [p for p in local if not p.startswith((".git/", ".cache/huggingface/")) and "/.git/" not in p]
        local = filter_paths(local, allow_patterns, ignore_patterns)
        prefix = (path_in_repo or "").strip("/")
        ops: list[CommitOperation] = [
            CommitOperationAdd(f"{prefix}/{rel}" if prefix else rel, folder / rel) for rel in local]
        if delete_patterns:
            uploaded = {op.path_in_repo for op in ops}
            remote = self.list_repo_files(repo_id, revision=revision, repo_type=repo_type, token=token)
            in_scope = [p[len(prefix) + 1:] if prefix else p for p in remote if not prefix or p.startswith(prefix + "/")]
            for rel in filter_paths(in_scope, delete_patterns, None):
                full = f"{prefix}/{rel}" if prefix else rel
                if full not in uploaded and full != ".gitattributes":
                    ops.append(CommitOperationDelete(full))
        return self.create_commit(repo_id, ops, commit_message=commit_message or "Upload folder using embrace",
                                  commit_description=commit_description, revision=revision, repo_type=repo_type,
                                  create_pr=create_pr, parent_commit=parent_commit, token=token)

    def delete_file(self, path_in_repo: str, repo_id: str, *, repo_type: str | None = None,
                    revision: str | None = None, commit_message: str | None = None,
                    token: str | bool | None = None) -> CommitInfo:
        return self.create_commit(repo_id, [CommitOperationDelete(path_in_repo)],
                                  commit_message=commit_message or f"Delete {path_in_repo}", revision=revision,
                                  repo_type=repo_type, token=token)

    # downloads bound to this endpoint
    def hf_hub_download(self, repo_id: str, filename: str, **kwargs: Any) -> str:
        from embrace.hub.download import hf_hub_download

        kwargs.setdefault("token", self.token)
        return hf_hub_download(repo_id, filename, endpoint=self.endpoint, **kwargs)

    def snapshot_download(self, repo_id: str, **kwargs: Any) -> str:
        from embrace.hub.snapshot import snapshot_download

        kwargs.setdefault("token", self.token)
        return snapshot_download(repo_id, endpoint=self.endpoint, **kwargs)


def push_folder_to_hub(folder: str | os.PathLike[str], repo_id: str, *, commit_message: str = "Upload with embrace",
                       private: bool | None = None, token: str | bool | None = None, revision: str | None = None,
                       create_pr: bool = False, repo_type: str = "model", endpoint: str | None = None,
                       ignore_patterns: str | list[str] | None = None) -> CommitInfo:
    """The one helper behind every ``push_to_hub``: create the repo if needed (``private`` applies only then),
    create ``revision`` as a branch if it does not exist, and upload the folder in one commit.

    ``model.save_pretrained(tmp); push_folder_to_hub(tmp, "me/model", commit_message="...")`` is what
    ``PreTrainedModel.push_to_hub``, tokenizers, datasets and the Trainer call."""
    api = HfApi(endpoint=endpoint, token=token)
    url = api.create_repo(repo_id, private=private, repo_type=repo_type, exist_ok=True)
    if revision and revision != DEFAULT_REVISION and not create_pr:
        api.create_branch(url.repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
    return api.upload_folder(folder_path=folder, repo_id=url.repo_id, repo_type=repo_type, revision=revision,
                             commit_message=commit_message, create_pr=create_pr, ignore_patterns=ignore_patterns)


def push_saved_to_hub(save: Callable[[str], Any], repo_id: str, **kwargs: Any) -> CommitInfo:
    """``save(folder)`` into a temporary folder, then :func:`push_folder_to_hub` it: the ``push_to_hub`` of
    models and tokenizers (``kwargs``: its options: ``commit_message``, ``private``, ``token``, ``revision``...)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        save(tmp)
        return push_folder_to_hub(tmp, repo_id, **kwargs)
