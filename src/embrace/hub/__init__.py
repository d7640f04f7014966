"""The hub: the HF cache layout, file resolution, an HTTP client of the Hugging Face Hub protocol, and (in
``embrace.hub.server``) a self-hosted hub server the real client can use.

Import names as from huggingface_hub: ``hf_hub_download``, ``snapshot_download``, ``HfApi``, ``create_repo``,
``upload_file``, ``upload_folder``, ``login``, ``whoami``... The module-level functions use ``HF_ENDPOINT``.
"""

from __future__ import annotations

from typing import Any

from embrace.hub.api import HfApi, RepoFile, RepoFolder, RepoInfo, RepoUrl, push_folder_to_hub
from embrace.hub.auth import get_token, login, logout
from embrace.hub.cache import try_to_load_from_cache
from embrace.hub.commit import CommitInfo, CommitOperationAdd, CommitOperationDelete
from embrace.hub.download import get_hf_file_metadata, hf_hub_download, hf_hub_url
from embrace.hub.errors import (
    BadRequestError,
    GatedRepoError,
    HubHTTPError,
    IncompleteSnapshotError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from embrace.hub.resolve import cached_file
from embrace.hub.snapshot import snapshot_download


def _default_api(endpoint: str | None = None) -> HfApi:
    return HfApi(endpoint=endpoint)


def whoami(token: str | bool | None = None, *, endpoint: str | None = None) -> dict[str, Any]:
    return _default_api(endpoint).whoami(token=token)


def model_info(repo_id: str, **kwargs: Any) -> RepoInfo:
    return _default_api(kwargs.pop("endpoint", None)).model_info(repo_id, **kwargs)


def dataset_info(repo_id: str, **kwargs: Any) -> RepoInfo:
    return _default_api(kwargs.pop("endpoint", None)).dataset_info(repo_id, **kwargs)


def list_models(**kwargs: Any) -> Any:
    return _default_api(kwargs.pop("endpoint", None)).list_models(**kwargs)


def list_repo_files(repo_id: str, **kwargs: Any) -> list[str]:
    return _default_api(kwargs.pop("endpoint", None)).list_repo_files(repo_id, **kwargs)


def create_repo(repo_id: str, **kwargs: Any) -> RepoUrl:
    return _default_api(kwargs.pop("endpoint", None)).create_repo(repo_id, **kwargs)


def delete_repo(repo_id: str, **kwargs: Any) -> None:
    _default_api(kwargs.pop("endpoint", None)).delete_repo(repo_id, **kwargs)


def upload_file(**kwargs: Any) -> CommitInfo:
    return _default_api(kwargs.pop("endpoint", None)).upload_file(**kwargs)


def upload_folder(**kwargs: Any) -> CommitInfo:
    return _default_api(kwargs.pop("endpoint", None)).upload_folder(**kwargs)


def create_commit(repo_id: str, operations: list[Any], **kwargs: Any) -> CommitInfo:
    return _default_api(kwargs.pop("endpoint", None)).create_commit(repo_id, operations, **kwargs)


__all__ = [
    "BadRequestError", "CommitInfo", "CommitOperationAdd", "CommitOperationDelete", "GatedRepoError", "HfApi",
    "HubHTTPError", "IncompleteSnapshotError", "LocalEntryNotFoundError", "OfflineModeIsEnabled",
    "RemoteEntryNotFoundError", "RepoFile", "RepoFolder", "RepoInfo", "RepoUrl", "RepositoryNotFoundError",
    "RevisionNotFoundError", "cached_file", "create_commit", "create_repo", "dataset_info", "delete_repo",
    "get_hf_file_metadata", "get_token", "hf_hub_download", "hf_hub_url", "list_models", "list_repo_files", "login",
    "logout", "model_info", "push_folder_to_hub", "snapshot_download", "try_to_load_from_cache", "upload_file",
    "upload_folder", "whoami",
]
