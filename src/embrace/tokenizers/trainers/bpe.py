"""BPE and WordPiece trainers, following the reference ``tokenizers`` BPE trainer step by step.

The algorithm (and its quirks, kept on purpose so that vocab and merges come out identical):

1. special tokens get the first ids, then the alphabet (characters of the words plus ``initial_alphabet``,
   cut to ``limit_alphabet`` by frequency) sorted by code point;
2. every word becomes a list of symbol ids (``continuing_subword_prefix`` on non-first characters,
   ``end_of_word_suffix`` on the last one; those prefixed/suffixed symbols get ids as they are met);
3. pair counts are weighted by word frequency; a max-heap ordered by (count, then smallest pair) holds one
   entry per pair *with the set of words it was seen in*; stale entries are re-pushed with the current count
   (lazy invalidation), and an entry only merges the words in its own set;
4. each merge rewrites only those words and applies the resulting +/- pair-count changes; new pairs are
   pushed with the words where they appeared. A pair merged twice (possible when a merge re-creates an
   existing token) keeps its last rank, as the reference's merge map does.

Pairs are stored as one int ``a << 32 | b`` so that dict lookups hash a small int and heap order on the key
is the lexicographic order of ``(a, b)`` that the reference breaks ties with.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from embrace.tokenizers.trainers._common import (
    Progress,
    TrainerError,
    alphabet_chars,
    check_word_counts,
    special_token_entries,
)

_SHIFT = 32
_LOW = (1 << _SHIFT) - 1


@dataclass
class TrainResult:
    """What a trainer hands back: the tokenizer.json ``model`` section and the special tokens to register."""

    model: dict[str, Any]
    special_tokens: list[dict[str, Any]]


@dataclass
class BpeTrainer:
    """Trains a BPE model; arguments and defaults as the reference's ``tokenizers.trainers.BpeTrainer``.

    ``special_tokens`` are strings or AddedToken-like objects/dicts; ``initial_alphabet`` is a list of strings
    whose first characters are always kept (e.g. the 256 ByteLevel characters).
    """

    vocab_size: int = 30000
    min_frequency: int = 0
    show_progress: bool = True
    special_tokens: list[Any] = field(default_factory=list)
    limit_alphabet: int | None = None
    initial_alphabet: list[str] = field(default_factory=list)
    continuing_subword_prefix: str | None = None
    end_of_word_suffix: str | None = None
    max_token_length: int | None = None

    model_type = "BPE"

    def train_words(self, word_counts: Mapping[str, int], base_model: dict[str, Any] | None = None) -> TrainResult:
        """Learns vocab and merges from ``{word: count}`` (words as the pre-tokenizer produced them).

        ``base_model`` is the tokenizer.json model section being trained; options the trainer does not own
        (``unk_token``, ``dropout``, ``fuse_unk``, ``byte_fallback``, ``ignore_merges``) are kept from it.
        """
        if base_model is not None and base_model.get("type", "BPE") != "BPE":
            raise TrainerError(f"BpeTrainer trains a BPE model, the tokenizer has a {base_model.get('type')} model")
        vocab, merges = self.learn(check_word_counts(word_counts))
        base = base_model or {}
        model = {
            "type": "BPE",
            "dropout": base.get("dropout"),
            "unk_token": base.get("unk_token"),
            "continuing_subword_prefix": self.continuing_subword_prefix,
            "end_of_word_suffix": self.end_of_word_suffix,
            "fuse_unk": bool(base.get("fuse_unk", False)),
            "byte_fallback": bool(base.get("byte_fallback", False)),
            "ignore_merges": bool(base.get("ignore_merges", False)),
            "vocab": vocab,
            "merges": [list(pair) for pair in merges],
        }
        return TrainResult(model, special_token_entries(self.special_tokens))

    # -- the algorithm -------------------------------------------------------------------------------------

    def learn(self, word_counts: dict[str, int]) -> tuple[dict[str, int], list[tuple[str, str]]]:
        """Returns ``(vocab token -> id, merges in rank order)``."""
        if self.vocab_size < 0 or self.min_frequency < 0:
            raise TrainerError("vocab_size and min_frequency must be >= 0")
        w2id: dict[str, int] = {}
        id2w: list[str] = []

        def add(token: str) -> int:
            if token not in w2id:
                w2id[token] = len(id2w)
                id2w.append(token)
            return w2id[token]

        for entry in special_token_entries(self.special_tokens):
            add(entry["content"])
        for char in self._alphabet(word_counts):
            add(char)
        words, counts = self._tokenize_words(word_counts, w2id, add)
        token_len = [len(t) for t in id2w]  # symbol lengths in characters, only consulted with max_token_length
        merges = self._merge_loop(words, counts, w2id, id2w, add, token_len)
        # A pair merged twice keeps its last rank (the reference collects merges into a map).
        last_rank = {pair: rank for rank, (pair, _) in enumerate(merges)}
        ordered = sorted(last_rank.items(), key=lambda item: item[1])
        return dict(w2id), [(id2w[pair >> _SHIFT], id2w[pair & _LOW]) for pair, _ in ordered]

    def _alphabet(self, word_counts: dict[str, int]) -> list[str]:
        counts: dict[str, int] = defaultdict(int)
        for word, n in word_counts.items():
            for ch in word:
                counts[ch] += n
        big = 1 << 64  # the reference marks initial-alphabet characters with usize::MAX
        for ch in alphabet_chars(self.initial_alphabet):
            counts[ch] = big
        kept = list(counts.items())
        if self.limit_alphabet is not None and len(kept) > self.limit_alphabet:
            # The reference sorts with an unstable sort; ties at the cut are broken here by code point.
            kept.sort(key=lambda item: (item[1], item[0]))
            kept = kept[len(kept) - self.limit_alphabet :]
        return sorted(ch for ch, _ in kept)

    def _tokenize_words(self, word_counts: dict[str, int], w2id: dict[str, int], add: Any) -> tuple[list[list[int]], list[int]]:
        prefix, suffix = self.continuing_subword_prefix, self.end_of_word_suffix
        words: list[list[int]] = []
        counts: list[int] = []
        if prefix is None and suffix is None:
            for word, n in word_counts.items():
                words.append([w2id[ch] for ch in word if ch in w2id])
                counts.append(n)
            return words, counts
        for word, n in word_counts.items():
            symbols: list[int] = []
            last = len(word) - 1
            for i, ch in enumerate(word):
                if ch not in w2id:
                    continue
                s = ch
                if i > 0 and prefix is not None:
                    s = prefix + s
                if i == last and suffix is not None:
                    s = s + suffix
                symbols.append(add(s))
            words.append(symbols)
            counts.append(n)
        return words, counts

    def _merge_loop(
        self,
        words: list[list[int]],
        counts: list[int],
        w2id: dict[str, int],
        id2w: list[str],
        add: Any,
        token_len: list[int],
    ) -> list[tuple[int, int]]:
        pair_counts: defaultdict[int, int] = defaultdict(int)
        where: defaultdict[int, set[int]] = defaultdict(set)
        for i, word in enumerate(words):
            n = counts[i]
            for a, b in zip(word, word[1:]):
                key = a << _SHIFT | b
                pair_counts[key] += n
                where[key].add(i)
        seq = itertools.count()
        heap = [(-pair_counts[key], key, next(seq), pos) for key, pos in where.items() if pair_counts[key] > 0]
        heapq.heapify(heap)
        where.clear()

        max_len = self.max_token_length
        prefix = self.continuing_subword_prefix
        vocab_size, min_frequency = self.vocab_size, self.min_frequency
        merges: list[tuple[int, int]] = []
        progress = Progress(self.show_progress, max(vocab_size - len(w2id), 0), "Compute merges")
        heappush, heappop = heapq.heappush, heapq.heappop
        try:
            while len(w2id) < vocab_size and heap:
                neg, key, _, pos = heappop(heap)
                current = pair_counts[key]
                if -neg != current:
                    heappush(heap, (-current, key, next(seq), pos))
                    continue
                if current < 1 or min_frequency > current:
                    break
                a, b = key >> _SHIFT, key & _LOW
                part_b = id2w[b]
                if prefix is not None and part_b.startswith(prefix):
                    part_b = part_b[len(prefix) :]
                new = add(id2w[a] + part_b)
                if new == len(token_len):
                    token_len.append(token_len[a] + token_len[b])
                merges.append((key, new))
                if max_len is None:
                    self._apply_merge(words, counts, pos, a, b, new, pair_counts, where)
                else:
                    self._apply_merge_limited(words, counts, pos, a, b, new, pair_counts, where, token_len, max_len)
                for k, ws in where.items():
                    c = pair_counts[k]
                    if c > 0:
                        heappush(heap, (-c, k, next(seq), ws))
                where.clear()
                progress.update()
        finally:
            progress.close()
        return merges

    @staticmethod
    def _apply_merge(
        words: list[list[int]],
        counts: list[int],
        pos: Iterable[int],
        a: int,
        b: int,
        new: int,
        pair_counts: defaultdict[int, int],
        where: defaultdict[int, set[int]],
    ) -> None:
        """Merges ``(a, b)`` left to right in the words of ``pos`` and records the pair-count changes."""
        new_hi = new << _SHIFT
        for i in pos:
            w = words[i]
            if b not in w:
                continue
            n = counts[i]
            j = 0
            while True:
                try:
                    j = w.index(a, j)
                except ValueError:
                    break
                if j + 1 >= len(w):
                    break
                if w[j + 1] != b:
                    j += 1
                    continue
                if j:
                    prev = w[j - 1] << _SHIFT
                    pair_counts[prev | a] -= n
                    k = prev | new
                    pair_counts[k] += n
                    where[k].add(i)
                del w[j + 1]
                w[j] = new
                if j + 1 < len(w):
                    nxt = w[j + 1]
                    pair_counts[b << _SHIFT | nxt] -= n
                    k = new_hi | nxt
                    pair_counts[k] += n
                    where[k].add(i)
                j += 1

    @staticmethod
    def _apply_merge_limited(
        words: list[list[int]],
        counts: list[int],
        pos: Iterable[int],
        a: int,
        b: int,
        new: int,
        pair_counts: defaultdict[int, int],
        where: defaultdict[int, set[int]],
        token_len: list[int],
        max_len: int,
    ) -> None:
        """``_apply_merge`` with the reference's ``max_token_length`` rule: a new pair is only counted when its
        two symbols together cover fewer than ``max_len`` characters."""
        new_len = token_len[new]
        for i in pos:
            w = words[i]
            n = counts[i]
            j = 0
            while j + 1 < len(w):
                if w[j] != a or w[j + 1] != b:
                    j += 1
                    continue
                if j:
                    prev = w[j - 1]
                    pair_counts[prev << _SHIFT | a] -= n
                    if token_len[prev] + new_len < max_len:
                        k = prev << _SHIFT | new
                        pair_counts[k] += n
                        where[k].add(i)
                del w[j + 1]
                w[j] = new
                if j + 1 < len(w):
                    nxt = w[j + 1]
                    pair_counts[b << _SHIFT | nxt] -= n
                    if token_len[nxt] + new_len < max_len:
                        k = new << _SHIFT | nxt
                        pair_counts[k] += n
                        where[k].add(i)
                j += 1


@dataclass
class WordPieceTrainer(BpeTrainer):
    """Trains a WordPiece vocabulary the way the reference does: a BPE trainer with ``##`` continuation prefix
    whose vocabulary becomes the WordPiece vocab (merges are dropped)."""

    continuing_subword_prefix: str | None = "##"

    model_type = "WordPiece"

    def train_words(self, word_counts: Mapping[str, int], base_model: dict[str, Any] | None = None) -> TrainResult:
        if base_model is not None and base_model.get("type", "WordPiece") != "WordPiece":
            raise TrainerError(
                f"WordPieceTrainer trains a WordPiece model, the tokenizer has a {base_model.get('type')} model"
            )
        vocab, _ = self.learn(check_word_counts(word_counts))
        base = base_model or {}
        model = {
            "type": "WordPiece",
            "unk_token": base.get("unk_token", "[UNK]"),
            "continuing_subword_prefix": self.continuing_subword_prefix
            if self.continuing_subword_prefix is not None
            else base.get("continuing_subword_prefix", "##"),
            "max_input_chars_per_word": base.get("max_input_chars_per_word", 100),
            "vocab": vocab,
        }
        return TrainResult(model, special_token_entries(self.special_tokens))
