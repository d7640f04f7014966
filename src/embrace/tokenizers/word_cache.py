"""Per-word caches of the encode paths, and the C-level assembly of a sequence from cached words.

A word (pre-token) always encodes the same way, so ``Tokenizer`` caches, per model, what one word turns into:
ids only (``ids_cache``) or a ``WordEntry`` with tokens and character offsets inside the word (``entry_cache``).
With a byte-level pre-tokenizer the cache key is the raw word and the byte mapping happens on a miss only.
A sequence is then put together with ``map``/``chain``/``zip`` over the cached entries, so the per-token work
runs in C, not in Python bytecode.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from itertools import accumulate, chain, islice, repeat
from operator import add, itemgetter
from typing import Any, TypeVar, cast

from embrace.tokenizers.models import Model, WordCache
from embrace.tokenizers.pre_tokenizers import byte_level_str
from embrace.tokenizers.processors import space_counts, trim_token

# (ids, tokens, starts, ends, flat offsets, 2 * number of tokens): one word's tokens with character offsets
# relative to the word, also flattened as start0, end0, start1, end1, ... (see ``assemble``)
WordEntry = tuple[Any, ...]
_EMPTY: WordEntry = ((), (), (), (), (), 0)
_IDS, _TOKENS, _FLAT, _FLAT_LEN = itemgetter(0), itemgetter(1), itemgetter(4), itemgetter(5)
_LEAD, _TRAIL = itemgetter(0), itemgetter(1)


CHUNK_CHARS = 2_000_000  # text per batch-encode chunk: bounds the words held at once
T = TypeVar("T")


def chunks(items: Sequence[T], limit: int = CHUNK_CHARS) -> Iterator[Sequence[T]]:
    """``items`` (texts, or inputs holding texts) in consecutive runs of about ``limit`` characters of text."""
    if len(items) <= 1 or sum(map(_size, islice(items, 64))) * len(items) <= 64 * limit:
        yield items  # small batches (estimated from the first 64 items) in one piece
        return
    start, size = 0, 0
    for i, item in enumerate(items):
        size += _size(item)
        if size >= limit:
            yield items[start : i + 1]
            start, size = i + 1, 0
    if start < len(items):
        yield items[start:]


def _size(item: Any) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item, (list, tuple)):
        return sum(map(_size, item))
    return 0


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch is encoded: it allocates many small tuples and lists
    (no reference cycles), which would otherwise trigger a collection every few hundred allocations, each
    traversing the young objects: up to a third of the time of an encode with offsets. Re-enabled after."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def ids_cache(model: Model, byte_level: bool) -> WordCache:
    """word -> ids; with ``byte_level`` the key is the raw word, byte-mapped on a miss."""
    many = model.word_ids_many
    if byte_level:
        word_ids = model.word_ids
        return model.cache("raw_ids", lambda w: word_ids(byte_level_str(w)), lambda ws: many(ws, True))
    return model.cache("ids", model.word_ids, many)


def _make_entry(ids: tuple[int, ...], tokens: tuple[str, ...], starts: tuple[int, ...], ends: tuple[int, ...]
                ) -> WordEntry:
    if not ids:
        return _EMPTY
    flat = tuple(chain.from_iterable(zip(starts, ends)))
    return ids, tokens, starts, ends, flat, len(flat)


Spans = tuple[tuple[int, ...], tuple[str, ...], tuple[int, ...], tuple[int, ...]]
_NO_SPANS: Spans = ((), (), (), ())


def _spans_builder(model: Model, byte_level: bool) -> Callable[[str], Spans]:
    """word -> its tokens with offsets inside the word (in the raw word's characters with ``byte_level``).

    Models that encode batches of words at once (``Model.batch_encodes``, BPE) take the ids from ``ids_cache``
    (filled for a whole batch by ``WordCache.prefill``): when the tokens spell the word, their spans follow from
    their lengths, without merging again."""
    spans = model.spans
    inv = model.inv_vocab
    ids_of = ids_cache(model, byte_level) if model.batch_encodes else None

    def build(word: str) -> Spans:
        mapped = byte_level_str(word) if byte_level else word
        if ids_of is not None:
            ids = tuple(ids_of[word])
            toks = tuple(map(inv.__getitem__, ids))
            if "".join(toks) == mapped:
                ends = tuple(accumulate(map(len, toks)))
                starts, ends = (0, *ends[:-1]) if ends else (), ends
            else:
                ids, toks, starts, ends = spans(mapped)
        else:
            ids, toks, starts, ends = spans(mapped)
        if byte_level and ids and not word.isascii():  # byte positions -> character positions
            char_of_byte = [i for i, c in enumerate(word) for _ in range(len(c.encode("utf-8")))]
            starts = tuple(char_of_byte[s] for s in starts)
            ends = tuple(char_of_byte[e - 1] + 1 for e in ends)
        return ids, toks, starts, ends

    return build


def entry_cache(model: Model, byte_level: bool, trim: bool = False) -> WordCache:
    """word -> ``WordEntry``; with ``trim`` the offsets already went through the byte-level processor's trimming
    (``processors.trim_token``, without its first-token rule, which depends on the position)."""
    name = ("raw_entry" if byte_level else "entry") + (":trim" if trim else "")
    found = model.caches.get(name)
    if found is not None:
        return found
    build = _spans_builder(model, byte_level)
    many = partial(_entries_many, model, byte_level, trim) if model.batch_encodes else None
    if not trim:
        return model.cache(name, lambda w: _make_entry(*build(w)), many)

    def trimmed(word: str) -> WordEntry:
        ids, toks, starts, ends = build(word)
        if not ids:
            return _EMPTY
        counts = list(map(space_counts, toks))
        if any(map(_TRAIL, counts)):
            new_starts, new_ends = zip(*map(trim_token, toks, starts, ends))
        else:  # only leading spaces: each start moves forward by their count, never past its end
            new_starts, new_ends = tuple(map(min, map(add, starts, map(_LEAD, counts)), ends)), ends
        return _make_entry(ids, toks, new_starts, new_ends)

    return model.cache(name, trimmed, many)


def _entries_many(model: Model, byte_level: bool, trim: bool, words: list[str]) -> list[WordEntry | None] | None:
    """``WordEntry`` of many words of a ``batch_encodes`` model at once, from their ids (``ids_cache``): when the
    tokens spell the words, offsets are cumulative token lengths, computed (and trimmed) on numpy arrays.
    Words whose characters are several bytes (byte-level) get None here and are built one by one on lookup."""
    import numpy as np

    id_lists = list(map(ids_cache(model, byte_level).__getitem__, words))
    ids = list(chain.from_iterable(id_lists))
    toks = list(map(model.inv_vocab.__getitem__, ids))
    joined = "".join(words)
    if "".join(toks) != (byte_level_str(joined) if byte_level else joined):
        return None  # some tokens do not spell their word (unknown characters): word by word
    counts = np.fromiter(map(len, id_lists), dtype=np.int64, count=len(id_lists))
    ends = np.cumsum(np.fromiter(map(len, toks), dtype=np.int64, count=len(toks)))
    first = np.cumsum(counts) - counts  # index of each word's first token
    word_base = np.concatenate(([0], ends))[first]  # where each word starts in the joined mapped text
    mapped_lens = np.concatenate((word_base[1:], ends[-1:])) - word_base if len(words) else word_base
    base = np.repeat(word_base, counts)
    starts = np.concatenate(([0], ends[:-1])) - base
    ends = ends - base
    if trim:
        lead, trail = (np.array(x, dtype=np.int64) for x in zip(*map(space_counts, toks)))
        starts = np.where(lead > 0, np.minimum(starts + lead, ends), starts)
        ends = np.where((trail > 0) & (ends >= trail), np.maximum(ends - trail, starts), ends)
    multibyte = mapped_lens != np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    rel_starts, rel_ends = starts.tolist(), ends.tolist()
    flat = np.stack((starts, ends), axis=1).ravel().tolist()
    out: list[WordEntry | None] = []
    a = 0
    for c, skip in zip(counts.tolist(), multibyte.tolist()):
        b = a + c
        if skip:
            out.append(None)
        elif c:
            out.append((tuple(ids[a:b]), tuple(toks[a:b]), tuple(rel_starts[a:b]), tuple(rel_ends[a:b]),
                        tuple(flat[2 * a : 2 * b]), 2 * c))
        else:
            out.append(_EMPTY)
        a = b
    return out


def assemble(entries: list[WordEntry], word_starts: list[int], first_word: int
             ) -> tuple[list[int], list[str], list[tuple[int, int]], list[int]]:
    """Concatenate cached words: ids, tokens, offsets (word start + offsets in the word) and word ids
    (``first_word``, ``first_word + 1``, ... repeated once per token of each word; a word without tokens keeps
    its number); no per-token Python code.

    Offsets: each word's start is repeated once per flattened offset of the word and added to them, which gives
    start0, end0, start1, ... of the whole text; ``zip(it, it)`` pairs them up."""
    id_lists = list(map(_IDS, entries))
    counts = list(map(len, id_lists))
    bases = chain.from_iterable(map(repeat, word_starts, map(_FLAT_LEN, entries)))
    flat = map(add, bases, chain.from_iterable(map(_FLAT, entries)))
    offsets = list(zip(flat, flat))
    word_ids = list(chain.from_iterable(map(repeat, range(first_word, first_word + len(entries)), counts)))
    return list(chain.from_iterable(id_lists)), list(chain.from_iterable(map(_TOKENS, entries))), offsets, word_ids


def assemble_many(word_lists: list[list[str]], start_lists: list[list[int]], cache: WordCache
                  ) -> tuple[list[int], list[str], list[tuple[int, int]], list[int | None], list[int]]:
    """``assemble`` for many texts at once (word numbers restart at 0 in every text): the texts' ids, tokens,
    offsets and word ids one after another, and where each text's tokens start (plus the total at the end).

    Each distinct word's entry is looked up once; its tokens are laid out once in arrays, and every occurrence
    gathers them with numpy indexing (a ragged gather), so no per-token iterator chain runs in Python."""
    import numpy as np

    words = list(chain.from_iterable(word_lists))
    position = {w: i for i, w in enumerate(dict.fromkeys(words))}
    which = np.fromiter(map(position.__getitem__, words), dtype=np.int64, count=len(words))
    entries = list(map(cache.__getitem__, position))
    sizes = np.fromiter(map(_FLAT_LEN, entries), dtype=np.int64, count=len(entries)) // 2  # tokens per word
    n_tokens = int(sizes.sum())
    all_ids = np.fromiter(chain.from_iterable(map(_IDS, entries)), dtype=np.int64, count=n_tokens)
    all_tokens = np.empty(n_tokens, dtype=object)
    all_tokens[:] = list(chain.from_iterable(map(_TOKENS, entries)))
    all_offsets = np.fromiter(chain.from_iterable(map(_FLAT, entries)), dtype=np.int64, count=2 * n_tokens)
    counts = sizes[which]  # tokens of each occurrence
    first = np.cumsum(counts) - counts
    gather = np.repeat((np.cumsum(sizes) - sizes)[which] - first, counts) + np.arange(int(counts.sum()))
    starts = np.fromiter(chain.from_iterable(start_lists), dtype=np.int64, count=len(words))
    offsets = (all_offsets.reshape(-1, 2)[gather] + np.repeat(starts, counts)[:, None]).ravel().tolist()
    it = iter(offsets)
    n_words = np.fromiter(map(len, word_lists), dtype=np.int64, count=len(word_lists))
    text_first_word = np.repeat(np.cumsum(n_words) - n_words, n_words)
    word_ids = cast("list[int | None]", np.repeat(np.arange(len(words)) - text_first_word, counts).tolist())
    bounds = np.concatenate(([0], np.cumsum(counts)))[np.cumsum(n_words)].tolist()
    return all_ids[gather].tolist(), all_tokens[gather].tolist(), list(zip(it, it)), word_ids, [0, *bounds]


def trim_first_word(offsets: list[tuple[int, int]], tokens: list[str], first: int, seq_start: int,
                    word_start: int, entry: WordEntry) -> None:
    """The byte-level processor's rule for a sequence's first word (per-word trimming cannot know it): tokens at
    sequence index 0 or at offset 0 keep a single leading space. ``entry`` is the word's untrimmed entry, its
    tokens sit at ``first`` in the lists, and the sequence starts at ``seq_start``."""
    if first != seq_start and word_start:
        return
    _ids, _toks, rel_starts, rel_ends, *_flat = entry
    for k, (rel_s, rel_e) in enumerate(zip(rel_starts, rel_ends)):
        s, e = word_start + rel_s, word_start + rel_e
        if first + k == seq_start or s == 0:
            offsets[first + k] = trim_token(tokens[first + k], s, e, True)
