"""``IterableDataset``: rows read lazily from files or a generator, transformed on the fly (``streaming=True``).

A stream is a list of *shards* (one per file, or one generator call per ``gen_kwargs`` list item) plus a chain
of row-level steps (map, filter, shuffle buffer, take, skip, column edits). Nothing is read before iteration.
Inside a ``torch.utils.data.DataLoader`` with ``num_workers=W`` each worker reads shards ``w, w+W, ...``; with
fewer shards than workers, each worker reads every shard and keeps rows ``w, w+W, ...`` so no row repeats.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from typing import Any

from embrace.data.errors import SchemaError
from embrace.data.features import Features, encode_value

Row = dict[str, Any]
Step = Callable[[Iterator[Row]], Iterator[Row]]


def _worker() -> tuple[int, int]:
    """(worker id, number of workers) inside a torch DataLoader worker, else (0, 1)."""
    if "torch" not in sys.modules:
        return 0, 1
    import torch.utils.data

    info = torch.utils.data.get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


def _torch_base() -> tuple[type, ...]:
    if "torch" in sys.modules:
        import torch.utils.data

        return (torch.utils.data.IterableDataset,)
    return ()


def _file_features(builder: str, path: str) -> Features:
    import pyarrow as pa

    if builder == "parquet":
        import pyarrow.parquet as pq

        return Features.from_arrow_schema(pq.read_schema(path))
    source = pa.memory_map(path)
    head = source.read(6)
    source.seek(0)
    reader = pa.ipc.open_file(source) if head == b"ARROW1" else pa.ipc.open_stream(source)
    return Features.from_arrow_schema(reader.schema)


class _StreamBase:
    """Base of IterableDataset; torch's IterableDataset is appended to its subclasses' bases when torch loads."""


class IterableDataset(_StreamBase):
    """A lazily read dataset: iterate it, or chain ``map``/``filter``/``shuffle``/``take``/``skip``."""

    def __new__(cls, *args: Any, **kwargs: Any) -> IterableDataset:
        # torch's DataLoader decides "iterable-style" by isinstance; add the base class once torch is loaded.
        base = _torch_base()
        if base and base[0] not in cls.__mro__:  # not issubclass: it would cache a negative ABC answer
            cls.__bases__ = (*cls.__bases__, *base)
        return super().__new__(cls)

    def __init__(self, shards: list[Callable[[], Iterator[Row]]], features: Features | None = None,
                 split: str | None = None) -> None:
        self._shards = shards
        self._steps: list[tuple[str, Any]] = []
        self._features = features
        self._split = split
        self._format: str | None = None
        self._epoch = 0

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_generator(cls, generator: Callable[..., Any], features: Features | None = None,
                       gen_kwargs: dict[str, Any] | None = None, split: str | None = None) -> IterableDataset:
        """Rows of ``generator(**gen_kwargs)``; list-valued ``gen_kwargs`` are split into one shard per item (each
        call gets a one-item list, as in the reference), which DataLoader workers and ``shuffle`` distribute."""
        kwargs = dict(gen_kwargs or {})
        lists = {k: v for k, v in kwargs.items() if isinstance(v, list)}
        if lists:
            n = len(next(iter(lists.values())))
            per_shard = [{**kwargs, **{k: v[i: i + 1] for k, v in lists.items()}} for i in range(n)]
        else:
            per_shard = [kwargs]
        def shard(kw: dict[str, Any]) -> Callable[[], Iterator[Row]]:
            return lambda: iter(generator(**kw))

        return cls([shard(kw) for kw in per_shard], features, split)

    @classmethod
    def from_files(cls, builder: str, files: list[str], options: dict[str, Any], features: Features | None,
                   split: str | None) -> IterableDataset:
        from embrace.data.readers import BadRows, read_file

        def rows(path: str) -> Iterator[Row]:
            for table in read_file(builder, path, options, BadRows()):
                if features is not None:
                    from embrace.data.loading import _apply_features

                    table = _apply_features(table, features)
                yield from table.to_pylist()

        def shard(path: str) -> Callable[[], Iterator[Row]]:
            return lambda: rows(path)

        if features is None and files and builder in ("parquet", "arrow"):  # the schema is in the file header
            features = _file_features(builder, files[0])
        return cls([shard(path) for path in files], features, split)

    def _with(self, kind: str, arg: Any, features: Any = "keep") -> IterableDataset:
        new = copy.copy(self)
        new._steps = [*self._steps, (kind, arg)]
        if not (isinstance(features, str) and features == "keep"):
            new._features = features
        return new

    # ------------------------------------------------------------------ properties
    @property
    def features(self) -> Features | None:
        return self._features

    @property
    def column_names(self) -> list[str] | None:
        return list(self._features) if self._features is not None else None

    @property
    def n_shards(self) -> int:
        return len(self._shards)

    @property
    def num_shards(self) -> int:
        return len(self._shards)

    @property
    def split(self) -> str | None:
        return self._split

    def __repr__(self) -> str:
        return f"IterableDataset({{\n    features: {self.column_names or 'Unknown'},\n    num_shards: {self.n_shards}\n}})"

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently each epoch: the shuffle seed becomes ``seed + epoch``."""
        self._epoch = epoch

    # ------------------------------------------------------------------ iteration
    def _rows(self, shard_ids: list[int], stride: tuple[int, int]) -> Iterator[Row]:
        return self._pipeline(self._steps, shard_ids, stride)

    def _pipeline(self, steps: list[tuple[str, Any]], shard_ids: list[int], stride: tuple[int, int]) -> Iterator[Row]:
        """Rows of ``shard_ids`` through ``steps``. The last shuffle whose shard order may change (no take/skip
        before it) feeds its buffer from up to ``max_buffer_input_shards`` groups of consecutive shards read
        round-robin, one row each, as the reference does; each group runs the steps before that shuffle."""
        split = _interleaving_shuffle(steps)
        if split is None:
            def source() -> Iterator[Row]:
                for i in shard_ids:
                    yield from self._shards[i]()

            it: Iterator[Row] = source()
            if stride[1] > 1:
                it = (row for j, row in enumerate(it) if j % stride[1] == stride[0])
            tail = steps
        else:
            max_groups = steps[split][1][2]
            groups = _contiguous_groups(shard_ids, min(len(shard_ids), max_groups))
            it = _round_robin([self._pipeline(steps[:split], g, (0, 1)) for g in groups])
            if stride[1] > 1:
                it = (row for j, row in enumerate(it) if j % stride[1] == stride[0])
            tail = steps[split:]
        for kind, arg in tail:
            it = _STEPS[kind](self, it, arg)
        return it

    def __iter__(self) -> Iterator[Any]:
        worker, workers = _worker()
        order = self._shard_order()
        if workers > 1 and len(order) >= workers:
            rows = self._rows(order[worker::workers], (0, 1))
        else:
            rows = self._rows(order, (worker, workers))
        if self._format is None:
            yield from rows
        else:
            from embrace.data.formatting import format_python_row

            for row in rows:
                yield format_python_row(row, self._format)

    def _shard_order(self) -> list[int]:
        """Shard order after the shuffle steps: each shuffle's ``rng.shuffle`` of the shard list, as in the
        reference, unless a take/skip before it fixed the order; from epoch 1 on, one more shuffle seeded by the
        epoch (skipped too when the pipeline has a take/skip)."""
        import numpy as np

        order = list(range(len(self._shards)))
        fixed = False
        for kind, arg in self._steps:
            fixed = fixed or kind in ("take", "skip")
            if kind == "shuffle" and not fixed:
                copy.deepcopy(arg[0]).shuffle(order)
        if self._epoch and not fixed:
            np.random.default_rng(self._epoch).shuffle(order)
        return order

    def iter(self, batch_size: int, drop_last_batch: bool = False) -> Iterator[dict[str, list[Any]]]:
        """Batches (dicts of columns) of ``batch_size`` rows."""
        buffer: list[Any] = []
        for row in self:
            buffer.append(row)
            if len(buffer) == batch_size:
                yield {k: [r[k] for r in buffer] for k in buffer[0]}
                buffer = []
        if buffer and not drop_last_batch:
            yield {k: [r[k] for r in buffer] for k in buffer[0]}

    def take(self, n: int) -> IterableDataset:
        return self._with("take", n)

    def skip(self, n: int) -> IterableDataset:
        return self._with("skip", n)

    def shard(self, num_shards: int, index: int, contiguous: bool = True) -> IterableDataset:
        """Shard ``index`` of ``num_shards`` (by files when there are enough, else by rows)."""
        new = copy.copy(self)
        if len(self._shards) >= num_shards:
            new._shards = self._shards[index::num_shards]
            return new
        return self._with("stride", (index, num_shards))

    # ------------------------------------------------------------------ transforms
    def map(self, function: Callable[..., Any] | None = None, with_indices: bool = False,
            input_columns: str | list[str] | None = None, batched: bool = False, batch_size: int | None = 1000,
            drop_last_batch: bool = False, remove_columns: str | list[str] | None = None,
            features: Features | None = None, fn_kwargs: dict[str, Any] | None = None) -> IterableDataset:
        removed = [remove_columns] if isinstance(remove_columns, str) else list(remove_columns or [])
        columns = [input_columns] if isinstance(input_columns, str) else input_columns
        spec = (function, with_indices, columns, batched, batch_size, drop_last_batch, removed, fn_kwargs or {})
        return self._with("map", spec, features)

    def filter(self, function: Callable[..., Any] | None = None, with_indices: bool = False,
               input_columns: str | list[str] | None = None, batched: bool = False, batch_size: int | None = 1000,
               fn_kwargs: dict[str, Any] | None = None) -> IterableDataset:
        columns = [input_columns] if isinstance(input_columns, str) else input_columns
        return self._with("filter", (function, with_indices, columns, batched, batch_size, fn_kwargs or {}))

    def shuffle(self, seed: int | None = None, generator: Any = None, buffer_size: int = 1000,
                max_buffer_input_shards: int = 10) -> IterableDataset:
        """Shuffle the shard order and the rows within a ``buffer_size`` buffer (approximate shuffle); the buffer
        is fed from up to ``max_buffer_input_shards`` shards at a time. Same order as the reference for a seed."""
        import numpy as np

        # kept as a Generator and deep-copied at each use, like the reference (same state every iteration)
        rng = copy.deepcopy(generator) if generator is not None else np.random.default_rng(seed)
        return self._with("shuffle", (rng, buffer_size, max(1, max_buffer_input_shards)))

    def select_columns(self, column_names: str | list[str]) -> IterableDataset:
        names = [column_names] if isinstance(column_names, str) else list(column_names)
        feats = Features({k: self._features[k] for k in names}) if self._features is not None else None
        return self._with("select", names, feats)

    def remove_columns(self, column_names: str | list[str]) -> IterableDataset:
        names = [column_names] if isinstance(column_names, str) else list(column_names)
        feats = Features({k: v for k, v in self._features.items() if k not in names}) if self._features else None
        return self._with("remove", names, feats)

    def rename_columns(self, column_mapping: dict[str, str]) -> IterableDataset:
        feats = Features({column_mapping.get(k, k): v for k, v in self._features.items()}) if self._features else None
        return self._with("rename", column_mapping, feats)

    def rename_column(self, original_column_name: str, new_column_name: str) -> IterableDataset:
        return self.rename_columns({original_column_name: new_column_name})

    def cast_column(self, column: str, feature: Any) -> IterableDataset:
        feats = Features({**(self._features or {}), column: feature})
        return self._with("encode", {column: feature}, feats)

    def cast(self, features: Features) -> IterableDataset:
        return self._with("encode", dict(features), features)

    def with_format(self, type: str | None = None) -> IterableDataset:
        new = copy.copy(self)
        new._format = None if type in (None, "python") else type
        return new


def _step_map(ds: IterableDataset, rows: Iterator[Row], spec: Any) -> Iterator[Row]:
    function, with_indices, columns, batched, batch_size, drop_last, removed, kwargs = spec

    def call(inputs: Any, index: Any) -> Any:
        args = [inputs[c] for c in columns] if columns else [inputs]
        if with_indices:
            args.append(index)
        return function(*args, **kwargs) if function is not None else None

    if not batched:
        for i, row in enumerate(rows):
            out = call(row, i)
            merged = {k: v for k, v in row.items() if k not in removed}
            yield {**merged, **(out or {})}
        return
    for start, batch in _batches(rows, batch_size):
        if drop_last and batch_size and len(batch) < batch_size:
            return
        columns_in = {k: [r.get(k) for r in batch] for k in batch[0]}
        out = call(columns_in, list(range(start, start + len(batch)))) or {}
        kept = {k: v for k, v in columns_in.items() if k not in removed and k not in out}
        merged = {**kept, **out}
        lengths = {len(v) for v in merged.values()}
        if len(lengths) > 1:
            raise SchemaError(f"map returned columns of different lengths {lengths}; remove the input columns "
                              "with remove_columns= when changing the number of rows.")
        n = lengths.pop() if lengths else 0
        for j in range(n):
            yield {k: v[j] for k, v in merged.items()}


def _batches(rows: Iterator[Row], batch_size: int | None) -> Iterator[tuple[int, list[Row]]]:
    buffer: list[Row] = []
    start = 0
    for row in rows:
        buffer.append(row)
        if batch_size and len(buffer) == batch_size:
            yield start, buffer
            start += len(buffer)
            buffer = []
    if buffer:
        yield start, buffer


def _step_filter(ds: IterableDataset, rows: Iterator[Row], spec: Any) -> Iterator[Row]:
    function, with_indices, columns, batched, batch_size, kwargs = spec

    def call(inputs: Any, index: Any) -> Any:
        args = [inputs[c] for c in columns] if columns else [inputs]
        if with_indices:
            args.append(index)
        return function(*args, **kwargs)

    if not batched:
        yield from (row for i, row in enumerate(rows) if call(row, i))
        return
    for start, batch in _batches(rows, batch_size):
        mask = call({k: [r.get(k) for r in batch] for k in batch[0]}, list(range(start, start + len(batch))))
        yield from (row for row, keep in zip(batch, mask) if keep)


def _step_shuffle(ds: IterableDataset, rows: Iterator[Row], spec: Any) -> Iterator[Row]:
    """The reference's buffer shuffle (datasets 5.x): when ``buffer_size`` rows are buffered, permute them, emit
    all but ``buffer_size // 2`` and keep the rest; at the end emit a permutation of what is left."""
    import numpy as np

    generator, buffer_size, _max_input_shards = spec
    rng = copy.deepcopy(generator)
    if ds._epoch:
        rng = np.random.default_rng(int(rng.integers(0, 1 << 63)) - ds._epoch)
    buffer: list[Row] = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= buffer_size:
            order = rng.permutation(len(buffer))
            cut = len(buffer) - buffer_size // 2
            for i in order[:cut]:
                yield buffer[i]
            buffer = [buffer[i] for i in order[cut:]]
    for i in rng.permutation(len(buffer)):
        yield buffer[i]


def _interleaving_shuffle(steps: list[tuple[str, Any]]) -> int | None:
    """Index of the last shuffle step that reads several shards at once (none after a take/skip)."""
    found = None
    for i, (kind, arg) in enumerate(steps):
        if kind in ("take", "skip"):
            return found
        if kind == "shuffle" and arg[2] > 1:
            found = i
    return found


def _contiguous_groups(items: list[int], n: int) -> list[list[int]]:
    """``n`` groups of consecutive items, the first ``len % n`` one larger (the reference's contiguous shards)."""
    size, extra = divmod(len(items), n) if n else (0, 0)
    groups, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        groups.append(items[start:end])
        start = end
    return groups


def _round_robin(iterators: list[Iterator[Row]]) -> Iterator[Row]:
    """One row from each iterator in turn, skipping exhausted ones, until all are exhausted."""
    active = list(iterators)
    while active:
        still = []
        for it in active:
            row = next(it, _DONE)
            if row is not _DONE:
                still.append(it)
                yield row
        active = still


_DONE: Any = object()


def _step_take(ds: IterableDataset, rows: Iterator[Row], n: int) -> Iterator[Row]:
    for i, row in enumerate(rows):
        if i >= n:
            return
        yield row


def _step_skip(ds: IterableDataset, rows: Iterator[Row], n: int) -> Iterator[Row]:
    for i, row in enumerate(rows):
        if i >= n:
            yield row


def _step_encode(ds: IterableDataset, rows: Iterator[Row], features: dict[str, Any]) -> Iterator[Row]:
    for row in rows:
        yield {k: (encode_value(features[k], v) if k in features else v) for k, v in row.items()}


_STEPS: dict[str, Callable[[IterableDataset, Iterator[Row], Any], Iterator[Row]]] = {
    "map": _step_map, "filter": _step_filter, "shuffle": _step_shuffle, "take": _step_take, "skip": _step_skip,
    "encode": _step_encode,
    "select": lambda ds, rows, names: ({k: r[k] for k in names} for r in rows),
    "remove": lambda ds, rows, names: ({k: v for k, v in r.items() if k not in names} for r in rows),
    "rename": lambda ds, rows, m: ({m.get(k, k): v for k, v in r.items()} for r in rows),
    "stride": lambda ds, rows, s: (r for j, r in enumerate(rows) if j % s[1] == s[0]),
}


class IterableDatasetDict(dict[str, "IterableDataset"]):
    """``{split: IterableDataset}``; methods apply to every split."""

    def _each(self, method: str, *args: Any, **kwargs: Any) -> IterableDatasetDict:
        return IterableDatasetDict({k: getattr(v, method)(*args, **kwargs) for k, v in self.items()})

    def map(self, *args: Any, **kwargs: Any) -> IterableDatasetDict:
        return self._each("map", *args, **kwargs)

    def filter(self, *args: Any, **kwargs: Any) -> IterableDatasetDict:
        return self._each("filter", *args, **kwargs)

    def shuffle(self, *args: Any, **kwargs: Any) -> IterableDatasetDict:
        return self._each("shuffle", *args, **kwargs)

    def with_format(self, type: str | None = None) -> IterableDatasetDict:
        return self._each("with_format", type)

    def remove_columns(self, column_names: str | list[str]) -> IterableDatasetDict:
        return self._each("remove_columns", column_names)

    def rename_column(self, original: str, new: str) -> IterableDatasetDict:
        return self._each("rename_column", original, new)

    def select_columns(self, column_names: str | list[str]) -> IterableDatasetDict:
        return self._each("select_columns", column_names)


def concatenate_iterable(dsets: list[IterableDataset], axis: int = 0) -> IterableDataset:
    if axis != 0:
        raise ValueError("concatenate_datasets(axis=1) is not supported for IterableDataset.")
    def shard(d: IterableDataset) -> Callable[[], Iterator[Row]]:
        return lambda: iter(d)

    return IterableDataset([shard(d) for d in dsets], dsets[0].features)


def interleave_iterable(dsets: list[IterableDataset], probabilities: list[float] | None, seed: int | None,
                        stopping_strategy: str) -> IterableDataset:
    """Round-robin (or sampled with ``probabilities``) rows of ``dsets``; stops as ``stopping_strategy`` says."""

    def rows() -> Iterator[Row]:
        import numpy as np

        iterators = [iter(d) for d in dsets]
        exhausted = [False] * len(dsets)
        rng = np.random.default_rng(seed)
        k = 0
        while True:
            if probabilities is None:
                source = k % len(dsets)
                k += 1
            else:
                source = int(rng.choice(len(dsets), p=probabilities))
            try:
                yield next(iterators[source])
            except StopIteration:
                exhausted[source] = True
                if stopping_strategy == "first_exhausted" or all(exhausted):
                    return
                iterators[source] = iter(dsets[source])
                yield next(iterators[source])

    return IterableDataset([rows], dsets[0].features)
