"""Find the data files of a folder (or hub dataset repo snapshot) and assign them to splits like the reference.

Order of rules (first that matches wins), as in ``datasets.data_files``:
1. ``data/{split}-00000-of-00001.*`` sharded names give the splits directly;
2. a directory named after a split (``train/``, ``test-2/``, ``x_valid/`` ...);
3. a file name containing a split keyword between separators (``train.csv``, ``my_test_1.jsonl``);
4. otherwise every file is ``train``.
Keywords: train/training; validation/valid/dev/val; test/testing/eval/evaluation; separators ``-._ 0-9``.
"""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from typing import Any

from embrace.data.errors import DatasetNotFoundError
from embrace.data.readers import EXTENSION_TO_BUILDER

SPLIT_KEYWORDS = {"train": ["train", "training"], "validation": ["validation", "valid", "dev", "val"],
                  "test": ["test", "testing", "eval", "evaluation"]}
_SEP = r"[-._ 0-9]"
_SHARDED = re.compile(r"^data/(?P<split>\w+)-\d{5}-of-\d{5}[^/]*\.[^/]+$")
FILES_TO_IGNORE = {"README.md", "config.json", "dataset_info.json", "dataset_infos.json", "dummy_data.zip",
                   "dataset_dict.json", "state.json", ".gitattributes"}


def _in_dir(rel: str, keyword: str) -> bool:
    return any(re.fullmatch(rf"(.*{_SEP})?{keyword}({_SEP}.*)?", part) for part in rel.split("/")[:-1])


def _in_name(rel: str, keyword: str) -> bool:
    return re.fullmatch(rf"(.*{_SEP})?{keyword}{_SEP}.*", rel.rsplit("/", 1)[-1]) is not None


def list_data_files(base: str) -> list[str]:
    """Data files under ``base`` (relative, ``/``-separated), skipping hidden files and metadata."""
    out = []
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if name.startswith((".", "_")) or name in FILES_TO_IGNORE:
                continue
            out.append(os.path.relpath(os.path.join(root, name), base).replace(os.sep, "/"))
    return out


def infer_splits(files: list[str]) -> dict[str, list[str]]:
    """``{split: [relative paths]}`` following the rules in the module docstring."""
    sharded = [f for f in files if _SHARDED.match(f)]
    if sharded:
        names = sorted({m.group("split") for f in sharded if (m := _SHARDED.match(f))})
        order = [s for s in SPLIT_KEYWORDS if s in names] + [s for s in names if s not in SPLIT_KEYWORDS]
        return {s: [f for f in sharded if _SHARDED.match(f).group("split") == s] for s in order}  # type: ignore
    for rule in (_in_dir, _in_name):
        splits = {split: [f for f in files if any(rule(f, kw) for kw in kws)] for split, kws in SPLIT_KEYWORDS.items()}
        splits = {s: fs for s, fs in splits.items() if fs}
        if splits:
            return splits
    return {"train": list(files)} if files else {}


def builder_for(files: list[str]) -> tuple[str, dict[str, Any]]:
    """The reader for the most common supported extension among ``files``."""
    counts = Counter(os.path.splitext(f)[1].lower() for f in files)
    for ext, _count in counts.most_common():
        if ext in EXTENSION_TO_BUILDER:
            return EXTENSION_TO_BUILDER[ext]
    raise DatasetNotFoundError(f"No supported data files (csv, tsv, json, jsonl, parquet, arrow, txt) among {files[:5]}")


def _expand(pattern: str, base: str | None) -> list[str]:
    full = pattern if os.path.isabs(pattern) or base is None else os.path.join(base, pattern)
    full = os.path.expanduser(full)
    if any(ch in full for ch in "*?["):
        found = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
        if not found:
            raise DatasetNotFoundError(f"No file matches the pattern {full!r}.")
        return found
    if os.path.isdir(full):
        return [os.path.join(full, f) for f in list_data_files(full)]
    if not os.path.isfile(full):
        raise DatasetNotFoundError(f"Data file {full!r} does not exist.")
    return [full]


def normalize_data_files(data_files: Any, base: str | None = None) -> dict[str, list[str]]:
    """``str | list | dict`` of paths or glob patterns -> ``{split: [absolute paths]}`` (a bare list is train)."""
    if isinstance(data_files, (str, os.PathLike)):
        data_files = {"train": [os.fspath(data_files)]}
    elif isinstance(data_files, (list, tuple)):
        data_files = {"train": list(data_files)}
    if not isinstance(data_files, dict):
        raise ValueError(f"data_files must be a str, a list or a dict of split -> files, got {type(data_files)}")
    out: dict[str, list[str]] = {}
    for split, patterns in data_files.items():
        patterns = [patterns] if isinstance(patterns, (str, os.PathLike)) else list(patterns)
        out[str(split)] = [os.path.abspath(p) for pattern in patterns for p in _expand(os.fspath(pattern), base)]
    return out


def folder_data_files(base: str) -> dict[str, list[str]]:
    files = list_data_files(base)
    supported = [f for f in files if os.path.splitext(f)[1].lower() in EXTENSION_TO_BUILDER]
    if not supported:
        raise DatasetNotFoundError(f"The folder {base} has no data files (csv, tsv, json, jsonl, parquet, arrow, txt).")
    builder, _ = builder_for(supported)
    same = [f for f in supported if EXTENSION_TO_BUILDER[os.path.splitext(f)[1].lower()][0] == builder]
    return {split: [os.path.join(base, f) for f in fs] for split, fs in infer_splits(same).items()}
