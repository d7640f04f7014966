"""Turn Arrow slices into what ``__getitem__``/``iter`` return: python, numpy, torch, pandas or arrow.

``kind`` is ``"row"`` (one example: a dict), ``"batch"`` (a dict of columns) or ``"column"`` (one column's values).
numpy/torch follow the reference: integers become int64, floats float32 (torch), lists of equal-shaped items are
stacked into one array, ragged ones stay a list (torch) or an object array (numpy); strings stay Python strings.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from embrace.data.errors import SchemaError

FORMAT_TYPES = {None: "python", "python": "python", "numpy": "numpy", "np": "numpy", "torch": "torch",
                "pt": "torch", "pandas": "pandas", "pd": "pandas", "arrow": "arrow", "pa": "arrow"}


@dataclass
class FormatSpec:
    """The output format of a dataset: ``type`` (python/numpy/torch/pandas/arrow), ``columns`` to keep."""

    type: str = "python"
    columns: list[str] | None = None
    output_all_columns: bool = False
    kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, type: str | None = None, columns: Any = None, output_all_columns: bool = False,
             **kwargs: Any) -> FormatSpec:
        if type not in FORMAT_TYPES:
            raise ValueError(f"Unknown format type {type!r}; use one of python, numpy, torch, pandas, arrow.")
        if isinstance(columns, str):
            columns = [columns]
        return cls(FORMAT_TYPES[type], list(columns) if columns is not None else None, output_all_columns, kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {"type": None if self.type == "python" else self.type, "format_kwargs": self.kwargs,
                "columns": self.columns, "output_all_columns": self.output_all_columns}


def _numpy_column(array: pa.ChunkedArray | pa.Array) -> Any:
    """One Arrow column -> numpy like the reference: int64/float32 arrays, str arrays, stacked or object lists."""
    import numpy as np

    pa_type = array.type
    if pa.types.is_list(pa_type) or pa.types.is_large_list(pa_type) or pa.types.is_fixed_size_list(pa_type):
        return _consolidate([_numpy_value(v) for v in array.to_pylist()])
    if pa.types.is_struct(pa_type):
        out = np.empty(len(array), dtype=object)
        out[:] = array.to_pylist()
        return out
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if (pa.types.is_string(pa_type) or pa.types.is_large_string(pa_type)) and array.null_count == 0:
        return np.array(array.to_pylist(), dtype=str) if len(array) else np.array([], dtype=str)
    return _cast_default(array.to_numpy(zero_copy_only=False))


def _cast_default(arr: Any) -> Any:
    import numpy as np

    if arr.dtype.kind in "iu" and arr.dtype != np.int64 and arr.dtype != np.uint8:
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        return arr.astype(np.float32)
    return arr


def _numpy_value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, list):
        if value and isinstance(value[0], (list, dict, type(None))):
            return _consolidate([_numpy_value(v) for v in value])
        arr = np.asarray(value)
        return _cast_default(arr) if arr.dtype.kind in "iuf" else arr
    return value


def _consolidate(items: list[Any]) -> Any:
    import numpy as np

    if items and all(isinstance(x, np.ndarray) and x.shape == items[0].shape and x.dtype == items[0].dtype
                     for x in items):
        return np.stack(items)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _numpy_row(table: pa.Table) -> dict[str, Any]:
    """One row -> numpy scalars (kept at their Arrow dtype, as the reference) and arrays for lists."""
    import numpy as np

    out: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        value = column[0].as_py()
        if isinstance(value, list):
            out[name] = _numpy_value(value)
        elif isinstance(value, str):
            out[name] = np.str_(value)
        elif value is None or isinstance(value, dict):
            out[name] = value
        else:
            out[name] = np.array([value], dtype=column.type.to_pandas_dtype())[0]
    return out


def _to_torch(value: Any) -> Any:
    import numpy as np
    import torch

    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [_to_torch(v) for v in value]
        if not value.flags.writeable:  # a zero-copy view of a memory-mapped file: torch wants writable memory
            value = value.copy()
        if value.dtype.kind in "iu" and value.dtype != np.uint8:
            return torch.from_numpy(np.ascontiguousarray(value, dtype=np.int64))
        if value.dtype.kind == "f":
            return torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        if value.dtype.kind == "b" or value.dtype == np.uint8:
            return torch.from_numpy(np.ascontiguousarray(value))
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return torch.tensor(int(value), dtype=torch.int64)
    if isinstance(value, (np.floating,)):
        return torch.tensor(float(value), dtype=torch.float32)
    if isinstance(value, (np.bool_,)):
        return torch.tensor(bool(value))
    if isinstance(value, dict):
        return {k: _to_torch(v) for k, v in value.items()}
    return value


def _format_numpy(table: pa.Table, kind: str) -> Any:
    if kind == "row":
        return _numpy_row(table)
    columns = {name: _numpy_column(table.column(name)) for name in table.column_names}
    if kind == "column":
        return next(iter(columns.values()))
    return columns


def format_table(table: pa.Table, kind: str, spec: FormatSpec) -> Any:
    """Format ``table`` (already restricted to the selected rows) as ``kind`` in ``spec``'s type."""
    extra: dict[str, Any] | None = None
    if spec.columns is not None:
        missing = [c for c in spec.columns if c not in table.column_names]
        if missing and kind != "column":
            raise SchemaError(f"Formatted columns {missing} are not in the dataset ({table.column_names}).")
        if kind != "column":
            if spec.output_all_columns:
                others = [c for c in table.column_names if c not in spec.columns]
                extra = format_table(table.select(others), kind, FormatSpec()) if others else None
            table = table.select([c for c in spec.columns if c in table.column_names])
    out = _format(table, kind, spec.type)
    if extra:
        out = {**extra, **out} if isinstance(out, dict) else out
    return out


def _format(table: pa.Table, kind: str, fmt: str) -> Any:
    if fmt == "python":
        if kind == "row":
            return table.slice(0, 1).to_pylist()[0] if table.num_rows else {}
        if kind == "column":
            return table.column(0).to_pylist()
        return table.to_pydict()
    if fmt == "arrow":
        return table.column(0) if kind == "column" else table
    if fmt == "pandas":
        frame = table.to_pandas(types_mapper=None)
        if kind == "column":
            return frame[table.column_names[0]]
        return frame
    numpy_out = _format_numpy(table, kind)
    if fmt == "numpy":
        return numpy_out
    if fmt == "torch":
        return _to_torch(numpy_out)
    raise ValueError(f"Unknown format {fmt!r}")


def torch_is_loaded() -> bool:
    return "torch" in sys.modules


def format_python_row(row: dict[str, Any], fmt: str) -> Any:
    """Format one Python row dict (streaming datasets) as numpy or torch values."""
    fmt = FORMAT_TYPES.get(fmt, fmt)
    if fmt in ("python", "arrow", "pandas"):
        return row
    import numpy as np

    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, (int, float, bool)) and not isinstance(value, bool):
            out[key] = np.asarray(value, dtype=np.int64 if isinstance(value, int) else np.float64)
        elif isinstance(value, bool):
            out[key] = np.bool_(value)
        elif isinstance(value, list):
            out[key] = _numpy_value(value)
        else:
            out[key] = value
    return _to_torch(out) if fmt == "torch" else out


class LazyBatch(MutableMapping):
    """A batch ``{column: values}`` whose columns turn into Python lists only when a function reads them.

    ``untouched()`` names the columns that were never read nor assigned, which map can copy as Arrow data.
    """

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._order = list(table.column_names)
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            if key not in self._order:
                raise KeyError(key)
            self._values[key] = self._table.column(key).to_pylist()
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self._order:
            self._order.append(key)
        self._values[key] = value

    def __delitem__(self, key: str) -> None:
        self._order.remove(key)
        self._values.pop(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        return repr({k: self[k] for k in self})

    def untouched(self) -> set[str]:
        return {k for k in self._order if k not in self._values and k in self._table.column_names}

    def arrow_column(self, key: str) -> pa.ChunkedArray:
        return self._table.column(key)
