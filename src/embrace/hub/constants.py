"""Environment variables and defaults shared with huggingface_hub, so both libraries use one cache."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_REVISION = "main"
DEFAULT_ENDPOINT = "https://huggingface.co"
REPO_TYPES = ("model", "dataset", "space")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hf_home() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    return Path(os.path.expanduser(os.environ.get("HF_HOME", str(default))))


def hub_cache_dir() -> Path:
    """``HF_HUB_CACHE`` (or legacy ``HUGGINGFACE_HUB_CACHE``), else ``$HF_HOME/hub``."""
    value = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(os.path.expanduser(value)) if value else hf_home() / "hub"


def is_offline() -> bool:
    """``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE=1``): never touch the network."""
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


REPO_TYPE_PLURAL = {"model": "models", "dataset": "datasets", "space": "spaces"}
# the URL prefix of non-API paths (resolve, LFS): models have none
REPO_TYPE_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
LFS_POINTER_VERSION = "https://git-lfs.github.com/spec/v1"


def token_path() -> Path:
    """``HF_TOKEN_PATH``, else ``$HF_HOME/token`` (the file ``hf auth login`` writes)."""
    value = os.environ.get("HF_TOKEN_PATH")
    return Path(os.path.expanduser(value)) if value else hf_home() / "token"


def implicit_token_disabled() -> bool:
    return _truthy(os.environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN"))


def progress_bars_disabled() -> bool:
    return _truthy(os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS"))


def etag_timeout() -> float:
    return float(os.environ.get("HF_HUB_ETAG_TIMEOUT", "10"))


def download_timeout() -> float:
    return float(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT", "10"))
