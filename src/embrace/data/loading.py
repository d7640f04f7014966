"""``load_dataset``: files, folders and hub dataset repos -> memory-mapped ``Dataset``s (or streaming ones).

Non-streaming loads convert each split once into an Arrow file under ``$HF_DATASETS_CACHE/embrace/`` keyed by the
files' paths, sizes and mtimes plus the reader options, then memory-map it; loading again is instant. Rows that
could not be parsed and garbled text cells are reported in a :class:`BadRowsWarning` (and kept in
``dataset.info["bad_rows"]``); unparseable rows are skipped, garbled ones kept.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from embrace.data.arrow_writer import ArrowWriter, read_arrow_file
from embrace.data.caching import datasets_cache_dir, is_caching_enabled, mark_in_use
from embrace.data.data_files import builder_for, folder_data_files, normalize_data_files
from embrace.data.dataset import Dataset, cast_array
from embrace.data.dataset_dict import DatasetDict
from embrace.data.errors import BadRowsWarning, DatasetNotFoundError
from embrace.data.features import Features
from embrace.data.fingerprint import fingerprint_files, hash_objects
from embrace.data.readers import BUILDERS, BadRows, ColumnTypeChanged, read_file


def _warn_bad_rows(split: str, report: BadRows) -> None:
    if not report.rows:
        return
    shown = "\n".join(f"  {os.path.basename(src)} row {row}: {reason}: {text[:80]!r}"
                      for src, row, reason, text in report.rows[:10])
    more = f"\n  ... and {len(report.rows) - 10} more (see dataset.info['bad_rows'])" if len(report.rows) > 10 else ""
    warnings.warn(BadRowsWarning(f"split {split!r}: {len(report.rows)} bad rows\n{shown}{more}", report.rows),
                  stacklevel=3)


def _apply_features(table: Any, features: Features | None) -> Any:
    if features is None:
        return table
    import pyarrow as pa

    missing = [name for name in features if name not in table.column_names]
    if missing:
        raise DatasetNotFoundError(f"features name columns {missing} that the data files do not have "
                                   f"({table.column_names}).")
    arrays = [cast_array(table.column(name), feature, name) for name, feature in features.items()]
    return pa.Table.from_arrays(arrays, names=list(features)).replace_schema_metadata(
        features.arrow_schema.metadata)


def _build_split(builder: str, files: list[str], split: str, options: dict[str, Any], features: Features | None,
                 cache_dir: str | None) -> Dataset:
    key = hash_objects(builder, fingerprint_files(files), sorted(options.items()),
                       features.to_dict() if features else None)
    folder = Path(cache_dir) if cache_dir else datasets_cache_dir() / "embrace" / builder
    path = str(folder / key / f"{split}.arrow")
    report_path = path + ".bad_rows.json"
    if not (is_caching_enabled() and os.path.exists(path)):
        while True:
            try:
                report = _convert(builder, files, options, features, path)
                break
            except ColumnTypeChanged as exc:  # restart with that CSV column read as strings
                if exc.column in options.get("_string_columns", ()):
                    raise
                options = {**options, "_string_columns": sorted({*options.get("_string_columns", ()), exc.column})}
        _save_report(report_path, report)
    else:
        report = _load_report(report_path)
    table = read_arrow_file(path)
    mark_in_use(path)
    ds = Dataset(table, fingerprint=key + split, cache_files=[path], split=split,
                 info={"bad_rows": report.rows, "data_files": files})
    _warn_bad_rows(split, report)
    return ds


def _convert(builder: str, files: list[str], options: dict[str, Any], features: Features | None,
             path: str) -> BadRows:
    """Stream every file of a split into one Arrow file at ``path`` (atomic); returns the bad-row report."""
    report = BadRows()
    with ArrowWriter(path) as writer:
        pending: list[Any] = []  # many small files (one email each): write record batches of >= 10k rows
        pending_rows = 0
        for file in files:
            for table in read_file(builder, file, options, report):
                pending.append(_apply_features(table, features))
                pending_rows += table.num_rows
                if pending_rows >= 10_000:
                    writer.write_table(_concat(pending))
                    pending, pending_rows = [], 0
        if pending:
            writer.write_table(_concat(pending))
        writer.finalize()
    return report


def _concat(tables: list[Any]) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def _save_report(path: str, report: BadRows) -> None:
    import json

    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(report.rows, handle)
    os.replace(tmp, path)


def _load_report(path: str) -> BadRows:
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            return BadRows([tuple(r) for r in json.load(handle)])
    except (OSError, ValueError):
        return BadRows()


def _hub_snapshot(repo_id: str, revision: str | None, cache_dir: str | None, token: Any) -> str:
    """The local snapshot folder of a hub dataset repo: from the HF cache, else downloaded by the hub client."""
    from embrace.hub.cache import cached_repo_path, is_commit_hash, resolve_commit
    from embrace.hub.constants import is_offline

    repo_path = cached_repo_path(repo_id, "dataset", cache_dir)
    commit = resolve_commit(repo_path, revision)
    # a cached branch is re-checked online (snapshot_download falls back to the cache if the hub is unreachable)
    if commit is not None and (repo_path / "snapshots" / commit).is_dir() and (is_offline() or is_commit_hash(revision)):
        return str(repo_path / "snapshots" / commit)
    if is_offline():
        raise DatasetNotFoundError(f"Dataset repo {repo_id!r} is not in the HF cache and HF_HUB_OFFLINE=1 forbids "
                                   "downloading it. Download it first or pass a local folder.")
    try:
        from embrace import hub
    except ImportError as exc:
        raise DatasetNotFoundError(f"{repo_id!r} is not a local path and the hub client is unavailable.") from exc
    download = getattr(hub, "snapshot_download", None)
    if download is None:
        raise DatasetNotFoundError(f"{repo_id!r} is not a local path and the hub client cannot download snapshots.")
    return str(download(repo_id, repo_type="dataset", revision=revision, cache_dir=cache_dir, token=token))


def _resolve(path: str, data_dir: str | None, data_files: Any, revision: str | None, cache_dir: str | None,
             token: Any) -> tuple[str, dict[str, list[str]], dict[str, Any]]:
    """(builder, {split: files}, builder defaults) for a builder name, a file, a folder or a hub repo id."""
    from embrace.hub.resolve import looks_like_repo_id

    if path in BUILDERS:
        if data_files is None and data_dir is None:
            raise ValueError(f"load_dataset({path!r}) needs data_files=... or data_dir=...")
        files = normalize_data_files(data_files, data_dir) if data_files is not None else folder_data_files(
            str(data_dir))
        return path, files, {}
    local = os.path.expanduser(path)
    if os.path.isfile(local):
        files = {"train": [os.path.abspath(local)]}
        builder, defaults = builder_for(files["train"])
        return builder, files, defaults
    if os.path.isdir(local):
        base = local
    elif looks_like_repo_id(path):
        base = _hub_snapshot(path, revision, cache_dir, token)
    else:
        raise DatasetNotFoundError(f"Dataset {path!r} is not a builder name ({', '.join(BUILDERS)}), an existing file "
                                   "or folder, or a hub dataset repo id like 'org/name'.")
    base = os.path.join(base, data_dir) if data_dir else base
    files = normalize_data_files(data_files, base) if data_files is not None else folder_data_files(base)
    builder, defaults = builder_for([f for fs in files.values() for f in fs])
    return builder, files, defaults


def load_dataset(path: str, name: str | None = None, data_dir: str | None = None, data_files: Any = None,
                 split: str | None = None, cache_dir: str | None = None, features: Features | None = None,
                 download_mode: Any = None, verification_mode: Any = None, keep_in_memory: bool | None = None,
                 save_infos: bool = False, revision: str | None = None, token: Any = None, streaming: bool = False,
                 num_proc: int | None = None, **config_kwargs: Any) -> Any:
    """Load ``path`` (a builder name with ``data_files``, a file, a folder, or a hub dataset repo).

    Returns a ``DatasetDict`` of splits, or one ``Dataset`` when ``split`` is given (``"train[:100]"`` and
    ``"train[10%:]"`` slices work); with ``streaming=True`` an ``IterableDataset``/``IterableDatasetDict``
    that reads the files lazily. ``config_kwargs`` go to the reader: ``encoding``, ``sep``, ``column_names``,
    ``on_bad_lines`` ("warn", "skip", "error"), ``field`` (json), ``sample_by`` (text), ...
    """
    builder, files, defaults = _resolve(path, data_dir, data_files, revision, cache_dir, token)
    options = {**defaults, **{k: v for k, v in config_kwargs.items() if v is not None}}
    if streaming:
        from embrace.data.iterable import IterableDataset, IterableDatasetDict

        streams = {s: IterableDataset.from_files(builder, fs, options, features, s) for s, fs in files.items()}
        if split is not None:
            if split not in streams:
                raise ValueError(f'Unknown split "{split}". Should be one of {list(streams)}.')
            return streams[split]
        return IterableDatasetDict(streams)
    if split is not None:
        base_split, selector = _parse_split(split)
        if base_split not in files:
            raise ValueError(f'Unknown split "{base_split}". Should be one of {list(files)}.')
        ds = _build_split(builder, files[base_split], base_split, options, features, cache_dir)
        return ds.select(selector(len(ds))) if selector else ds
    return DatasetDict({s: _build_split(builder, fs, s, options, features, cache_dir) for s, fs in files.items()})


def _parse_split(split: str) -> tuple[str, Any]:
    """``"train[10:20]"`` / ``"train[:10%]"`` -> ("train", n -> range); plain names -> (name, None)."""
    if "[" not in split:
        return split, None
    name, _, rest = split.partition("[")
    start_s, _, stop_s = rest.rstrip("]").partition(":")

    def bound(text: str, n: int, default: int) -> int:
        text = text.strip()
        if not text:
            return default
        value = round(float(text[:-1]) * n / 100) if text.endswith("%") else int(text)
        return max(0, min(n, value + n if value < 0 else value))

    return name, lambda n: range(bound(start_s, n, 0), max(bound(start_s, n, 0), bound(stop_s, n, n)))
