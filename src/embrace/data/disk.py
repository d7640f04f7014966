"""``save_to_disk`` / ``load_from_disk`` in the reference's folder layout (either library reads the other's).

A dataset folder holds ``data-0000i-of-0000n.arrow`` (Arrow IPC stream), ``dataset_info.json`` and
``state.json``; a DatasetDict folder holds ``dataset_dict.json`` and one such folder per split. Saving writes a
``<path>.incomplete-<pid>`` folder and renames it into place, so an interrupted save never leaves a half folder
under the real name. Loading memory-maps the files.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from embrace.data.arrow_writer import INCOMPLETE_MARK, ArrowWriter, read_arrow_file
from embrace.data.errors import CorruptDatasetError, DatasetNotFoundError
from embrace.data.features import Features
from embrace.data.formatting import FormatSpec

if TYPE_CHECKING:
    from embrace.data.dataset import Dataset
    from embrace.data.dataset_dict import DatasetDict

MAX_SHARD_BYTES = 500 * 1024**2


def _write_json(path: str, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=True)


def _write_split(ds: Dataset, folder: str, num_shards: int | None) -> None:
    os.makedirs(folder, exist_ok=True)
    n = len(ds)
    if num_shards is None:
        sample = ds._rows_table(slice(0, min(n, 1000)))
        per_row = sample.nbytes / max(sample.num_rows, 1)
        num_shards = max(1, int(per_row * n // MAX_SHARD_BYTES) + 1)
    num_shards = max(1, min(num_shards, max(n, 1)))
    names = [f"data-{i:05d}-of-{num_shards:05d}.arrow" for i in range(num_shards)]
    for i, name in enumerate(names):
        div, mod = divmod(n, num_shards)
        start = div * i + min(i, mod)
        end = start + div + (1 if i < mod else 0)
        with ArrowWriter(os.path.join(folder, name), features=ds.features) as writer:
            for s in range(start, end, 10_000):
                writer.write_table(ds._rows_table(slice(s, min(s + 10_000, end))))
            writer.finalize()
    info = {"citation": "", "description": "", "features": ds.features.to_dict(), "homepage": "", "license": ""}
    _write_json(os.path.join(folder, "dataset_info.json"), info)
    fmt = ds._format
    state = {"_data_files": [{"filename": name} for name in names], "_fingerprint": ds._fingerprint,
             "_format_columns": fmt.columns, "_format_kwargs": fmt.kwargs,
             "_format_type": None if fmt.type == "python" else fmt.type,
             "_output_all_columns": fmt.output_all_columns, "_split": ds.split}
    _write_json(os.path.join(folder, "state.json"), state)


def _atomic_folder(path: str, fill: Any, sources: list[str]) -> None:
    path = os.path.abspath(path)
    for source in sources:
        if os.path.abspath(source).startswith(path + os.sep):
            raise ValueError(f"Cannot save to {path}: the dataset is memory-mapped from files in it. "
                             "Save to another folder.")
    tmp = f"{path}{INCOMPLETE_MARK}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if os.path.exists(path):
        old = f"{path}.old-{os.getpid()}"
        os.replace(path, old)
    os.replace(tmp, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def save_dataset(ds: Dataset, path: str, num_shards: int | None) -> None:
    _atomic_folder(path, lambda tmp: _write_split(ds, tmp, num_shards), ds._cache_files)


def save_dataset_dict(dd: DatasetDict, path: str, num_shards: dict[str, int] | None) -> None:
    def fill(tmp: str) -> None:
        os.makedirs(tmp)
        _write_json(os.path.join(tmp, "dataset_dict.json"), {"splits": list(dd)})
        for name, ds in dd.items():
            _write_split(ds, os.path.join(tmp, name), (num_shards or {}).get(name))

    _atomic_folder(path, fill, [f for ds in dd.values() for f in ds._cache_files])


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise CorruptDatasetError(f"{path} is not valid JSON ({exc}); the saved dataset is damaged.") from exc


def load_dataset_folder(path: str, keep_in_memory: bool = False) -> Dataset:
    from embrace.data.dataset import Dataset

    state_path = os.path.join(path, "state.json")
    if not os.path.isfile(state_path):
        raise DatasetNotFoundError(f"{path} is not a dataset saved with save_to_disk (no state.json).")
    state = _read_json(state_path)
    files = [os.path.join(path, entry["filename"]) for entry in state.get("_data_files", [])]
    for file in files:
        if not os.path.isfile(file):
            raise CorruptDatasetError(f"{file} listed in {state_path} is missing; the saved dataset is incomplete.")
    if keep_in_memory:
        tables = [pa.ipc.open_stream(pa.input_stream(f)).read_all() for f in files]
    else:
        tables = [read_arrow_file(f) for f in files]
    table = pa.concat_tables(tables) if len(tables) != 1 else tables[0]
    info_path = os.path.join(path, "dataset_info.json")
    features = None
    if os.path.isfile(info_path):
        stored = _read_json(info_path).get("features")
        if stored:
            features = Features.from_dict(stored)
    features = features or Features.from_arrow_schema(table.schema)
    fmt = FormatSpec.make(state.get("_format_type"), state.get("_format_columns"),
                          bool(state.get("_output_all_columns")), **(state.get("_format_kwargs") or {}))
    return Dataset(table, features, fingerprint=state.get("_fingerprint"),
                   cache_files=[] if keep_in_memory else files, split=state.get("_split"), format=fmt)


def load_from_disk(dataset_path: str | os.PathLike[str], keep_in_memory: bool | None = None,
                   **_: Any) -> Dataset | DatasetDict:
    """A ``Dataset`` or ``DatasetDict`` saved by ``save_to_disk`` (ours or the reference's), memory-mapped."""
    from embrace.data.dataset_dict import DatasetDict

    path = os.fspath(dataset_path)
    if os.path.isfile(os.path.join(path, "dataset_dict.json")):
        splits = _read_json(os.path.join(path, "dataset_dict.json"))["splits"]
        return DatasetDict({s: load_dataset_folder(os.path.join(path, s), bool(keep_in_memory)) for s in splits})
    if os.path.isfile(os.path.join(path, "state.json")):
        return load_dataset_folder(path, bool(keep_in_memory))
    raise DatasetNotFoundError(f"{path} is neither a Dataset nor a DatasetDict folder written by save_to_disk.")
