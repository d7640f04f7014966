"""Module-level shortcuts (``embrace.hub.create_repo(...)`` etc.) on a default :class:`HfApi` (``HF_ENDPOINT``)."""

from __future__ import annotations

from typing import Any

from embrace.hub.api import HfApi, RepoInfo, RepoUrl
from embrace.hub.commit import CommitInfo


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
