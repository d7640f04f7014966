"""BPE merges for many words at once, on numpy arrays: the cold-cache path of the batch encoders.

``merge_many`` gives exactly what ``BPE._merge`` gives word by word (the lowest-ranked merge first, the leftmost
of equal ones), but one merge per word per step runs for all words together: all words' tokens live in one flat
array, ``packed[i]`` holds the packed (rank, merged id) of the pair at ``i`` (``NO_MERGE`` at a word's last token),
and a step is a segmented minimum, one write per word and one compaction. Finished words leave the arrays; the
last few words finish in Python. numpy is imported when this module is, on the first large batch of new words.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate
from typing import Any

import numpy as np

from embrace.tokenizers.pre_tokenizers import BYTE_TO_CHAR, byte_level_str

NO_MERGE = 1 << 62  # same sentinel and packing as models._NO_MERGE / _PAIR_SHIFT
PAIR_SHIFT = 32
ID_MASK = (1 << PAIR_SHIFT) - 1
PYTHON_TAIL = 48  # below this many unfinished words the numpy step costs more than Python's loop


class MergeTable:
    """A BPE model's merge ranks as two sorted arrays (pair key -> packed rank and merged id), and its initial
    tokens: the id of each byte's GPT-2 character (-1 if missing) and of each single-character token."""

    __slots__ = ("keys", "values", "last", "byte_ids", "vocab", "chars")

    def __init__(self, ranks: dict[int, int], vocab: dict[str, int]) -> None:
        keys = np.fromiter(ranks.keys(), dtype=np.int64, count=len(ranks))
        values = np.fromiter(ranks.values(), dtype=np.int64, count=len(ranks))
        order = np.argsort(keys)
        self.keys, self.values = keys[order], values[order]
        self.last = len(keys) - 1
        self.byte_ids = np.array([vocab.get(BYTE_TO_CHAR[b], -1) for b in range(256)], dtype=np.int64)
        self.vocab = vocab
        self.chars: tuple[Any, Any] | None = None  # sorted code points of single-character tokens, their ids

    def _char_table(self) -> tuple[Any, Any]:
        if self.chars is None:
            chars = {ord(t): i for t, i in self.vocab.items() if len(t) == 1}
            points = np.fromiter(chars.keys(), dtype=np.int64, count=len(chars))
            order = np.argsort(points)
            self.chars = points[order], np.fromiter(chars.values(), dtype=np.int64, count=len(chars))[order]
        return self.chars

    def initial(self, words: list[str], raw_bytes: bool) -> tuple[Any, Any]:
        """Initial ids of all words one after another (-1 for a byte or character without a token), and each
        word's number of initial tokens."""
        joined = "".join(words)
        if raw_bytes:
            data = joined.encode("utf-8")
            ids = self.byte_ids[np.frombuffer(data, dtype=np.uint8)]
            sizes = map(len, words) if len(data) == len(joined) else map(len, map(str.encode, words))
        else:
            points, char_ids = self._char_table()
            text = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
            if not len(points):
                return np.full(len(text), -1, dtype=np.int64), np.fromiter(map(len, words), dtype=np.int64)
            at = np.minimum(np.searchsorted(points, text), len(points) - 1)
            ids = np.where(points[at] == text, char_ids[at], -1)
            sizes = map(len, words)
        return ids, np.fromiter(sizes, dtype=np.int64, count=len(words))

    def lookup(self, pair_keys: Any) -> Any:
        """Packed (rank, merged id) of each pair key; ``NO_MERGE`` where the pair has no merge."""
        if self.last < 0:
            return np.full(len(pair_keys), NO_MERGE, dtype=np.int64)
        at = np.searchsorted(self.keys, pair_keys)
        np.minimum(at, self.last, out=at)
        return np.where(self.keys[at] == pair_keys, self.values[at], NO_MERGE)


def word_ids_many(table: MergeTable, words: list[str], raw_bytes: bool, word_ids: Callable[[str], list[int]],
                  finish: Callable[[list[int]], None]) -> list[list[int]]:
    """BPE ids of each word (``BPE.word_ids_many``): words whose every initial token exists are merged together,
    the others (and empty words) go through ``word_ids`` (of the byte-mapped word with ``raw_bytes``)."""
    ids, lengths = table.initial(words, raw_bytes)
    bad = ids < 0
    ok = lengths > 0
    if bad.any():
        starts = np.cumsum(lengths) - lengths
        has_bad = np.logical_or.reduceat(bad, np.minimum(starts, max(len(bad) - 1, 0))) & ok
        ok &= ~has_bad
        ids = ids[np.repeat(ok, lengths)]
    if ok.all():
        return merge_many(table, ids, lengths, finish)
    out: list[list[int]] = [[]] * len(words)
    good = np.flatnonzero(ok).tolist()
    if good:
        for w, merged in zip(good, merge_many(table, ids, lengths[ok], finish)):
            out[w] = merged
    for w in np.flatnonzero(~ok).tolist():
        out[w] = word_ids(byte_level_str(words[w]) if raw_bytes else words[w])
    return out


def merge_many(table: MergeTable, ids: Any, lengths: Any, finish: Any) -> list[list[int]]:
    """Merge every word: ``ids`` (int64) holds the words' initial token ids one after another, ``lengths`` (int64,
    all >= 1) their token counts. ``finish(ids)`` merges one word's list in place (``BPE._merge``), for the tail.
    Returns the final ids of each word, in order."""
    out: list[list[int]] = [[]] * len(lengths)
    order = np.arange(len(lengths))  # unfinished word -> its index in the input
    ends = np.cumsum(lengths)
    packed = np.empty(len(ids), dtype=np.int64)
    packed[:-1] = table.lookup(ids[:-1] << PAIR_SHIFT | ids[1:])
    packed[ends - 1] = NO_MERGE
    while len(order):
        starts = ends - lengths
        best = np.minimum.reduceat(packed, starts)
        done = best == NO_MERGE
        if done.any():  # words without a merge left are final: move them out
            tokens_done = np.repeat(done, lengths)
            _store(out, order[done], ids[tokens_done], lengths[done])
            keep = ~done
            ids, packed, lengths, order, best = ids[~tokens_done], packed[~tokens_done], lengths[keep], order[keep], best[keep]
            ends = np.cumsum(lengths)
            starts = ends - lengths
        if len(order) < PYTHON_TAIL:
            _finish_in_python(out, order, ids, lengths, finish)
            return out
        # the leftmost position of each word's best pair: one merge per word
        hits = np.flatnonzero(packed == np.repeat(best, lengths))
        word = np.searchsorted(ends, hits, side="right")
        first = np.empty(len(hits), dtype=bool)
        first[0] = True
        np.not_equal(word[1:], word[:-1], out=first[1:])
        at = hits[first]
        new = best & ID_MASK
        ids[at] = new
        # the pairs the merge changes: (left neighbour, new) and (new, token after the removed one)
        has_left = at > starts
        left = at[has_left] - 1
        packed[left] = table.lookup(ids[left] << PAIR_SHIFT | new[has_left])
        has_right = at + 2 < ends
        right = at[has_right]
        packed[right] = table.lookup(new[has_right] << PAIR_SHIFT | ids[right + 2])
        packed[at[~has_right]] = NO_MERGE
        keep_tokens = np.ones(len(ids), dtype=bool)
        keep_tokens[at + 1] = False
        ids, packed = ids[keep_tokens], packed[keep_tokens]
        lengths = lengths - 1
        ends = ends - np.arange(1, len(ends) + 1)
    return out


def _store(out: list[list[int]], words: Any, ids: Any, lengths: Any) -> None:
    flat = ids.tolist()
    bounds = list(accumulate(lengths.tolist(), initial=0))
    for w, s, e in zip(words.tolist(), bounds, bounds[1:]):
        out[w] = flat[s:e]


def _finish_in_python(out: list[list[int]], words: Any, ids: Any, lengths: Any, finish: Any) -> None:
    _store(out, words, ids, lengths)
    for w in words.tolist():
        finish(out[w])
