"""Row access on an Arrow table that may have thousands of record batches (one per writer flush).

``pa.Table.slice`` walks the chunk list; a bisect over batch offsets makes single-row reads O(log batches).
"""

from __future__ import annotations

import bisect
from typing import Any

import pyarrow as pa


class IndexedTable:
    """An immutable ``pa.Table`` plus the start offset of each of its record batches."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._batches: list[pa.RecordBatch] | None = None
        self._starts: list[int] = []

    def _index(self) -> list[pa.RecordBatch]:
        if self._batches is None:
            batches = [b for b in self.table.to_batches() if b.num_rows]
            starts, total = [], 0
            for batch in batches:
                starts.append(total)
                total += batch.num_rows
            self._batches, self._starts = batches, starts
        return self._batches

    def slice(self, start: int, length: int) -> pa.Table:
        """Rows ``start .. start+length`` as a table (zero copy)."""
        batches = self._index()
        if length <= 0 or not batches:
            return self.table.schema.empty_table()
        first = bisect.bisect_right(self._starts, start) - 1
        out: list[pa.RecordBatch] = []
        remaining, offset = length, start - self._starts[first]
        for batch in batches[first:]:
            piece = batch.slice(offset, remaining)
            out.append(piece)
            remaining -= piece.num_rows
            offset = 0
            if remaining <= 0:
                break
        return pa.Table.from_batches(out, schema=self.table.schema)

    def take(self, positions: Any) -> pa.Table:
        """Rows at ``positions`` (any integer array-like), in that order."""
        import numpy as np

        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return self.table.schema.empty_table()
        if len(positions) > 1:
            first, last = int(positions[0]), int(positions[-1])
            if last - first + 1 == len(positions) and np.all(np.diff(positions) == 1):
                return self.slice(first, len(positions))
        else:
            return self.slice(int(positions[0]), 1)
        return self.table.take(pa.array(positions))
