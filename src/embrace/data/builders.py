"""Write rows coming from Python (generators, parsers) to a memory-mapped Arrow file in bounded batches."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from embrace.data.arrow_writer import ArrowWriter, read_arrow_file, table_from_columns
from embrace.data.caching import datasets_cache_dir, is_caching_enabled, mark_in_use, temp_cache_dir
from embrace.data.features import Features
from embrace.data.fingerprint import UnhashableError, hash_objects, random_fingerprint

if TYPE_CHECKING:
    from embrace.data.dataset import Dataset


def rows_to_table_batches(rows: Iterable[dict[str, Any]], features: Features | None,
                          batch_size: int) -> Iterable[Any]:
    """Arrow tables of ``batch_size`` rows each; row numbers in errors count from the first row."""
    buffer: list[dict[str, Any]] = []
    keys: list[str] | None = list(features) if features is not None else None
    done = 0
    for row in rows:
        if keys is None:
            keys = list(row)
        buffer.append(row)
        if len(buffer) >= batch_size:
            yield table_from_columns({k: [r.get(k) for r in buffer] for k in keys}, features, done)
            done += len(buffer)
            buffer = []
    if buffer and keys is not None:
        yield table_from_columns({k: [r.get(k) for r in buffer] for k in keys}, features, done)


def dataset_from_rows(rows: Iterable[dict[str, Any]], features: Features | None, split: str | None,
                      writer_batch_size: int, key: Any) -> Dataset:
    """Stream ``rows`` into ``$HF_DATASETS_CACHE/generator/<fingerprint>.arrow`` (reused when the key matches)."""
    from embrace.data.dataset import Dataset

    try:
        fp = hash_objects(key)
        folder = str(datasets_cache_dir() / "generator")
    except UnhashableError:
        fp, folder = random_fingerprint(), temp_cache_dir()
    path = os.path.join(folder, f"{fp}.arrow")
    if not (is_caching_enabled() and os.path.exists(path)):
        with ArrowWriter(path, features=features) as writer:
            for table in rows_to_table_batches(rows, features, writer_batch_size):
                writer.write_table(table)
            writer.finalize()
    table = read_arrow_file(path)
    mark_in_use(path)
    return Dataset(table, features or Features.from_arrow_schema(table.schema), fingerprint=fp,
                   cache_files=[path], split=split)
