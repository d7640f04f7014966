"""Per-word caches of the encode paths, and the C-level assembly of a sequence from cached words.

A word (pre-token) always encodes the same way, so ``Tokenizer`` caches, per model, what one word turns into:
ids only (``ids_cache``) or a ``WordEntry`` with tokens and character offsets inside the word (``entry_cache``).
With a byte-level pre-tokenizer the cache key is the raw word and the byte mapping happens on a miss only.
A sequence is then put together with ``map``/``chain``/``zip`` over the cached entries, so the per-token work
runs in C, not in Python bytecode.
"""

from __future__ import annotations

from itertools import chain, repeat
from operator import add, itemgetter
from typing import Any

from embrace.tokenizers.models import Model, WordCache
from embrace.tokenizers.pre_tokenizers import byte_level_str
from embrace.tokenizers.processors import space_counts, trim_token

# (ids, tokens, starts, ends, flat offsets, 2 * number of tokens): one word's tokens with character offsets
# relative to the word, also flattened as start0, end0, start1, end1, ... (see ``assemble``)
WordEntry = tuple[Any, ...]
_EMPTY: WordEntry = ((), (), (), (), (), 0)
_IDS, _TOKENS, _FLAT, _FLAT_LEN = itemgetter(0), itemgetter(1), itemgetter(4), itemgetter(5)
_LEAD, _TRAIL = itemgetter(0), itemgetter(1)


def ids_cache(model: Model, byte_level: bool) -> WordCache:
    """word -> ids; with ``byte_level`` the key is the raw word, byte-mapped on a miss."""
    if byte_level:
        word_ids = model.word_ids
        return model.cache("raw_ids", lambda w: word_ids(byte_level_str(w)))
    return model.cache("ids", model.word_ids)


def _make_entry(ids: tuple[int, ...], tokens: tuple[str, ...], starts: tuple[int, ...], ends: tuple[int, ...]
                ) -> WordEntry:
    if not ids:
        return _EMPTY
    flat = tuple(chain.from_iterable(zip(starts, ends)))
    return ids, tokens, starts, ends, flat, len(flat)


Spans = tuple[tuple[int, ...], tuple[str, ...], tuple[int, ...], tuple[int, ...]]
_NO_SPANS: Spans = ((), (), (), ())


def _spans(model: Model, word: str) -> Spans:
    return model.spans(word)  # type: ignore[return-value]


def _raw_spans(model: Model, raw: str) -> Spans:
    """Tokens of a raw word seen byte-mapped, with offsets back in the raw word's characters."""
    ids, toks, starts, ends = model.spans(byte_level_str(raw))
    if ids and not raw.isascii():  # byte positions -> character positions
        char_of_byte = [i for i, c in enumerate(raw) for _ in range(len(c.encode("utf-8")))]
        starts = tuple(char_of_byte[s] for s in starts)
        ends = tuple(char_of_byte[e - 1] + 1 for e in ends)
    return ids, toks, starts, ends


def entry_cache(model: Model, byte_level: bool, trim: bool = False) -> WordCache:
    """word -> ``WordEntry``; with ``trim`` the offsets already went through the byte-level processor's trimming
    (``processors.trim_token``, without its first-token rule, which depends on the position)."""
    build = _raw_spans if byte_level else _spans
    if not trim:
        return model.cache("raw_entry" if byte_level else "entry", lambda w: _make_entry(*build(model, w)))

    def trimmed(word: str) -> WordEntry:
        ids, toks, starts, ends = build(model, word)
        if not ids:
            return _EMPTY
        counts = list(map(space_counts, toks))
        if any(map(_TRAIL, counts)):
            new_starts, new_ends = zip(*map(trim_token, toks, starts, ends))
        else:  # only leading spaces: each start moves forward by their count, never past its end
            new_starts, new_ends = tuple(map(min, map(add, starts, map(_LEAD, counts)), ends)), ends
        return _make_entry(ids, toks, new_starts, new_ends)

    return model.cache("raw_entry:trim" if byte_level else "entry:trim", trimmed)


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
