"""KV memory for the serving engine: one cache row ("slot") per running sequence, each with its own length.

Rows in use are always the contiguous prefix ``[0, rows_in_use)``: a sequence that leaves hands its row to the last
one (:meth:`SlotKVCache.move_row`), so a decode step attends over a view of the buffers, never a gathered copy.
Buffers grow on demand (rows in steps of ``row_step``, positions in steps of ``length_step``) up to
``max_rows x max_length``, and are released when the cache empties, so an idle server holds no KV memory.

A forward pass works on a window of rows set by :meth:`begin_step`. The model sees the usual
:class:`~embrace.models.cache.KVCache` protocol: ``get_seq_length`` is the longest row in the window (the keys a
step returns are that long plus the new positions) and the engine passes an attention mask that hides each
shorter row's unused tail. Decode steps (one new token per row) write each row at its own length; prefill steps
(rows all empty) write the right-padded prompts at positions ``0 .. n - 1``. After the forward the engine sets the
true lengths with :meth:`set_length`.
"""

from __future__ import annotations

import torch

from embrace.errors import EmbraceError


class SlotCacheError(EmbraceError, RuntimeError):
    """The engine asked the slot cache for something it cannot do (no free row, a row past ``max_length``)."""


class SlotKVCache:
    """Per-sequence KV rows ``(rows, kv_heads, positions, head_dim)`` per layer with per-row lengths."""

    def __init__(self, max_rows: int, max_length: int, *, row_step: int = 8, length_step: int = 128) -> None:
        if max_rows < 1 or max_length < 1:
            raise ValueError(f"max_rows and max_length must be >= 1, got {max_rows} and {max_length}")
        self.max_rows = max_rows
        self.max_length = max_length
        self.row_step = row_step
        self.length_step = length_step
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.lengths: list[int] = []          # per row in use
        self._capacity = (0, 0)                # (rows, positions) the buffers are allocated for
        self._window = (0, 0)                  # rows [start, stop) of the current forward
        self._new = 0                          # positions each row of the window receives this step
        self._past = 0                         # longest row length in the window before this step
        self._decode_index: tuple[torch.Tensor, torch.Tensor] | None = None

    # ---- slots -------------------------------------------------------------------------------------------------
    @property
    def rows_in_use(self) -> int:
        return len(self.lengths)

    def tokens_in_use(self) -> int:
        return sum(self.lengths)

    def allocated_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    def allocate_row(self) -> int:
        """A new empty row at the end of the rows in use; returns its index."""
        if self.rows_in_use >= self.max_rows:
            raise SlotCacheError(f"all {self.max_rows} KV slots are in use")
        self.lengths.append(0)
        return self.rows_in_use - 1

    def free_row(self, row: int) -> int | None:
        """Release ``row``. The last row moves into it to keep rows contiguous; returns that row's old index
        (whose owner now lives at ``row``), or None when ``row`` was the last one."""
        last = self.rows_in_use - 1
        if not 0 <= row <= last:
            raise SlotCacheError(f"row {row} is not in use (rows in use: {self.rows_in_use})")
        moved = None
        if row != last:
            self.move_row(last, row)
            moved = last
        self.lengths.pop()
        if not self.lengths:
            self.release()
        return moved

    def move_row(self, source: int, target: int) -> None:
        length = self.lengths[source]
        for buffers in (self.keys, self.values):
            for buffer in buffers:
                buffer[target, :, :length] = buffer[source, :, :length]
        self.lengths[target] = length

    def set_length(self, row: int, length: int) -> None:
        if length > self.max_length:
            raise SlotCacheError(f"row {row} would hold {length} positions; the limit is {self.max_length}")
        self.lengths[row] = length

    def release(self) -> None:
        """Drop the buffers (all rows must be free)."""
        if self.lengths:
            raise SlotCacheError(f"cannot release the KV buffers: {self.rows_in_use} rows are in use")
        self.keys, self.values = [], []
        self._capacity = (0, 0)

    # ---- one forward -------------------------------------------------------------------------------------------
    def begin_step(self, start: int, stop: int, new_positions: int) -> None:
        """The next forward covers rows ``[start, stop)`` and adds ``new_positions`` to each: 1 per row for
        decoding (rows of any length), or a right-padded prompt for prefilling (rows all empty)."""
        if not 0 <= start < stop <= self.rows_in_use:
            raise SlotCacheError(f"rows [{start}, {stop}) are not all in use (rows in use: {self.rows_in_use})")
        lengths = self.lengths[start:stop]
        if new_positions != 1 and any(lengths):
            raise SlotCacheError("a multi-position step needs empty rows (prefill); decode one position at a time")
        self._past = max(lengths)
        needed = self._past + new_positions
        if needed > self.max_length:
            raise SlotCacheError(f"a step needs {needed} positions; rows hold at most {self.max_length}")
        self._window, self._new = (start, stop), new_positions
        self._decode_index = None
        if new_positions == 1 and min(lengths) != self._past:
            device = self.keys[0].device if self.keys else None
            rows = torch.arange(start, stop, device=device)
            self._decode_index = (rows, torch.tensor(lengths, device=device))
        self._grow(stop, needed)

    def _grow(self, rows: int, positions: int) -> None:
        have_rows, have_positions = self._capacity
        if rows <= have_rows and positions <= have_positions:
            return
        new_rows = min(self.max_rows, max(have_rows, -(-rows // self.row_step) * self.row_step))
        new_positions = min(self.max_length, max(have_positions, -(-positions // self.length_step) * self.length_step))
        for buffers in (self.keys, self.values):
            for i, old in enumerate(buffers):
                grown = old.new_zeros(new_rows, old.shape[1], new_positions, old.shape[3])
                grown[:have_rows, :, :have_positions] = old
                buffers[i] = grown
        self._capacity = (new_rows, new_positions)

    def attention_mask(self, device: torch.device | None = None) -> torch.Tensor | None:
        """``(rows in window, past + new)`` 1/0 mask for a decode step, or None when every row has the same length."""
        if self._decode_index is None:
            return None
        start, stop = self._window
        lengths = torch.tensor(self.lengths[start:stop], device=device)
        return (torch.arange(self._past + 1, device=device)[None, :] <= lengths[:, None]).long()

    # ---- the KVCache protocol ----------------------------------------------------------------------------------
    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if layer == len(self.keys):
            capacity_rows, capacity_positions = self._capacity
            self.keys.append(key.new_zeros(capacity_rows, key.shape[1], capacity_positions, key.shape[3]))
            self.values.append(value.new_zeros(capacity_rows, value.shape[1], capacity_positions, value.shape[3]))
        start, stop = self._window
        end = self._past + self._new
        keys, values = self.keys[layer], self.values[layer]
        if self._decode_index is not None:
            rows, columns = self._decode_index
            if rows.device != keys.device:
                rows, columns = rows.to(keys.device), columns.to(keys.device)
                self._decode_index = (rows, columns)
            keys[rows, :, columns] = key[:, :, 0]
            values[rows, :, columns] = value[:, :, 0]
        else:
            keys[start:stop, :, self._past:end] = key
            values[start:stop, :, self._past:end] = value
        return keys[start:stop, :, :end], values[start:stop, :, :end]

    def get_seq_length(self, layer: int = 0) -> int:
        return self._past

    def reorder(self, index: torch.Tensor) -> None:
        raise SlotCacheError("the serving slot cache does not reorder rows (beam search is not served)")
