"""``Dataset.map`` and ``Dataset.filter``: run a function over rows or batches, write results, cache them.

Results stream to an Arrow file through :class:`ArrowWriter` every ``writer_batch_size`` rows, so memory stays
flat however big the dataset is. The file is named from the transform's fingerprint (parent fingerprint +
function + arguments) and renamed into place only when complete; a later identical call memory-maps it instead of
recomputing. ``num_proc > 1`` forks worker processes, each mapping one contiguous shard into its own file.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from embrace.data.arrow_writer import ArrowWriter, read_arrow_file, table_from_columns, write_table_atomic
from embrace.data.caching import (
    cache_file_path,
    enforce_size_cap,
    is_caching_enabled,
    mark_in_use,
    temp_cache_dir,
)
from embrace.data.errors import SchemaError, UnhashableFunctionWarning
from embrace.data.features import Features
from embrace.data.fingerprint import update_fingerprint
from embrace.data.formatting import LazyBatch

if TYPE_CHECKING:
    import numpy as np

    from embrace.data.dataset import Dataset


@dataclass
class _CommonSpec:
    function: Callable[..., Any] | None
    with_indices: bool = False
    with_rank: bool = False
    input_columns: str | list[str] | None = None
    batched: bool = False
    batch_size: int | None = 1000


@dataclass
class MapSpec(_CommonSpec):
    drop_last_batch: bool = False
    remove_columns: str | list[str] | None = None
    keep_in_memory: bool = False
    load_from_cache_file: bool | None = None
    cache_file_name: str | None = None
    writer_batch_size: int = 1000
    features: Features | None = None
    fn_kwargs: dict[str, Any] = field(default_factory=dict)
    num_proc: int | None = None
    new_fingerprint: str | None = None


@dataclass
class FilterSpec(_CommonSpec):
    keep_in_memory: bool = False
    load_from_cache_file: bool | None = None
    cache_file_name: str | None = None
    fn_kwargs: dict[str, Any] = field(default_factory=dict)
    num_proc: int | None = None
    new_fingerprint: str | None = None


_NOT_HASHED = {"function", "keep_in_memory", "load_from_cache_file", "cache_file_name", "num_proc",
               "new_fingerprint", "features"}


def _fingerprint(ds: Dataset, transform: str, spec: Any) -> tuple[str, bool]:
    if spec.new_fingerprint:
        return spec.new_fingerprint, True
    args = {k: getattr(spec, k) for k in spec.__dataclass_fields__ if k not in _NOT_HASHED}
    if getattr(spec, "features", None) is not None:
        args["features"] = spec.features.to_dict()
    fp, ok = update_fingerprint(ds._fingerprint, transform, spec.function, args)
    if not ok:
        warnings.warn(
            f"{transform}: function {spec.function!r} (or an object it uses) cannot be fingerprinted, so its result "
            "gets a random fingerprint and is never reused from the cache. Make the values it reads picklable.",
            UnhashableFunctionWarning, stacklevel=4)
    return fp, ok


def _result_paths(ds: Dataset, spec: Any, fp: str, num_shards: int, suffix: str = "") -> list[str]:
    if spec.cache_file_name:
        base = os.fspath(spec.cache_file_name)
        if num_shards == 1:
            return [base]
        stem, ext = os.path.splitext(base)
        return [f"{stem}_{i:05d}_of_{num_shards:05d}{ext}" for i in range(num_shards)]
    folder = os.path.dirname(os.path.abspath(ds._cache_files[0])) if ds._cache_files else temp_cache_dir()
    if num_shards == 1:
        return [cache_file_path(folder, fp, suffix)]
    return [cache_file_path(folder, fp, f"{suffix}_{i:05d}_of_{num_shards:05d}") for i in range(num_shards)]


def _columns_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _batches(ds: Dataset, spec: _CommonSpec, chunk: int) -> Iterator[tuple[int, pa.Table]]:
    n = len(ds)
    size = n if spec.batched and (spec.batch_size is None or spec.batch_size <= 0) else chunk
    for start in range(0, n, max(size, 1)):
        yield start, ds._rows_table(slice(start, min(start + size, n)))


def _inputs(ds: Dataset, table: pa.Table, spec: _CommonSpec, kind: str) -> Any:
    """Function inputs for a batch table: a dict of columns, a list of row dicts, or per-column values."""
    columns = _columns_list(spec.input_columns)
    fmt = ds._format
    if fmt.type == "python" and fmt.columns is None and ds._transform is None:
        if columns:
            data = table.select(columns).to_pydict()
            return [data[c] for c in columns] if kind == "batch" else list(zip(*(data[c] for c in columns)))
        return LazyBatch(table) if kind == "batch" else table.to_pylist()
    if kind == "batch":
        batch = ds._format_out(table, "batch")
        return [batch[c] for c in columns] if columns else batch
    rows = [ds._format_out(table.slice(i, 1), "row") for i in range(table.num_rows)]
    return [tuple(r[c] for c in columns) for r in rows] if columns else rows


def _call(spec: _CommonSpec, inputs: Any, index: Any, rank: int | None, fn_kwargs: dict[str, Any]) -> Any:
    args = list(inputs) if spec.input_columns is not None else [inputs]
    if spec.with_indices:
        args.append(index)
    if spec.with_rank:
        args.append(rank)
    assert spec.function is not None
    return spec.function(*args, **fn_kwargs)


def _rows_to_columns(rows: list[Any]) -> dict[str, list[Any]] | None:
    if all(r is None for r in rows):
        return None
    keys = list(rows[0]) if isinstance(rows[0], Mapping) else None
    if keys is None:
        raise TypeError(f"map function must return a dict (or None), got {type(rows[0]).__name__}.")
    out: dict[str, list[Any]] = {k: [] for k in keys}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or row.keys() != out.keys():
            raise SchemaError(f"map function returned keys {list(row) if isinstance(row, Mapping) else row!r} for "
                              f"row {i} of a batch but {keys} for its first row; return the same keys every time.")
        for k in keys:
            out[k].append(row[k])
    return out


def _merge(ds: Dataset, table: pa.Table, outputs: Mapping[str, Any] | None, spec: MapSpec,
           row_offset: int, identity: bool = False) -> pa.Table:
    """Input columns updated by ``outputs``. Like the reference, when the function returned its (edited) input
    object itself (``identity``), ``remove_columns`` and deleted keys win; for a new dict, outputs win."""
    removed = set(_columns_list(spec.remove_columns))
    if identity and outputs is not None:
        removed |= set(table.column_names) - set(outputs)
        outputs = {k: v for k, v in outputs.items() if k not in removed} if not isinstance(outputs, LazyBatch) \
            else _drop_keys(outputs, removed)
    if outputs is None:
        return table.select([c for c in table.column_names if c not in removed])
    if hasattr(outputs, "to_dict") and hasattr(outputs, "columns"):  # a pandas DataFrame
        outputs = {c: outputs[c].tolist() for c in outputs.columns}
    if not isinstance(outputs, Mapping):
        raise TypeError(f"A batched map function must return a dict of columns (or None), got {type(outputs)}.")
    out_features = None
    if spec.features is not None:
        out_features = Features({k: spec.features[k] for k in outputs if k in spec.features})
        if len(out_features) != len(outputs):
            missing = [k for k in outputs if k not in spec.features]
            raise SchemaError(f"map features= lacks the output columns {missing}.")
    reused: dict[str, Any] = {}
    if isinstance(outputs, LazyBatch):  # the input batch returned: columns never read are copied as Arrow data
        reused = {k: outputs.arrow_column(k) for k in outputs.untouched()}
    outputs = {k: (v.tolist() if hasattr(v, "tolist") and type(v).__module__.startswith("torch") else v)
               for k, v in outputs.items() if k not in reused}
    out_table = table_from_columns(outputs, out_features, row_offset)
    for name, column in reused.items():
        out_table = out_table.append_column(name, column) if out_table.num_columns else pa.table({name: column})
    outputs = {**outputs, **reused}
    kept = [c for c in table.column_names if c not in removed and c not in outputs]
    if kept and out_table.num_rows != table.num_rows:
        raise SchemaError(
            f"map returned {out_table.num_rows} rows for a batch of {table.num_rows} while keeping the input columns "
            f"{kept}; pass remove_columns={table.column_names} to change the number of rows.")
    arrays, names = [], []
    for name in table.column_names:
        if name in outputs:
            arrays.append(out_table.column(name))
            names.append(name)
        elif name not in removed:
            arrays.append(table.column(name))
            names.append(name)
    for name in out_table.column_names:
        if name not in names:
            arrays.append(out_table.column(name))
            names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def _drop_keys(batch: LazyBatch, keys: set[str]) -> LazyBatch:
    for key in keys & set(batch):
        del batch[key]
    return batch


def _map_tables(ds: Dataset, spec: MapSpec, offset: int, rank: int | None) -> Iterator[pa.Table]:
    """Mapped tables, one per input batch; ``offset`` is the shard's first row in the full dataset."""
    kind = "batch" if spec.batched else "rows"
    chunk = spec.batch_size or len(ds) if spec.batched else spec.writer_batch_size
    for start, table in _batches(ds, spec, chunk or 1):
        if spec.batched and spec.drop_last_batch and table.num_rows < (spec.batch_size or 0):
            break
        if spec.function is None:
            yield _merge(ds, table, None, spec, offset + start)
            continue
        inputs = _inputs(ds, table, spec, kind)
        if spec.batched:
            indices = list(range(offset + start, offset + start + table.num_rows))
            outputs = _call(spec, inputs, indices, rank, spec.fn_kwargs)
            identity = outputs is inputs
        else:
            results = [_call(spec, row, offset + start + i, rank, spec.fn_kwargs) for i, row in enumerate(inputs)]
            identity = spec.input_columns is None and all(out is row for out, row in zip(results, inputs))
            outputs = _rows_to_columns(results) if table.num_rows else None
        yield _merge(ds, table, outputs, spec, offset + start, identity)


def _write_shard(ds: Dataset, spec: MapSpec, path: str | None, offset: int, rank: int | None) -> pa.Table | str:
    """Map ``ds`` into ``path`` (or into memory when path is None); flushes every ``writer_batch_size`` rows."""
    features = spec.features
    if path is None:
        tables = list(_map_tables(ds, spec, offset, rank))
        return pa.concat_tables(tables, promote_options="permissive") if tables else _empty_result(ds, spec)
    with ArrowWriter(path, features=features if _features_cover(features, ds, spec) else None) as writer:
        pending: list[pa.Table] = []
        rows = 0
        for table in _map_tables(ds, spec, offset, rank):
            pending.append(table)
            rows += table.num_rows
            if rows >= spec.writer_batch_size:
                writer.write_table(pa.concat_tables(pending, promote_options="permissive"))
                pending, rows = [], 0
        if pending:
            writer.write_table(pa.concat_tables(pending, promote_options="permissive"))
        if writer.schema is None:  # no rows: keep the input's columns (minus removed ones), like the reference
            writer.schema = _empty_result(ds, spec).schema
        return writer.finalize()


def _empty_result(ds: Dataset, spec: MapSpec) -> pa.Table:
    removed = set(_columns_list(spec.remove_columns))
    return ds._data.schema.empty_table().select([c for c in ds.column_names if c not in removed])


def _features_cover(features: Features | None, ds: Dataset, spec: MapSpec) -> bool:
    return features is not None and spec.function is None


def _output_features(ds: Dataset, table: pa.Table, spec: MapSpec) -> Features:
    """Declared features, else inferred ones, keeping the input's richer types (ClassLabel) where types agree."""
    if spec.features is not None:
        return Features({name: spec.features.get(name) or ds._features[name] for name in table.column_names})
    inferred = Features.from_arrow_schema(table.schema)
    for name in inferred:
        if name in ds._features and table.schema.field(name).type == ds._data.schema.field(name).type:
            inferred[name] = ds._features[name]
    return inferred


_JOB: tuple[Callable[..., Any], tuple[Any, ...]] | None = None


def _run_job(rank: int) -> Any:
    assert _JOB is not None
    fn, args = _JOB
    return fn(rank, *args)


def _parallel(fn: Callable[..., Any], num_proc: int, *args: Any) -> list[Any]:
    """Run ``fn(rank, *args)`` for each rank in forked worker processes (the job is inherited, not pickled)."""
    global _JOB
    if "fork" not in multiprocessing.get_all_start_methods():
        warnings.warn("num_proc needs the 'fork' start method; running in this process instead.", stacklevel=3)
        return [fn(rank, *args) for rank in range(num_proc)]
    _JOB = (fn, args)
    try:
        # one fresh process per shard (maxtasksperchild=1): a fast worker never takes a second shard
        with multiprocessing.get_context("fork").Pool(num_proc, maxtasksperchild=1) as pool:
            return pool.map(_run_job, range(num_proc), chunksize=1)
    finally:
        _JOB = None


def _shard_bounds(n: int, num_shards: int, rank: int) -> tuple[int, int]:
    div, mod = divmod(n, num_shards)
    start = div * rank + min(rank, mod)
    return start, start + div + (1 if rank < mod else 0)


def _map_worker(rank: int, ds: Dataset, spec: MapSpec, paths: list[str]) -> str:
    import numpy as np

    start, end = _shard_bounds(len(ds), len(paths), rank)
    shard = ds.select(np.arange(start, end))
    result = _write_shard(shard, spec, paths[rank], start, rank)
    assert isinstance(result, str)
    return result


def run_map(ds: Dataset, spec: MapSpec) -> Dataset:
    for name in _columns_list(spec.remove_columns) + _columns_list(spec.input_columns):
        if name not in ds._features:
            raise ValueError(f"Column {name!r} not in the dataset. Current columns in the dataset: {ds.column_names}")
    fp, hashed = _fingerprint(ds, "map", spec)
    num_proc = spec.num_proc or 1
    num_proc = max(1, min(num_proc, len(ds)))
    use_cache = hashed and (spec.load_from_cache_file if spec.load_from_cache_file is not None
                            else is_caching_enabled())
    if spec.keep_in_memory:
        table = _write_shard(ds, spec, None, 0, None)
        assert isinstance(table, pa.Table)
        return _finish(ds, spec, table, fp, [])
    paths = _result_paths(ds, spec, fp, num_proc)
    if not (use_cache and all(os.path.exists(p) for p in paths)):
        if num_proc > 1:
            paths = _parallel(_map_worker, num_proc, ds, spec, paths)
        else:
            _write_shard(ds, spec, paths[0], 0, None)
        enforce_size_cap(os.path.dirname(paths[0]))
    tables = [read_arrow_file(p) for p in paths]
    for p in paths:
        mark_in_use(p)
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return _finish(ds, spec, table, fp, paths)


def _finish(ds: Dataset, spec: MapSpec, table: pa.Table, fp: str, paths: list[str]) -> Dataset:
    from embrace.data.arrow_writer import with_features_metadata
    from embrace.data.dataset import Dataset

    features = _output_features(ds, table, spec)
    if spec.features is not None:
        from embrace.data.dataset import cast_array

        table = pa.Table.from_arrays([cast_array(table.column(n), features[n], n) for n in table.column_names],
                                     names=table.column_names)
    table = with_features_metadata(table, features)
    out = Dataset(table, features, fingerprint=fp, cache_files=paths or [], split=ds._split,
                  format=copy.deepcopy(ds._format), info=ds._info)
    out._format.columns = [c for c in out._format.columns if c in features] if out._format.columns else None
    return out


# ---------------------------------------------------------------------------------------------- filter
def _mask(ds: Dataset, spec: FilterSpec, offset: int, rank: int | None) -> np.ndarray:
    """Positions (relative to ``ds``) of the rows ``spec.function`` keeps."""
    import numpy as np

    kept: list[np.ndarray] = []
    chunk = spec.batch_size or len(ds) if spec.batched else 1000
    for start, table in _batches(ds, spec, chunk or 1):
        if spec.batched:
            inputs = _inputs(ds, table, spec, "batch")
            indices = list(range(offset + start, offset + start + table.num_rows))
            result = _call(spec, inputs, indices, rank, spec.fn_kwargs)
            if isinstance(result, (pa.Array, pa.ChunkedArray)):
                result = result.to_pylist()
            mask = np.asarray(result, dtype=bool)
            if mask.shape != (table.num_rows,):
                raise SchemaError(f"A batched filter function must return one bool per row: got {mask.shape} for "
                                  f"{table.num_rows} rows.")
        else:
            rows = _inputs(ds, table, spec, "rows")
            mask = np.fromiter((bool(_call(spec, row, offset + start + i, rank, spec.fn_kwargs))
                                for i, row in enumerate(rows)), dtype=bool, count=len(rows))
        kept.append(np.flatnonzero(mask) + start)
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def _filter_worker(rank: int, ds: Dataset, spec: FilterSpec, num_proc: int) -> np.ndarray:
    import numpy as np

    start, end = _shard_bounds(len(ds), num_proc, rank)
    return _mask(ds.select(np.arange(start, end)), spec, start, rank) + start


def run_filter(ds: Dataset, spec: FilterSpec) -> Dataset:
    import numpy as np

    if spec.function is None:
        return ds
    for name in _columns_list(spec.input_columns):
        if name not in ds._features:
            raise ValueError(f"Column {name!r} not in the dataset. Current columns in the dataset: {ds.column_names}")
    fp, hashed = _fingerprint(ds, "filter", spec)
    use_cache = hashed and not spec.keep_in_memory and (
        spec.load_from_cache_file if spec.load_from_cache_file is not None else is_caching_enabled())
    path = _result_paths(ds, spec, fp, 1)[0] if ds._cache_files or spec.cache_file_name else None
    if use_cache and path and os.path.exists(path):
        indices = read_arrow_file(path).column("indices").to_numpy().astype(np.int64, copy=False)
        mark_in_use(path)
        return ds._new(indices=indices, fingerprint=fp)
    num_proc = max(1, min(spec.num_proc or 1, len(ds)))
    if num_proc > 1:
        positions = np.concatenate(_parallel(_filter_worker, num_proc, ds, spec, num_proc))
    else:
        positions = _mask(ds, spec, 0, None)
    indices = ds._indices[positions] if ds._indices is not None else positions
    indices = indices.astype(np.int64, copy=False)
    if path and not spec.keep_in_memory:
        write_table_atomic(path, pa.table({"indices": pa.array(indices.astype(np.uint64))}))
        mark_in_use(path)
        enforce_size_cap(os.path.dirname(path))
    return ds._new(indices=indices, fingerprint=fp)


def materialize(ds: Dataset) -> Dataset:
    """A copy of ``ds`` whose table holds its rows in order (no indices mapping)."""
    from embrace.data.dataset import Dataset

    fp = update_fingerprint(ds._fingerprint, "flatten_indices", None, {})[0]
    if ds._cache_files:
        path = cache_file_path(os.path.dirname(os.path.abspath(ds._cache_files[0])), fp)
        if not os.path.exists(path):
            with ArrowWriter(path) as writer:
                for start in range(0, len(ds), 10_000):
                    writer.write_table(ds._rows_table(slice(start, start + 10_000)))
                writer.finalize()
        table, files = read_arrow_file(path), [path]
        mark_in_use(path)
    else:
        table, files = ds._rows_table(slice(None)), []
    out = Dataset(table, ds._features, fingerprint=fp, cache_files=files, split=ds._split,
                  format=copy.deepcopy(ds._format), info=ds._info)
    out._transform = ds._transform
    return out
