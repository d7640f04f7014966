"""Python columns -> Arrow tables with row-level error messages, and atomic streaming writes of Arrow IPC files.

Files are written in the Arrow IPC *stream* format, like the reference ``datasets`` (so either library reads the
other's files), to ``<path>.incomplete-<pid>`` and renamed into place only when complete: a process killed
mid-write leaves no file under the final name, so nothing later trusts a truncated file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from embrace.data.errors import CorruptDatasetError, SchemaError
from embrace.data.features import Features, feature_to_arrow

INCOMPLETE_MARK = ".incomplete-"


def _find_bad_row(values: Any, pa_type: pa.DataType | None) -> tuple[int, Any, str]:
    """Index, value and reason of the first value that does not convert to ``pa_type`` (or to the first row's type)."""
    target = pa_type
    for i, value in enumerate(values):
        if value is None:
            continue
        try:
            converted = pa.array([value], type=target)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            return i, value, str(exc)
        if target is None:
            target = converted.type
    return -1, None, ""


def column_to_arrow(name: str, values: Any, feature: Any = None, row_offset: int = 0) -> pa.Array | pa.ChunkedArray:
    """One column of Python/numpy values -> Arrow; a value that does not fit raises ``SchemaError`` naming the row."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if feature is not None and values.type != feature_to_arrow(feature):
            return values.cast(feature_to_arrow(feature))
        return values
    pa_type = feature_to_arrow(feature) if feature is not None else None
    try:
        if hasattr(values, "__array__") and not isinstance(values, list) and getattr(values, "ndim", 1) > 1:
            values = list(values)  # a 2-D numpy batch is a list of rows
        return pa.array(values, type=pa_type, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        if hasattr(values, "tolist"):
            values = values.tolist()
        index, value, reason = _find_bad_row(values, pa_type)
        where = f"row {row_offset + index}" if index >= 0 else "some row"
        expected = f"type {pa_type}" if pa_type is not None else "the type of the column's first rows"
        shown = repr(value)[:200]
        raise SchemaError(
            f"Column {name!r}, {where}: value {shown} does not match {expected} ({reason or exc}). "
            "Fix the row or pass features= with a type that fits every row."
        ) from exc


def table_from_columns(columns: Mapping[str, Any], features: Features | None = None, row_offset: int = 0) -> pa.Table:
    """Build an Arrow table from ``{column: values}``; ``features`` types (and ClassLabel encoding) apply."""
    if features is not None:
        missing = [name for name in columns if name not in features]
        if missing:
            raise SchemaError(f"Columns {missing} are not in the features {list(features)}.")
        columns = features.encode_batch(columns, row_offset)
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise SchemaError(f"Columns have different lengths {lengths}; every column needs one value per row.")
    arrays = [column_to_arrow(name, values, features.get(name) if features else None, row_offset)
              for name, values in columns.items()]
    table = pa.Table.from_arrays(arrays, names=list(columns))
    if features is not None:
        ordered = [name for name in features if name in columns]
        table = table.select(ordered)
        meta = Features({name: features[name] for name in ordered}).arrow_schema.metadata
        table = table.replace_schema_metadata(meta)
    return table


def with_features_metadata(table: pa.Table, features: Features) -> pa.Table:
    return table.replace_schema_metadata(features.arrow_schema.metadata)


class ArrowWriter:
    """Append tables to one Arrow IPC stream file; ``finalize()`` renames it into place, ``abort()`` deletes it.

    The schema is fixed by ``features`` or by the first table written; later tables are cast to it.
    """

    def __init__(self, path: str | os.PathLike[str], features: Features | None = None) -> None:
        self.path = os.fspath(path)
        self.tmp_path = f"{self.path}{INCOMPLETE_MARK}{os.getpid()}"
        self.features = features
        self.schema: pa.Schema | None = features.arrow_schema if features is not None else None
        self._sink: Any = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self.num_rows = 0
        self._upgrades = 0

    def _open(self, schema: pa.Schema) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self.schema = schema
        self._sink = pa.OSFile(self.tmp_path, "wb")
        self._writer = pa.ipc.new_stream(self._sink, schema)

    def write_table(self, table: pa.Table) -> None:
        if self._writer is None:
            if self.schema is None:
                features = Features.from_arrow_schema(table.schema)
                self.features = features
                schema = table.schema.with_metadata(features.arrow_schema.metadata)
            else:
                schema = self.schema
            self._open(schema)
        assert self.schema is not None and self._writer is not None
        table = table.select(self.schema.names) if table.schema.names != self.schema.names else table
        if not table.schema.equals(self.schema, check_metadata=False):
            if self._needs_upgrade(table.schema):
                self._upgrade(table.schema)
            try:
                table = table.cast(self.schema)
            except (pa.ArrowException, ValueError) as exc:
                raise SchemaError(
                    f"Rows {self.num_rows}..{self.num_rows + table.num_rows} have types {table.schema} that do not "
                    f"fit the types of earlier rows {self.schema}. Pass features= to fix the types."
                ) from exc
        self._writer.write_table(table.replace_schema_metadata(self.schema.metadata))
        self.num_rows += table.num_rows

    def _needs_upgrade(self, schema: pa.Schema) -> bool:
        assert self.schema is not None
        return any(_has_null(f.type) and not _has_null(schema.field(f.name).type) for f in self.schema)

    def _upgrade(self, schema: pa.Schema) -> None:
        """Earlier rows were all None (type null): rewrite them with the concrete types seen now."""
        assert self.schema is not None and self._writer is not None
        fields = [schema.field(f.name) if _has_null(f.type) else f for f in self.schema]
        features = Features.from_arrow_schema(pa.schema(fields))
        new_schema = pa.schema(fields, metadata=features.arrow_schema.metadata)
        self._writer.close()
        self._sink.close()
        old_path, old_rows = self.tmp_path, self.num_rows
        written = read_arrow_file(old_path)
        self._upgrades += 1
        self.tmp_path = f"{self.path}{INCOMPLETE_MARK}{os.getpid()}-{self._upgrades}"
        self._open(new_schema)
        self.features = features
        for batch in written.cast(new_schema).to_batches():
            self._writer.write_batch(batch)
        os.remove(old_path)
        self.num_rows = old_rows

    def finalize(self) -> str:
        """Close the file and rename it into place; returns the final path."""
        if self._writer is None:
            self._open(self.schema if self.schema is not None else pa.schema([]))
        assert self._writer is not None
        self._writer.close()
        self._sink.close()
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        if self._sink is not None:
            with contextlib.suppress(OSError, pa.ArrowException):
                self._sink.close()
        if os.path.exists(self.tmp_path):
            os.remove(self.tmp_path)

    def __enter__(self) -> ArrowWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()


def _has_null(pa_type: pa.DataType) -> bool:
    if pa.types.is_null(pa_type):
        return True
    if pa.types.is_list(pa_type) or pa.types.is_large_list(pa_type) or pa.types.is_fixed_size_list(pa_type):
        return _has_null(pa_type.value_type)
    if pa.types.is_struct(pa_type):
        return any(_has_null(pa_type.field(i).type) for i in range(pa_type.num_fields))
    return False


def write_table_atomic(path: str | os.PathLike[str], table: pa.Table, max_chunksize: int = 10_000) -> str:
    """Write a whole table to ``path`` (atomic); returns the path."""
    with ArrowWriter(path) as writer:
        writer.schema = table.schema
        writer._open(table.schema)
        for batch in table.to_batches(max_chunksize=max_chunksize):
            writer._writer.write_batch(batch)  # type: ignore[union-attr]
        writer.num_rows = table.num_rows
        return writer.finalize()


def read_arrow_file(path: str | os.PathLike[str]) -> pa.Table:
    """Memory-map an Arrow IPC file (stream or file format) as a table; the data stays on disk."""
    path = os.fspath(path)
    try:
        source = pa.memory_map(path)
        head = source.read(6)
        source.seek(0)
        if head == b"ARROW1":
            return pa.ipc.open_file(source).read_all()
        return pa.ipc.open_stream(source).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CorruptDatasetError(f"{path} is not a readable Arrow file ({exc}). Delete it and recreate it.") from exc
