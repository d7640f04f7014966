"""``concatenate_datasets`` and ``interleave_datasets`` (map-style and streaming), with the reference's sampling.

Interleaving with ``probabilities`` draws sources in blocks of 1000 with ``np.random.default_rng(seed).choice``,
exactly as the reference, so the same seed gives the same row order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from embrace.data.arrow_writer import with_features_metadata
from embrace.data.errors import SchemaError
from embrace.data.fingerprint import hash_objects

if TYPE_CHECKING:
    from embrace.data.dataset import Dataset

D = TypeVar("D")


def concatenate_datasets(dsets: list[Any], info: Any = None, split: str | None = None, axis: int = 0) -> Any:
    """Rows of ``dsets`` one after the other (``axis=0``) or their columns side by side (``axis=1``)."""
    from embrace.data.dataset import Dataset
    from embrace.data.iterable import IterableDataset, concatenate_iterable

    if not dsets:
        raise ValueError("Unable to concatenate an empty list of datasets.")
    if all(isinstance(d, IterableDataset) for d in dsets):
        return concatenate_iterable(dsets, axis)
    if not all(isinstance(d, Dataset) for d in dsets):
        raise ValueError("concatenate_datasets needs all Dataset or all IterableDataset objects.")
    flat = [d.flatten_indices() if d._indices is not None else d for d in dsets]
    files = [f for d in flat for f in d._cache_files]
    if axis == 1:
        lengths = {len(d) for d in flat}
        if len(lengths) > 1:
            raise SchemaError(f"concatenate_datasets(axis=1) needs datasets of equal length, got {sorted(lengths)}.")
        names = [c for d in flat for c in d.column_names]
        if len(set(names)) != len(names):
            raise SchemaError(f"concatenate_datasets(axis=1) got duplicate column names {names}.")
        arrays = [d._data.column(c) for d in flat for c in d.column_names]
        features = type(flat[0].features)({k: v for d in flat for k, v in d.features.items()})
        table = with_features_metadata(pa.Table.from_arrays(arrays, names=names), features)
    else:
        first = flat[0].features
        for d in flat[1:]:
            if sorted(d.features) != sorted(first):
                raise SchemaError(f"Datasets have different columns {sorted(first)} vs {sorted(d.features)}; "
                                  "rename or remove columns so they match.")
        schema = first.arrow_schema
        tables = []
        for d in flat:
            table = d._data.select(list(first))
            try:
                tables.append(table.cast(schema) if not table.schema.equals(schema, check_metadata=False) else table)
            except (pa.ArrowException, ValueError) as exc:
                raise SchemaError(f"Cannot concatenate: features {dict(d.features)} do not match {dict(first)} "
                                  f"({exc}). Cast the datasets to the same features first.") from exc
        table = with_features_metadata(pa.concat_tables(tables), first)
        features = first
    fp = hash_objects("concatenate", [d._fingerprint for d in dsets], axis)
    out = Dataset(table, features, fingerprint=fp, cache_files=files, split=split or flat[0].split,
                  format=flat[0]._format)
    out._source = None  # the parts may be slices of their files
    return out


def interleave_indices(lengths: list[int], probabilities: list[float] | None, seed: int | None,
                       stopping_strategy: str) -> list[int]:
    """Row order (in the concatenation of the sources) of the reference's map-style interleave."""
    import numpy as np

    offsets = np.cumsum([0, *lengths[:-1]])
    if stopping_strategy not in ("first_exhausted", "all_exhausted", "all_exhausted_without_replacement"):
        raise ValueError(f"stopping_strategy {stopping_strategy!r} is not supported; use first_exhausted, "
                         "all_exhausted or all_exhausted_without_replacement.")
    oversampling = stopping_strategy == "all_exhausted"
    if probabilities is None and stopping_strategy == "all_exhausted_without_replacement":
        chunks, remaining, offs = [], list(lengths), np.array(offsets)
        bounds = [0, *sorted(set(lengths))]
        for start, end in zip(bounds[:-1], bounds[1:]):
            chunks.append((offs.reshape(1, -1) + np.arange(start, end).reshape(-1, 1)).flatten())
            gone = [i for i in range(len(remaining)) if remaining[i] == end]
            remaining = np.delete(remaining, gone).tolist()
            offs = np.delete(offs, gone)
        return np.concatenate(chunks).tolist()
    if probabilities is None and not oversampling:
        return (offsets.reshape(1, -1) + np.arange(min(lengths)).reshape(-1, 1)).flatten().tolist()
    if probabilities is None:
        idx = np.mod(np.arange(max(lengths)).reshape(-1, 1), np.array(lengths).reshape(1, -1))
        return (idx + offsets).flatten().tolist()
    rng = np.random.default_rng(seed)
    n = len(lengths)
    if stopping_strategy in ("first_exhausted", "all_exhausted"):
        drawable = np.asarray(probabilities, dtype=np.float64) > 0
        empty = [i for i in range(n) if lengths[i] == 0 and drawable[i]]
        if empty:
            raise ValueError(f"interleave_datasets: datasets at indices {empty} are empty but can be sampled.")
        if oversampling and not drawable.all():
            raise ValueError("stopping_strategy='all_exhausted' cannot exhaust a dataset with probability 0.")
        lengths_arr = np.asarray(lengths, dtype=np.int64)
        blocks, counts = [], np.zeros(n, dtype=np.int64)
        reached = np.zeros(n, dtype=bool)
        while not (reached[drawable].all() if oversampling else reached[drawable].any()):
            block = rng.choice(n, size=1000, p=probabilities)
            blocks.append(block)
            counts += np.bincount(block, minlength=n)
            reached = counts >= lengths_arr
        draws = np.concatenate(blocks)
        exhaust = np.full(n, -1, dtype=np.int64)
        for s in range(n):
            occ = np.flatnonzero(draws == s)
            if drawable[s] and len(occ) >= lengths[s]:
                exhaust[s] = occ[lengths[s] - 1]
        valid = exhaust[exhaust >= 0]
        used = draws[: (valid.max() if oversampling else valid.min()) + 1]
        out = np.empty(len(used), dtype=np.int64)
        for s in range(n):
            pos = np.flatnonzero(used == s)
            if len(pos):
                out[pos] = (np.arange(len(pos)) % lengths[s]) + offsets[s]
        return out.tolist()
    exhausted, current, indices = np.zeros(n, dtype=bool), [0] * n, []
    while not exhausted.all():
        for source in rng.choice(n, size=1000, p=probabilities):
            if exhausted.all():
                break
            if not exhausted[source]:
                indices.append(current[source] + offsets[source])
                current[source] += 1
            if current[source] >= lengths[source]:
                exhausted[source] = True
    return indices


def interleave_datasets(datasets: list[Any], probabilities: list[float] | None = None, seed: int | None = None,
                        info: Any = None, split: str | None = None,
                        stopping_strategy: str = "first_exhausted") -> Any:
    """Alternate rows of ``datasets`` (round-robin, or sampled with ``probabilities``), as the reference does."""
    from embrace.data.iterable import IterableDataset, interleave_iterable

    if not datasets:
        raise ValueError("Unable to interleave an empty list of datasets.")
    if all(isinstance(d, IterableDataset) for d in datasets):
        return interleave_iterable(datasets, probabilities, seed, stopping_strategy)
    merged: Dataset = concatenate_datasets(datasets, split=split)
    order = interleave_indices([len(d) for d in datasets], probabilities, seed, stopping_strategy)
    return merged.select(order)
