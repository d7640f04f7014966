"""Where map/filter results live, how big the cache may grow, and how it is cleaned.

* A dataset backed by files caches its transforms next to its first file as ``cache-<fingerprint>.arrow``
  (the reference's layout). In-memory datasets write results to a per-process temporary folder removed at exit.
* ``EMBRACE_DATASETS_CACHE_MAX_BYTES`` (default 20 GB) caps each cache folder: after a write, the least recently
  used ``cache-*.arrow`` files not used by this process are deleted until the folder fits.
* ``HF_DATASETS_CACHE`` (or ``$HF_HOME/datasets``) holds datasets converted by ``load_dataset``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import tempfile
from pathlib import Path

from embrace.data.arrow_writer import INCOMPLETE_MARK

_in_use: set[str] = set()
_temp_dir: str | None = None
_caching_enabled = True


def enable_caching() -> None:
    global _caching_enabled
    _caching_enabled = True


def disable_caching() -> None:
    """Transforms still write their results to disk, but never reuse an earlier result."""
    global _caching_enabled
    _caching_enabled = False


def is_caching_enabled() -> bool:
    return _caching_enabled


def datasets_cache_dir() -> Path:
    explicit = os.environ.get("HF_DATASETS_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home).expanduser() / "datasets"


def max_cache_bytes() -> int:
    return int(os.environ.get("EMBRACE_DATASETS_CACHE_MAX_BYTES", str(20 * 1024**3)))


def temp_cache_dir() -> str:
    """A per-process folder for results of transforms on in-memory datasets; removed at exit."""
    global _temp_dir
    if _temp_dir is None or not os.path.isdir(_temp_dir):
        _temp_dir = tempfile.mkdtemp(prefix="embrace-datasets-")
        atexit.register(shutil.rmtree, _temp_dir, True)
    return _temp_dir


def mark_in_use(path: str) -> None:
    _in_use.add(os.path.abspath(path))


def cache_file_path(cache_dir: str, fingerprint: str, suffix: str = "") -> str:
    return os.path.join(cache_dir, f"cache-{fingerprint}{suffix}.arrow")


def enforce_size_cap(cache_dir: str, cap: int | None = None) -> list[str]:
    """Delete least-recently-used cache files of ``cache_dir`` not used by this process until it fits ``cap``."""
    cap = max_cache_bytes() if cap is None else cap
    files = []
    for path in glob.glob(os.path.join(cache_dir, "cache-*.arrow")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        files.append((max(st.st_atime, st.st_mtime), st.st_size, path))
    total = sum(size for _, size, _ in files)
    removed = []
    for _, size, path in sorted(files):
        if total <= cap:
            break
        if os.path.abspath(path) in _in_use:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        total -= size
        removed.append(path)
    return removed


def cleanup_cache_dir(cache_dir: str, keep: set[str]) -> int:
    """Remove ``cache-*.arrow`` files and leftovers of interrupted writes except ``keep``; returns the count."""
    keep_abs = {os.path.abspath(p) for p in keep}
    removed = 0
    patterns = ["cache-*.arrow", f"*{INCOMPLETE_MARK}*"]
    for pattern in patterns:
        for path in glob.glob(os.path.join(cache_dir, pattern)):
            if os.path.abspath(path) in keep_abs:
                continue
            try:
                os.remove(path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed
