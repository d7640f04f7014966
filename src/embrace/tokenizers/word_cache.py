"""Per-word caches of the encode paths, and the C-level assembly of a sequence from cached words.

A word (pre-token) always encodes the same way, so ``Tokenizer`` caches, per model, what one word turns into:
ids only (``ids_cache``) or a ``WordEntry`` with tokens and character offsets inside the word (``entry_cache``).
With a byte-level pre-tokenizer the cache key is the raw word and the byte mapping happens on a miss only.
A sequence is then put together with ``map``/``chain``/``zip`` over the cached entries, so the per-token work
runs in C, not in Python bytecode.
"""

from __future__ import annotations

from itertools import accumulate, chain, repeat
from operator import add, itemgetter, sub
from typing import Any

from embrace.tokenizers.models import Model, WordCache
from embrace.tokenizers.pre_tokenizers import byte_level_str
from embrace.tokenizers.processors import space_counts, trim_token

# (ids, tokens, starts, ends, first start, deltas, last end): one word's tokens with character offsets relative
# to the word, plus the same offsets as a stream of differences (see ``assemble``)
WordEntry = tuple[Any, ...]
_EMPTY: WordEntry = ((), (), (), (), 0, (), 0)
_IDS, _TOKENS, _STARTS, _ENDS, _FIRST, _DELTAS, _LAST = (itemgetter(i) for i in range(7))
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
    flat = list(chain.from_iterable(zip(starts, ends)))  # s0, e0, s1, e1, ...
    return ids, tokens, starts, ends, flat[0], tuple(map(sub, flat[1:], flat)), flat[-1]


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
    (``first_word``, ``first_word + 1``, ... repeated once per token of each word); no per-token Python code.

    Offsets: the flat sequence start0, end0, start1, end1, ... of the whole text is a running sum of differences.
    Each entry caches the differences inside its word; the one difference per word that depends on where the
    word sits (its first start minus the previous word's last end) is computed per word. ``accumulate`` then
    yields the flat sequence and ``zip(it, it)`` pairs it up."""
    if _EMPTY in entries:  # words without tokens contribute nothing
        kept = [(e, s) for e, s in zip(entries, word_starts) if e is not _EMPTY]
        entries, word_starts = [e for e, _ in kept], [s for _, s in kept]
    id_lists = list(map(_IDS, entries))
    counts = list(map(len, id_lists))
    firsts = map(add, word_starts, map(_FIRST, entries))
    previous_ends = chain((0,), map(add, word_starts, map(_LAST, entries)))
    heads = zip(map(sub, firsts, previous_ends))  # 1-tuples, so that chain(head, deltas) works per word
    flat = accumulate(chain.from_iterable(map(chain, heads, map(_DELTAS, entries))))
    offsets = list(zip(flat, flat))
    word_ids = list(chain.from_iterable(map(repeat, range(first_word, first_word + len(entries)), counts)))
    return list(chain.from_iterable(id_lists)), list(chain.from_iterable(map(_TOKENS, entries))), offsets, word_ids
