"""Turn ``path_or_repo_id`` + filename into a local file: a local folder, the HF cache, or (when online) a download.

This is the single entry point model, tokenizer and dataset loading use; the network download plugs in through
``embrace.hub.download`` when it is available and offline mode is off.
"""

from __future__ import annotations

import os
from pathlib import Path

from embrace.errors import EmbraceFileNotFoundError, EntryNotFoundError, OfflineModeError
from embrace.hub.cache import cached_repo_path, is_commit_hash, try_to_load_from_cache
from embrace.hub.constants import is_offline


def looks_like_repo_id(name: str) -> bool:
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not name.startswith((".", "~")) and "\\" not in name


def cached_file(
    path_or_repo_id: str | os.PathLike[str],
    filename: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
    local_files_only: bool = False,
    repo_type: str = "model",
    missing_ok: bool = False,
) -> Path | None:
    """Return the local path of ``filename`` from a folder or a hub repo.

    With ``missing_ok=True`` a file that the folder/repo does not have gives ``None`` (used for optional files
    such as ``generation_config.json``); a folder or repo that does not exist at all always raises.
    """
    source = os.fspath(path_or_repo_id)
    local = Path(os.path.expanduser(source))
    if local.is_dir():
        candidate = local / filename
        if candidate.is_file():
            return candidate
        if missing_ok:
            return None
        raise EntryNotFoundError(f"{filename} not found in folder {local}. Check the folder holds a saved model.")
    if local.is_file() or not looks_like_repo_id(source):
        raise EmbraceFileNotFoundError(
            f"{source!r} is neither an existing folder nor a hub repo id like 'org/name'. "
            "Pass the folder that holds config.json, or a repo id."
        )

    cached = try_to_load_from_cache(source, filename, revision=revision, repo_type=repo_type, cache_dir=cache_dir)
    offline = local_files_only or is_offline()
    if offline or is_commit_hash(revision):  # a commit never changes: its cached files are final
        if isinstance(cached, Path):
            return cached
        if cached is False and missing_ok:
            return None
    if offline:
        if missing_ok and cached_repo_path(source, repo_type, cache_dir).is_dir():
            return None
        why = "local_files_only=True" if local_files_only else "HF_HUB_OFFLINE=1"
        raise OfflineModeError(
            f"{filename} of {repo_type} repo {source!r} (revision {revision or 'main'}) is not in the cache and "
            f"{why} forbids downloading it. Download it first (embrace download {source}) or pass a local folder."
        )
    # a branch or tag may have moved: ask the hub (one HEAD, as the reference does); hf_hub_download falls back
    # to the cached file when the hub cannot be reached
    try:
        from embrace.hub.download import hf_hub_download  # the network client (hub issue)
    except ImportError as exc:
        if isinstance(cached, Path):
            return cached
        raise EmbraceFileNotFoundError(
            f"{source!r} is not a local folder and is not in the HF cache ({filename}); downloading is not available."
        ) from exc
    try:
        return Path(
            hf_hub_download(
                source, filename, revision=revision, cache_dir=cache_dir, token=token, repo_type=repo_type
            )
        )
    except EntryNotFoundError:
        if missing_ok:
            return None
        raise
