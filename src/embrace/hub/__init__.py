"""The hub: the HF cache layout, file resolution, an HTTP client of the Hugging Face Hub protocol, and (in
``embrace.hub.server``) a self-hosted hub server the real client can use.

Import names as from huggingface_hub: ``hf_hub_download``, ``snapshot_download``, ``HfApi``, ``create_repo``,
``upload_file``, ``upload_folder``, ``login``, ``whoami``... The module-level functions use ``HF_ENDPOINT``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> module defining it; resolved on first access so that `embrace.hub.resolve` (used by every
# from_pretrained on a local folder) does not pay for importing httpx
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ["BlobLfsInfo", "GitCommitInfo", "GitRefInfo", "GitRefs", "HfApi", "RepoFile", "RepoFolder", "RepoInfo",
         "RepoSibling", "RepoUrl", "push_folder_to_hub", "push_saved_to_hub"], "embrace.hub.api"),
    **dict.fromkeys(["get_token", "login", "logout"], "embrace.hub.auth"),
    "try_to_load_from_cache": "embrace.hub.cache",
    **dict.fromkeys(["CommitInfo", "CommitOperationAdd", "CommitOperationDelete"], "embrace.hub.commit"),
    **dict.fromkeys(["get_hf_file_metadata", "hf_hub_download", "hf_hub_url"], "embrace.hub.download"),
    **dict.fromkeys(
        ["BadRequestError", "GatedRepoError", "HubHTTPError", "IncompleteSnapshotError", "LocalEntryNotFoundError",
         "OfflineModeIsEnabled", "RemoteEntryNotFoundError", "RepositoryNotFoundError", "RevisionNotFoundError"],
        "embrace.hub.errors"),
    "cached_file": "embrace.hub.resolve",
    "snapshot_download": "embrace.hub.snapshot",
    **dict.fromkeys(
        ["create_commit", "create_repo", "dataset_info", "delete_repo", "list_models", "list_repo_files",
         "model_info", "upload_file", "upload_folder", "whoami"], "embrace.hub.shortcuts"),
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'embrace.hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from embrace.hub.api import (  # noqa: F401
        BlobLfsInfo,
        GitCommitInfo,
        GitRefInfo,
        GitRefs,
        HfApi,
        RepoFile,
        RepoFolder,
        RepoInfo,
        RepoSibling,
        RepoUrl,
        push_folder_to_hub,
        push_saved_to_hub,
    )
    from embrace.hub.auth import get_token, login, logout  # noqa: F401
    from embrace.hub.cache import try_to_load_from_cache  # noqa: F401
    from embrace.hub.commit import CommitInfo, CommitOperationAdd, CommitOperationDelete  # noqa: F401
    from embrace.hub.download import get_hf_file_metadata, hf_hub_download, hf_hub_url  # noqa: F401
    from embrace.hub.errors import (  # noqa: F401
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
    from embrace.hub.resolve import cached_file  # noqa: F401
    from embrace.hub.shortcuts import (  # noqa: F401
        create_commit,
        create_repo,
        dataset_info,
        delete_repo,
        list_models,
        list_repo_files,
        model_info,
        upload_file,
        upload_folder,
        whoami,
    )
    from embrace.hub.snapshot import snapshot_download  # noqa: F401
