"""``Dataset``: a table of examples stored in Arrow, usually memory-mapped from files on disk.

A dataset is an immutable Arrow table (``_data``) plus an optional indices mapping (``_indices``: row i of the
dataset is row ``_indices[i]`` of the table). ``select``, ``shuffle``, ``filter``, ``shard`` and ``sort`` only
build a new mapping; ``map`` writes new Arrow files. Every dataset has a fingerprint that keys the cache.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from embrace.data.arrow_writer import table_from_columns, with_features_metadata
from embrace.data.errors import SchemaError
from embrace.data.features import ClassLabel, Features, feature_to_arrow
from embrace.data.fingerprint import hash_objects, random_fingerprint, update_fingerprint
from embrace.data.formatting import FormatSpec, format_table
from embrace.data.table import IndexedTable

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from embrace.data.dataset_dict import DatasetDict


class Dataset:
    """A map-style dataset (``len`` + ``__getitem__``), usable directly as a ``torch.utils.data`` dataset."""

    def __init__(self, table: pa.Table, features: Features | None = None, *, fingerprint: str | None = None,
                 indices: np.ndarray | None = None, cache_files: list[str] | None = None, split: str | None = None,
                 format: FormatSpec | None = None, info: dict[str, Any] | None = None) -> None:
        self._features = features if features is not None else Features.from_arrow_schema(table.schema)
        self._data = table
        self._indexed = IndexedTable(table)
        self._indices = indices
        self._cache_files = list(cache_files or [])
        self._fingerprint = fingerprint or random_fingerprint()
        self._split = split
        self._format = format or FormatSpec()
        self._info = dict(info or {})
        self._transform: Callable[[Any], Any] | None = None
        # (files, offset, rows): _data is rows offset.. of the files' concatenation, so pickling can reopen the
        # memory maps instead of copying the data; None when the table is (partly) in memory.
        self._source: tuple[list[str], int, int] | None = (
            (list(cache_files), 0, table.num_rows) if cache_files else None)

    def __copy__(self) -> Dataset:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self._source is not None:
            state.pop("_data")
            state.pop("_indexed")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from embrace.data.arrow_writer import read_arrow_file

        self.__dict__.update(state)
        if "_data" not in state:
            files, offset, rows = state["_source"]
            tables = [read_arrow_file(f) for f in files]
            table = (pa.concat_tables(tables) if len(tables) > 1 else tables[0]).slice(offset, rows)
            self._data = table.replace_schema_metadata(self._features.arrow_schema.metadata)
            self._indexed = IndexedTable(self._data)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], features: Features | None = None, info: Any = None,
                  split: str | None = None) -> Dataset:
        """Columns ``{name: values}`` -> dataset (in memory). Values that do not fit raise ``SchemaError``."""
        table = table_from_columns(dict(mapping), features)
        return cls(table, features=features or Features.from_arrow_schema(table.schema), split=split)

    @classmethod
    def from_list(cls, mapping: list[dict[str, Any]], features: Features | None = None, info: Any = None,
                  split: str | None = None) -> Dataset:
        """Rows -> dataset; the columns are the keys of the first row (missing keys give None)."""
        keys = list(mapping[0]) if mapping else list(features or [])
        return cls.from_dict({k: [row.get(k) for row in mapping] for k in keys}, features=features, split=split)

    @classmethod
    def from_pandas(cls, df: pd.DataFrame, features: Features | None = None, info: Any = None,
                    split: str | None = None, preserve_index: bool | None = None) -> Dataset:
        table = pa.Table.from_pandas(df, preserve_index=preserve_index).replace_schema_metadata(None)
        ds = cls(table, features=Features.from_arrow_schema(table.schema), split=split)
        return ds.cast(features) if features is not None else ds

    @classmethod
    def from_generator(cls, generator: Callable[..., Any], features: Features | None = None,
                       gen_kwargs: dict[str, Any] | None = None, split: str | None = None,
                       writer_batch_size: int = 1000, **_: Any) -> Dataset:
        """Rows yielded by ``generator(**gen_kwargs)``, written in batches to an Arrow file and memory-mapped."""
        from embrace.data.builders import dataset_from_rows

        return dataset_from_rows(generator(**(gen_kwargs or {})), features, split, writer_batch_size,
                                 key=("generator", generator, gen_kwargs, features.to_dict() if features else None))

    # ---------------------------------------------------------------- derived datasets
    def _new(self, *, table: pa.Table | None = None, features: Features | None = None, indices: Any = "keep",
             fingerprint: str | None = None, cache_files: list[str] | None = None) -> Dataset:
        new = copy.copy(self)
        if table is not None:
            new._source = None
            new._data = table
            new._indexed = IndexedTable(table)
            new._cache_files = list(cache_files if cache_files is not None else self._cache_files)
        new._features = features if features is not None else (
            self._features if table is None else Features.from_arrow_schema(table.schema))
        if not (isinstance(indices, str) and indices == "keep"):
            new._indices = indices
        new._fingerprint = fingerprint or random_fingerprint()
        new._format = copy.deepcopy(self._format)
        if new._format.columns is not None:
            new._format.columns = [c for c in new._format.columns if c in new._features]
        return new

    def _fp(self, transform: str, **args: Any) -> str:
        return update_fingerprint(self._fingerprint, transform, None, args)[0]

    # ---------------------------------------------------------------- basic properties
    @property
    def features(self) -> Features:
        return self._features

    @property
    def column_names(self) -> list[str]:
        return list(self._features)

    @property
    def num_rows(self) -> int:
        return len(self._indices) if self._indices is not None else self._data.num_rows

    @property
    def num_columns(self) -> int:
        return len(self._features)

    @property
    def shape(self) -> tuple[int, int]:
        return self.num_rows, self.num_columns

    @property
    def data(self) -> pa.Table:
        """The underlying Arrow table (without the indices mapping applied)."""
        return self._data

    @property
    def split(self) -> str | None:
        return self._split

    @property
    def info(self) -> dict[str, Any]:
        return self._info

    @property
    def cache_files(self) -> list[dict[str, str]]:
        return [{"filename": path} for path in self._cache_files]

    @property
    def format(self) -> dict[str, Any]:
        return self._format.as_dict()

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return f"Dataset({{\n    features: {list(self._features)},\n    num_rows: {self.num_rows}\n}})"

    # ---------------------------------------------------------------- reading rows
    def _rows_table(self, key: Any) -> pa.Table:
        """Arrow rows for an int/slice/iterable key, indices mapping applied."""
        import numpy as np

        n = self.num_rows
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step == 1:
                if self._indices is None:
                    return self._indexed.slice(start, max(0, stop - start))
                return self._indexed.take(self._indices[start:stop])
            positions = np.arange(start, stop, step)
        elif isinstance(key, (int, np.integer)):
            index = int(key)
            if not -n <= index < n:
                raise IndexError(f"Index {index} out of range for dataset of size {n}.")
            index %= n
            row = int(self._indices[index]) if self._indices is not None else index
            return self._indexed.slice(row, 1)
        else:
            positions = np.asarray(list(key) if not hasattr(key, "__len__") else key, dtype=np.int64)
            if len(positions) and (positions.max() >= n or positions.min() < -n):
                raise IndexError(f"Index out of range for dataset of size {n}.")
            positions = positions % max(n, 1)
        if self._indices is not None:
            positions = self._indices[positions]
        return self._indexed.take(positions)

    def _format_out(self, table: pa.Table, kind: str) -> Any:
        if self._transform is not None:
            columns = self._format.columns
            batch = table.select(columns) if columns and not self._format.output_all_columns else table
            out = self._transform(batch.to_pydict())
            return {k: v[0] for k, v in out.items()} if kind == "row" else out
        return format_table(table, kind, self._format)

    def __getitem__(self, key: Any) -> Any:
        """``ds[i]`` a row dict, ``ds[a:b]`` / ``ds[[i, j]]`` a dict of columns, ``ds["col"]`` a column."""
        if isinstance(key, str):
            if key not in self._features:
                raise KeyError(f"Column {key!r} not in the dataset; columns are {self.column_names}.")
            table = self._rows_table(slice(None)).select([key])
            return format_table(table, "column", FormatSpec(self._format.type))
        if isinstance(key, int) or hasattr(key, "__index__") and not hasattr(key, "__len__"):
            return self._format_out(self._rows_table(int(key)), "row")
        return self._format_out(self._rows_table(key), "batch")

    def __getitems__(self, keys: list[int]) -> list[Any]:
        """Rows for a list of indices (used by ``torch.utils.data.DataLoader`` to fetch a batch at once)."""
        batch = self[list(keys)]
        if not isinstance(batch, dict):
            return [self[k] for k in keys]
        return [{name: values[i] for name, values in batch.items()} for i in range(len(keys))]

    def __iter__(self) -> Iterator[Any]:
        for start in range(0, self.num_rows, 1000):
            table = self._rows_table(slice(start, start + 1000))
            if self._format.type == "python" and self._transform is None and self._format.columns is None:
                yield from table.to_pylist()
            else:
                for i in range(table.num_rows):
                    yield self._format_out(table.slice(i, 1), "row")

    def iter(self, batch_size: int, drop_last_batch: bool = False) -> Iterator[Any]:
        """Formatted batches of ``batch_size`` rows (the last one smaller unless ``drop_last_batch``)."""
        for start in range(0, self.num_rows, batch_size):
            if drop_last_batch and start + batch_size > self.num_rows:
                break
            yield self._format_out(self._rows_table(slice(start, start + batch_size)), "batch")

    def to_dict(self, batch_size: int | None = None) -> dict[str, list[Any]]:
        return self._rows_table(slice(None)).to_pydict()

    def to_list(self) -> list[dict[str, Any]]:
        return self._rows_table(slice(None)).to_pylist()

    def to_pandas(self, batch_size: int | None = None) -> pd.DataFrame:
        return self._rows_table(slice(None)).to_pandas()

    def to_arrow(self) -> pa.Table:
        return self._rows_table(slice(None))

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        import pyarrow.parquet as pq

        pq.write_table(self.to_arrow(), os.fspath(path))

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Upload as parquet shards (``data/<split>-0000i-of-0000N.parquet``) to a hub dataset repo; returns the
        ``CommitInfo``. Options: ``split``, ``config_name``, ``private``, ``token``, ``revision``, ``create_pr``,
        ``max_shard_size``, ``num_shards``, ``commit_message`` (see ``embrace.data.hub_push``)."""
        from embrace.data.hub_push import push_dataset_to_hub

        return push_dataset_to_hub(self, repo_id, **kwargs)

    def to_csv(self, path: str | os.PathLike[str], index: bool = False, **kwargs: Any) -> None:
        self.to_pandas().to_csv(os.fspath(path), index=index, **kwargs)

    def to_json(self, path: str | os.PathLike[str], lines: bool = True, **kwargs: Any) -> None:
        self.to_pandas().to_json(os.fspath(path), orient="records", lines=lines, **kwargs)

    # ---------------------------------------------------------------- formats
    def set_format(self, type: str | None = None, columns: Any = None, output_all_columns: bool = False,
                   **format_kwargs: Any) -> None:
        """Make ``__getitem__``/iteration return ``type`` (python, numpy, torch, pandas, arrow) for ``columns``."""
        spec = FormatSpec.make(type, columns, output_all_columns, **format_kwargs)
        if spec.columns is not None:
            missing = [c for c in spec.columns if c not in self._features]
            if missing:
                raise ValueError(f"Columns {missing} not in the dataset. Current columns: {self.column_names}")
        self._format = spec
        self._transform = None

    def with_format(self, type: str | None = None, columns: Any = None, output_all_columns: bool = False,
                    **format_kwargs: Any) -> Dataset:
        new = copy.copy(self)
        new.set_format(type, columns, output_all_columns, **format_kwargs)
        return new

    def reset_format(self) -> None:
        self.set_format()

    def set_transform(self, transform: Callable[[dict[str, list[Any]]], Any] | None, columns: Any = None,
                      output_all_columns: bool = False) -> None:
        """Apply ``transform(batch_dict)`` on the fly whenever rows are read (nothing is written)."""
        self.set_format(None, columns, output_all_columns)
        self._transform = transform

    def with_transform(self, transform: Callable[[dict[str, list[Any]]], Any] | None, columns: Any = None,
                       output_all_columns: bool = False) -> Dataset:
        new = copy.copy(self)
        new.set_transform(transform, columns, output_all_columns)
        return new

    # ---------------------------------------------------------------- row selection (indices mappings)
    def select(self, indices: Any, keep_in_memory: bool = False, new_fingerprint: str | None = None,
               **_: Any) -> Dataset:
        """Rows at ``indices`` (any iterable of ints), in that order; only an indices mapping is built."""
        import numpy as np

        if isinstance(indices, range) and indices.step == 1 and self._indices is None and indices.start >= 0:
            stop = min(indices.stop, self.num_rows)
            if indices.start > stop or indices.stop > self.num_rows:
                raise IndexError(f"select range {indices} is out of range for dataset of size {self.num_rows}.")
            fp = new_fingerprint or self._fp("select", start=indices.start, stop=stop)
            sliced = self._indexed.slice(indices.start, stop - indices.start)
            out = self._new(table=sliced, features=self._features, fingerprint=fp)
            if self._source is not None:
                files, offset, _rows = self._source
                out._source = (files, offset + indices.start, sliced.num_rows)
            return out
        positions = np.fromiter(indices, dtype=np.int64) if not hasattr(indices, "__len__") else np.asarray(
            indices, dtype=np.int64)
        if len(positions) and (positions.max() >= self.num_rows or positions.min() < 0):
            raise IndexError(f"select indices must be in [0, {self.num_rows}); got {positions.min()}..{positions.max()}")
        fp = new_fingerprint or update_fingerprint(self._fingerprint, "select", None,
                                                   {"indices": hash_objects(positions)})[0]
        composed = self._indices[positions] if self._indices is not None else positions
        return self._new(indices=composed, fingerprint=fp)

    def shuffle(self, seed: int | None = None, generator: Any = None, keep_in_memory: bool = False,
                **_: Any) -> Dataset:
        """Rows in the order of ``np.random.default_rng(seed).permutation(len(self))``, as the reference does."""
        import numpy as np

        if seed is not None and generator is not None:
            raise ValueError("Both `seed` and `generator` were provided. Please specify just one of them.")
        if generator is None:
            from embrace.data.splits import legacy_seed

            seed = legacy_seed() if seed is None else seed
            generator = np.random.default_rng(seed)
        permutation = generator.permutation(len(self))
        return self.select(permutation, new_fingerprint=self._fp("shuffle", seed=seed, perm=hash_objects(permutation)))

    def shard(self, num_shards: int, index: int, contiguous: bool = True, **_: Any) -> Dataset:
        """Shard ``index`` of ``num_shards``: contiguous blocks (default) or every ``num_shards``-th row."""
        import numpy as np

        if not 0 <= index < num_shards:
            raise ValueError(f"index should be in [0, {num_shards - 1}], got {index}")
        if contiguous:
            div, mod = divmod(len(self), num_shards)
            start = div * index + min(index, mod)
            end = start + div + (1 if index < mod else 0)
            return self.select(range(start, end)) if self._indices is None else self.select(np.arange(start, end))
        return self.select(np.arange(index, len(self), num_shards))

    def sort(self, column_names: str | list[str], reverse: bool | list[bool] = False,
             null_placement: str = "at_end", **_: Any) -> Dataset:
        """Stable sort by one or more columns (ascending unless ``reverse``)."""
        names = [column_names] if isinstance(column_names, str) else list(column_names)
        reverses = reverse if isinstance(reverse, list) else [reverse] * len(names)
        for name in names:
            if name not in self._features:
                raise ValueError(f"Column {name!r} not found in the dataset ({self.column_names}).")
        table = self._rows_table(slice(None)).select(names)
        import pyarrow.compute as pc

        keys = [(n, "descending" if r else "ascending", null_placement) for n, r in zip(names, reverses)]
        order = pc.sort_indices(table, sort_keys=keys).to_numpy()
        return self.select(order, new_fingerprint=self._fp("sort", names=names, reverse=reverses))

    def train_test_split(self, test_size: float | int | None = None, train_size: float | int | None = None,
                         shuffle: bool = True, stratify_by_column: str | None = None, seed: int | None = None,
                         generator: Any = None, **_: Any) -> DatasetDict:
        """``DatasetDict(train=..., test=...)``, with the reference's algorithm (same rows for the same seed)."""
        from embrace.data.splits import train_test_split

        return train_test_split(self, test_size, train_size, shuffle, stratify_by_column, seed, generator)

    def take(self, n: int) -> Dataset:
        """The first ``n`` rows."""
        return self.select(range(min(n, len(self)))) if self._indices is None else self.select(list(range(n)))

    def skip(self, n: int) -> Dataset:
        """All rows after the first ``n``."""
        import numpy as np

        return self.select(np.arange(min(n, len(self)), len(self)))

    def to_iterable_dataset(self, num_shards: int = 1) -> Any:
        """A streaming view of this dataset split into ``num_shards`` contiguous shards (for DataLoader workers)."""
        from embrace.data.iterable import IterableDataset

        def shard(index: int) -> Callable[[], Iterator[dict[str, Any]]]:
            return lambda: iter(self.shard(num_shards, index, contiguous=True).with_format(None))

        return IterableDataset([shard(i) for i in range(num_shards)], self._features, self._split)

    def flatten_indices(self, **_: Any) -> Dataset:
        """Materialise the indices mapping into a new table (contiguous reads afterwards)."""
        if self._indices is None:
            return self
        from embrace.data.transforms import materialize

        return materialize(self)

    # ---------------------------------------------------------------- column operations
    def _with_table(self, table: pa.Table, new_features: Features, transform: str, **args: Any) -> Dataset:
        table = with_features_metadata(table, new_features)
        return self._new(table=table, features=new_features, fingerprint=self._fp(transform, **args))

    def _check_columns(self, names: list[str]) -> None:
        missing = [n for n in names if n not in self._features]
        if missing:
            raise ValueError(f"Columns {missing} not in the dataset. Current columns in the dataset: "
                             f"{self.column_names}")

    def remove_columns(self, column_names: str | list[str], **_: Any) -> Dataset:
        names = [column_names] if isinstance(column_names, str) else list(column_names)
        self._check_columns(names)
        keep = [c for c in self.column_names if c not in names]
        features = Features({c: self._features[c] for c in keep})
        return self._with_table(self._data.select(keep), features, "remove_columns", names=names)

    def select_columns(self, column_names: str | list[str], **_: Any) -> Dataset:
        names = [column_names] if isinstance(column_names, str) else list(column_names)
        self._check_columns(names)
        features = Features({c: self._features[c] for c in names})
        return self._with_table(self._data.select(names), features, "select_columns", names=names)

    def rename_columns(self, column_mapping: dict[str, str], **_: Any) -> Dataset:
        self._check_columns(list(column_mapping))
        new_names = [column_mapping.get(c, c) for c in self.column_names]
        if len(set(new_names)) != len(new_names):
            raise ValueError(f"Renaming {column_mapping} would give duplicate column names {new_names}.")
        features = Features({column_mapping.get(c, c): f for c, f in self._features.items()})
        table = self._data.select(self.column_names).rename_columns(new_names)
        new = self._with_table(table, features, "rename_columns", mapping=column_mapping)
        if self._format.columns is not None:
            new._format.columns = [column_mapping.get(c, c) for c in self._format.columns]
        return new

    def rename_column(self, original_column_name: str, new_column_name: str, **_: Any) -> Dataset:
        if new_column_name in self._features and new_column_name != original_column_name:
            raise ValueError(f"Column {new_column_name!r} already exists in the dataset.")
        return self.rename_columns({original_column_name: new_column_name})

    def add_column(self, name: str, column: Any, new_fingerprint: str | None = None, feature: Any = None) -> Dataset:
        if name in self._features:
            raise ValueError(f"Column {name!r} already exists; remove or rename it first.")
        base = self.flatten_indices()
        if len(column) != len(base):
            raise SchemaError(f"add_column got {len(column)} values for a dataset of {len(base)} rows.")
        added = table_from_columns({name: column}, Features({name: feature}) if feature is not None else None)
        table = base._data.select(base.column_names).append_column(added.field(0), added.column(0))
        features = Features({**base._features, name: Features.from_arrow_schema(added.schema)[name]})
        if feature is not None:
            features[name] = feature
        return base._with_table(table, features, "add_column", name=name, values=hash_objects(list(column)))

    def cast(self, features: Features, **_: Any) -> Dataset:
        """Cast every column to ``features`` (same column names); strings cast to ``ClassLabel`` map by name."""
        if sorted(features) != sorted(self._features):
            raise ValueError(f"cast needs the same columns: dataset has {sorted(self._features)}, "
                             f"features have {sorted(features)}. Use cast_column for one column.")
        table = self._data.select(list(features))
        arrays = [cast_array(table.column(name), feature, name) for name, feature in features.items()]
        table = pa.Table.from_arrays(arrays, names=list(features))
        return self._with_table(table, Features(features), "cast", features=features.to_dict())

    def cast_column(self, column: str, feature: Any, **_: Any) -> Dataset:
        self._check_columns([column])
        features = Features({**self._features, column: feature})
        return self.cast(features)

    def flatten(self, max_depth: int = 16, **_: Any) -> Dataset:
        """Struct columns ``a`` with fields ``b`` become columns ``a.b``."""
        table = self._data.select(self.column_names)
        for _depth in range(max_depth):
            if not any(pa.types.is_struct(f.type) for f in table.schema):
                break
            table = table.flatten()
        return self._with_table(table, self._features.flatten(), "flatten")

    def unique(self, column: str) -> list[Any]:
        """Distinct values of ``column`` in order of first appearance."""
        self._check_columns([column])
        return self._rows_table(slice(None)).column(column).unique().to_pylist()

    def class_encode_column(self, column: str, include_nulls: bool = False) -> Dataset:
        """Turn a column of labels into a ``ClassLabel`` whose names are the sorted distinct values."""
        self._check_columns([column])
        if isinstance(self._features[column], ClassLabel):
            return self
        base = self.flatten_indices()  # the table may hold rows outside this selection with other labels
        values = base.unique(column)
        names = sorted(str(v) for v in values if include_nulls or v is not None)
        return base.cast_column(column, ClassLabel(names=names))

    # ---------------------------------------------------------------- transforms (see transforms.py)
    def map(self, function: Callable[..., Any] | None = None, with_indices: bool = False, with_rank: bool = False,
            input_columns: str | list[str] | None = None, batched: bool = False, batch_size: int | None = 1000,
            drop_last_batch: bool = False, remove_columns: str | list[str] | None = None,
            keep_in_memory: bool = False, load_from_cache_file: bool | None = None,
            cache_file_name: str | None = None, writer_batch_size: int | None = 1000,
            features: Features | None = None, disable_nullable: bool = False,
            fn_kwargs: dict[str, Any] | None = None, num_proc: int | None = None, new_fingerprint: str | None = None,
            desc: str | None = None, **_: Any) -> Dataset:
        """Apply ``function`` to every row (or batch) and write the results to an Arrow file; see docs/datasets.md."""
        from embrace.data.transforms import MapSpec, run_map

        spec = MapSpec(function, with_indices, with_rank, input_columns, batched, batch_size, drop_last_batch,
                       remove_columns, keep_in_memory, load_from_cache_file, cache_file_name,
                       writer_batch_size or 1000, features, fn_kwargs or {}, num_proc, new_fingerprint)
        return run_map(self, spec)

    def filter(self, function: Callable[..., Any] | None = None, with_indices: bool = False,
               with_rank: bool = False, input_columns: str | list[str] | None = None, batched: bool = False,
               batch_size: int | None = 1000, keep_in_memory: bool = False, load_from_cache_file: bool | None = None,
               cache_file_name: str | None = None, fn_kwargs: dict[str, Any] | None = None,
               num_proc: int | None = None, new_fingerprint: str | None = None, **_: Any) -> Dataset:
        """Keep rows where ``function`` returns True (an indices mapping; the result is cached)."""
        from embrace.data.transforms import FilterSpec, run_filter

        spec = FilterSpec(function, with_indices, with_rank, input_columns, batched, batch_size, keep_in_memory,
                          load_from_cache_file, cache_file_name, fn_kwargs or {}, num_proc, new_fingerprint)
        return run_filter(self, spec)

    def cleanup_cache_files(self) -> int:
        """Delete this dataset's folder's cache files except those it uses; returns how many were removed."""
        from embrace.data.caching import cleanup_cache_dir

        if not self._cache_files:
            return 0
        folder = os.path.dirname(os.path.abspath(self._cache_files[0]))
        return cleanup_cache_dir(folder, set(self._cache_files))

    # ---------------------------------------------------------------- disk
    def save_to_disk(self, dataset_path: str | os.PathLike[str], num_shards: int | None = None,
                     max_shard_size: int | str | None = None, **_: Any) -> None:
        """Write ``data-0000i-of-0000n.arrow`` + ``dataset_info.json`` + ``state.json`` atomically."""
        from embrace.data.disk import save_dataset

        save_dataset(self, os.fspath(dataset_path), num_shards)

    @staticmethod
    def load_from_disk(dataset_path: str | os.PathLike[str], keep_in_memory: bool | None = None) -> Dataset:
        from embrace.data.disk import load_dataset_folder

        return load_dataset_folder(os.fspath(dataset_path), keep_in_memory=bool(keep_in_memory))


def cast_array(array: pa.ChunkedArray, feature: Any, name: str) -> pa.ChunkedArray:
    """Cast one column to ``feature``; label names map to ``ClassLabel`` ids and unknown names raise."""
    import pyarrow.compute as pc

    target = feature_to_arrow(feature)
    if isinstance(feature, ClassLabel) and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        names = pa.array(feature.names, type=pa.string())
        ids = pc.index_in(array.cast(pa.string()), value_set=names)
        bad = pc.and_(pc.is_null(ids), pc.is_valid(array))
        if pc.any(bad).as_py():
            first = pc.index(bad, True).as_py()
            raise SchemaError(f"Column {name!r}, row {first}: label {array[first].as_py()!r} is not one of the "
                              f"ClassLabel names {feature.names}.")
        return ids.cast(pa.int64())
    if isinstance(feature, ClassLabel) and pa.types.is_integer(array.type) and len(array):
        low, high = pc.min(array).as_py(), pc.max(array).as_py()
        if low is not None and (low < -1 or high >= (feature.num_classes or 0)):
            raise SchemaError(f"Column {name!r} has label ids in [{low}, {high}] outside [0, {feature.num_classes}).")
    try:
        return array.cast(target)
    except (pa.ArrowException, ValueError) as exc:
        raise SchemaError(f"Cannot cast column {name!r} from {array.type} to {target}: {exc}") from exc
