"""Tokenization models (tokenizer.json ``model``): BPE, WordPiece, Unigram, WordLevel.

Each model turns one pre-tokenized word into tokens. ``tokenize_ids(word)`` is the cached ids-only path;
``tokenize(word)`` returns ``(id, token, start, end)`` with character offsets inside the word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Any, ClassVar

from embrace.tokenizers.errors import InvalidTokenizerFileError, TokenIdError, require, unknown_type

Token = tuple[int, str, int, int]
_NO_MERGE = 1 << 62  # packed rank of a pair that has no merge: larger than every real (rank << 32 | id)
_PAIR_SHIFT = 32  # a pair (a, b) of ids is the int key a << 32 | b
_ID_MASK = (1 << _PAIR_SHIFT) - 1
CACHE_LIMIT = 200_000
BATCH_MIN = 64  # fewer new words than this are filled one by one


class WordCache(dict):
    """word -> result, computed by ``fill`` on a miss and kept while the cache holds fewer than ``CACHE_LIMIT``.

    Because misses go through ``__missing__``, ``map(cache.__getitem__, words)`` runs the whole lookup loop in C.
    ``fill_many`` (optional) computes many words at once, or returns None when it cannot (``prefill``).
    """

    __slots__ = ("fill", "fill_many")

    def __init__(self, fill: Callable[[str], Any],
                 fill_many: Callable[[list[str]], list[Any] | None] | None = None) -> None:
        super().__init__()
        self.fill = fill
        self.fill_many = fill_many

    def __missing__(self, key: str) -> Any:
        value = self.fill(key)
        if len(self) < CACHE_LIMIT:
            self[key] = value
        return value

    def prefill(self, words: Iterable[str]) -> None:
        """Cache the words of ``words`` not cached yet with one ``fill_many`` call (when there are enough of them
        to pay off and the cache has room); the others are left to ``__missing__``."""
        if self.fill_many is None:
            return
        missing = (words if isinstance(words, (set, frozenset)) else set(words)).difference(self)
        room = CACHE_LIMIT - len(self)
        if len(missing) < BATCH_MIN or room < BATCH_MIN:
            return
        new = list(missing)[:room]
        values = self.fill_many(new)
        if values is not None:  # a None value: that word is left to __missing__
            self.update({k: v for k, v in zip(new, values) if v is not None})


class Model:
    type_name: ClassVar[str] = ""

    def __init__(self, vocab: dict[str, int]) -> None:
        self.vocab = vocab
        self.inv_vocab = {i: t for t, i in vocab.items()}
        self.caches: dict[str, WordCache] = {}

    def __getstate__(self) -> dict[str, Any]:  # caches hold closures and can be large: never pickled
        state = dict(self.__dict__)
        state["caches"] = {}
        state.pop("_merge_table", None)
        return state

    def cache(self, name: str, fill: Callable[[str], Any],
              fill_many: Callable[[list[str]], list[Any] | None] | None = None) -> WordCache:
        """The per-word cache ``name`` of this model (created with ``fill`` and ``fill_many`` on first use)."""
        found = self.caches.get(name)
        if found is None:
            found = self.caches[name] = WordCache(fill, fill_many)
        return found

    @property
    def batch_encodes(self) -> bool:
        """Whether ``word_ids_many`` has a batch algorithm for this model (then the offsets path uses ids too)."""
        return False

    def word_ids_many(self, words: list[str], raw_bytes: bool = False) -> list[list[int]] | None:
        """``word_ids`` of many words at once where the model has a faster batch algorithm, else None. With
        ``raw_bytes`` the words are raw text that the model sees byte-level mapped (``byte_level_str``)."""
        return None

    def _tokenize(self, word: str) -> list[Token]:
        raise NotImplementedError

    def word_ids(self, word: str) -> list[int]:
        """Ids of one word, uncached (models override this with a faster ids-only algorithm)."""
        return [t[0] for t in self._tokenize(word)]

    def spans(self, word: str) -> tuple[tuple[Any, ...], ...]:
        """Uncached (ids, tokens, starts, ends) of one word (BPE builds these without per-token tuples)."""
        tokens = self._tokenize(word)
        return tuple(zip(*tokens)) if tokens else ((), (), (), ())

    def tokenize(self, word: str) -> list[Token]:
        return self.cache("tokens", self._tokenize)[word]

    def tokenize_ids(self, word: str) -> list[int]:
        return self.cache("ids", self.word_ids)[word]

    def clear_cache(self) -> None:
        self.caches.clear()

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def id_to_token(self, id_: int) -> str | None:
        return self.inv_vocab.get(id_)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def get_vocab_size(self) -> int:
        return len(self.vocab)

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def _sorted_vocab(self) -> dict[str, int]:
        return dict(sorted(self.vocab.items(), key=lambda kv: kv[1]))

    def _require_token(self, token: str | None, what: str) -> int | None:
        if token is None:
            return None
        if token not in self.vocab:
            raise InvalidTokenizerFileError(f"{self.type_name}: {what} {token!r} is not in the vocabulary")
        return self.vocab[token]


class WordPiece(Model):
    """Greedy longest-match-first; continuation pieces carry ``continuing_subword_prefix`` (##)."""

    type_name = "WordPiece"

    def __init__(
        self,
        vocab: dict[str, int],
        unk_token: str = "[UNK]",
        continuing_subword_prefix: str = "##",
        max_input_chars_per_word: int = 100,
    ) -> None:
        super().__init__(vocab)
        self.unk_token = unk_token
        self.prefix = continuing_subword_prefix
        self.max_input_chars_per_word = max_input_chars_per_word
        self.max_len = max((len(t) for t in vocab), default=1)

    def _unk(self, n: int) -> list[Token]:
        unk_id = self.vocab.get(self.unk_token)
        if unk_id is None:
            raise InvalidTokenizerFileError(f"WordPiece: unk_token {self.unk_token!r} is missing from the vocabulary")
        return [(unk_id, self.unk_token, 0, n)]

    def _tokenize(self, word: str) -> list[Token]:
        n = len(word)
        if n > self.max_input_chars_per_word:
            return self._unk(n)
        vocab, prefix, max_len = self.vocab, self.prefix, self.max_len
        out: list[Token] = []
        start = 0
        while start < n:
            end = min(n, start + max_len)
            found: Token | None = None
            while start < end:
                sub = word[start:end] if start == 0 else prefix + word[start:end]
                id_ = vocab.get(sub)
                if id_ is not None:
                    found = (id_, sub, start, end)
                    break
                end -= 1
            if found is None:
                return self._unk(n)
            out.append(found)
            start = end
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "WordPiece",
            "unk_token": self.unk_token,
            "continuing_subword_prefix": self.prefix,
            "max_input_chars_per_word": self.max_input_chars_per_word,
            "vocab": self._sorted_vocab(),
        }


class WordLevel(Model):
    type_name = "WordLevel"

    def __init__(self, vocab: dict[str, int], unk_token: str | None = None) -> None:
        super().__init__(vocab)
        self.unk_token = unk_token

    def _tokenize(self, word: str) -> list[Token]:
        id_ = self.vocab.get(word)
        if id_ is not None:
            return [(id_, word, 0, len(word))]
        unk = self.vocab.get(self.unk_token) if self.unk_token is not None else None
        if unk is None:
            raise InvalidTokenizerFileError(f"WordLevel: {word!r} is not in the vocabulary and no usable unk_token is set")
        return [(unk, self.unk_token or "", 0, len(word))]

    def to_json(self) -> dict[str, Any]:
        return {"type": "WordLevel", "vocab": self._sorted_vocab(), "unk_token": self.unk_token}


class BPE(Model):
    """Byte-pair encoding: split the word into characters (or byte tokens), apply merges by rank."""

    type_name = "BPE"

    def __init__(
        self,
        vocab: dict[str, int],
        merges: list[tuple[str, str]],
        unk_token: str | None = None,
        continuing_subword_prefix: str | None = None,
        end_of_word_suffix: str | None = None,
        fuse_unk: bool = False,
        byte_fallback: bool = False,
        ignore_merges: bool = False,
        dropout: float | None = None,
    ) -> None:
        super().__init__(vocab)
        if dropout not in (None, 0.0):
            raise InvalidTokenizerFileError("BPE: dropout is not supported (it makes encoding random); set it to null")
        self.merges = merges
        self.unk_token = unk_token
        self.prefix = continuing_subword_prefix
        self.suffix = end_of_word_suffix
        self.fuse_unk = fuse_unk
        self.byte_fallback = byte_fallback
        self.ignore_merges = ignore_merges
        self.dropout = dropout
        prefix_len = len(continuing_subword_prefix or "")
        # (a << 32 | b) -> (rank << 32 | merged id): int keys hash fast, and min() over packed ints is the
        # lowest rank with the leftmost pair winning ties, so the merge loop compares plain ints
        self.ranks: dict[int, int] = {}
        for rank, (a, b) in enumerate(merges):
            new = a + (b[prefix_len:] if prefix_len and b.startswith(continuing_subword_prefix or "") else b)
            ia, ib, inew = vocab.get(a), vocab.get(b), vocab.get(new)
            if ia is None or ib is None or inew is None:
                missing = a if ia is None else b if ib is None else new
                raise InvalidTokenizerFileError(f"BPE: merge {a!r} {b!r} uses {missing!r}, which is not in the vocabulary")
            self.ranks.setdefault(ia << _PAIR_SHIFT | ib, rank << _PAIR_SHIFT | inew)
        # an empty vocabulary is an untrained model (``BPE(unk_token="[UNK]")`` before ``train_from_iterator``)
        self.unk_id = self._require_token(unk_token, "unk_token") if vocab else None
        self._byte_ids = [vocab.get(f"<0x{b:02X}>") for b in range(256)] if byte_fallback else []

    def _initial(self, word: str) -> tuple[list[int], list[tuple[int, int]]]:
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        vocab, n = self.vocab, len(word)
        unk: list[int] | None = None  # [start, end] of a pending (possibly fused) unknown
        for i, c in enumerate(word):
            s = c
            if i > 0 and self.prefix:
                s = self.prefix + s
            if i == n - 1 and self.suffix:
                s = s + self.suffix
            id_ = vocab.get(s)
            if id_ is not None:
                if unk is not None:
                    ids.append(self.unk_id)  # type: ignore[arg-type]
                    spans.append((unk[0], unk[1]))
                    unk = None
                ids.append(id_)
                spans.append((i, i + 1))
                continue
            if self.byte_fallback:
                byte_ids = [self._byte_ids[b] for b in s.encode("utf-8")]
                if all(b is not None for b in byte_ids):
                    ids.extend(byte_ids)  # type: ignore[arg-type]
                    spans.extend([(i, i + 1)] * len(byte_ids))
                    continue
            if self.unk_id is not None:
                if unk is not None and self.fuse_unk:
                    unk[1] = i + 1
                else:
                    if unk is not None:
                        ids.append(self.unk_id)
                        spans.append((unk[0], unk[1]))
                    unk = [i, i + 1]
        if unk is not None:
            ids.append(self.unk_id)  # type: ignore[arg-type]
            spans.append((unk[0], unk[1]))
        return ids, spans

    def _merge(self, ids: list[int], spans: list[tuple[int, int]] | None) -> None:
        """Apply the lowest-ranked merge, leftmost first, until none applies (the reference's order).

        ``packed[i]`` is the packed (rank, merged id) of the pair at ``i``; ``min``/``index`` keep the scan in C.
        """
        n = len(ids)
        if n < 2:
            return
        get, none, shift = self.ranks.get, _NO_MERGE, _PAIR_SHIFT
        packed = [get(a << shift | b, none) for a, b in zip(ids, ids[1:])]
        while True:
            best = min(packed)
            if best == none:
                return
            i = packed.index(best)
            new = best & _ID_MASK
            ids[i : i + 2] = (new,)
            if spans is not None:
                spans[i : i + 2] = ((spans[i][0], spans[i + 1][1]),)
            del packed[i]
            n -= 1
            if n == 1:
                return
            if i > 0:
                packed[i - 1] = get(ids[i - 1] << shift | new, none)
            if i < n - 1:
                packed[i] = get(new << shift | ids[i + 1], none)

    def word_ids(self, word: str) -> list[int]:
        if self.ignore_merges:
            whole = self.vocab.get(word)
            if whole is not None:
                return [whole]
        ids: list[int] | None = None
        if not self.prefix and not self.suffix:  # the common byte-level case: every char is a token
            try:
                ids = [self.vocab[c] for c in word]
            except KeyError:
                ids = None
        if ids is None:
            ids = self._initial(word)[0]
        self._merge(ids, None)
        return ids

    @property
    def batch_encodes(self) -> bool:
        return not (self.prefix or self.suffix or self.ignore_merges) and bool(self.ranks)

    def word_ids_many(self, words: list[str], raw_bytes: bool = False) -> list[list[int]] | None:
        """Merges of all ``words`` together on numpy arrays (``bpe_batch``), for models where every word starts as
        one token per character (or per UTF-8 byte with ``raw_bytes``); None for the others (prefixes, suffixes,
        ``ignore_merges``). Words with a character outside the vocabulary go through ``word_ids`` one by one."""
        if not self.batch_encodes:
            return None
        from embrace.tokenizers import bpe_batch

        tables = self.__dict__.get("_merge_table")
        if tables is None:
            tables = self._merge_table = bpe_batch.MergeTable(self.ranks, self.vocab)
        return bpe_batch.word_ids_many(tables, words, raw_bytes, self.word_ids, lambda ids: self._merge(ids, None))

    def spans(self, word: str) -> tuple[tuple[Any, ...], ...]:
        if self.ignore_merges and word in self.vocab:
            return (self.vocab[word],), (word,), (0,), (len(word),)
        if not self.prefix and not self.suffix:
            try:
                ids = [self.vocab[c] for c in word]
            except KeyError:
                pass
            else:  # one char per initial token: merged tokens spell the word, so spans follow from lengths
                self._merge(ids, None)
                tokens = tuple(map(self.inv_vocab.__getitem__, ids))
                ends = tuple(accumulate(map(len, tokens)))
                return tuple(ids), tokens, (0, *ends[:-1]), ends
        return super().spans(word)

    def _tokenize(self, word: str) -> list[Token]:
        if self.ignore_merges:
            id_ = self.vocab.get(word)
            if id_ is not None:
                return [(id_, word, 0, len(word))]
        if not self.prefix and not self.suffix and all(c in self.vocab for c in word):
            return list(zip(*self.spans(word)))
        ids, spans = self._initial(word)
        self._merge(ids, spans)
        inv = self.inv_vocab
        return [(i, inv[i], s, e) for i, (s, e) in zip(ids, spans)]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "BPE",
            "dropout": self.dropout,
            "unk_token": self.unk_token,
            "continuing_subword_prefix": self.prefix,
            "end_of_word_suffix": self.suffix,
            "fuse_unk": self.fuse_unk,
            "byte_fallback": self.byte_fallback,
            "ignore_merges": self.ignore_merges,
            "vocab": self._sorted_vocab(),
            "merges": [[a, b] for a, b in self.merges],
        }


class Unigram(Model):
    """SentencePiece unigram: the Viterbi best segmentation by piece log-probabilities."""

    type_name = "Unigram"
    UNK_PENALTY = 10.0

    def __init__(self, vocab: list[tuple[str, float]], unk_id: int | None = None, byte_fallback: bool = False) -> None:
        super().__init__({piece: i for i, (piece, _score) in enumerate(vocab)})
        self.pieces = vocab
        self.scores = {piece: (i, score) for i, (piece, score) in enumerate(vocab)}
        if unk_id is not None and not 0 <= unk_id < len(vocab):
            raise InvalidTokenizerFileError(f"Unigram: unk_id {unk_id} is outside the vocabulary of {len(vocab)}")
        self.unk_id = unk_id
        self.byte_fallback = byte_fallback
        self.min_score = min((s for _p, s in vocab), default=0.0)
        self.max_len = max((len(p) for p, _s in vocab), default=1)
        self.inv_vocab = {i: p for i, (p, _s) in enumerate(vocab)}
        self._byte_ids = [self.vocab.get(f"<0x{b:02X}>") for b in range(256)] if byte_fallback else []

    def _viterbi(self, word: str) -> list[tuple[int | None, int, int]]:
        """Best path as (piece id or None for a fused unknown run, start, end)."""
        n = len(word)
        unk_score = self.min_score - self.UNK_PENALTY
        best_score = [0.0] * (n + 1)
        best_start = [-1] * (n + 1)
        best_id: list[int | None] = [None] * (n + 1)
        scores, max_len = self.scores, self.max_len
        for start in range(n):
            base = best_score[start]
            has_single = False
            for end in range(start + 1, min(n, start + max_len) + 1):
                hit = scores.get(word[start:end])
                if hit is None:
                    continue
                cand = base + hit[1]
                if best_start[end] < 0 or cand > best_score[end]:
                    best_score[end], best_start[end], best_id[end] = cand, start, hit[0]
                if end == start + 1:
                    has_single = True
            if not has_single:
                end = start + 1
                cand = base + unk_score
                if best_start[end] < 0 or cand > best_score[end]:
                    best_score[end], best_start[end], best_id[end] = cand, start, self.unk_id
        path: list[tuple[int | None, int, int]] = []
        end = n
        while end > 0:
            start = best_start[end]
            id_ = best_id[end]
            if id_ is None or id_ == self.unk_id:
                if path and path[-1][0] is None:
                    path[-1] = (None, start, path[-1][2])
                else:
                    path.append((None, start, end))
            else:
                path.append((id_, start, end))
            end = start
        path.reverse()
        return path

    def _tokenize(self, word: str) -> list[Token]:
        out: list[Token] = []
        for id_, s, e in self._viterbi(word):
            if id_ is not None:
                out.append((id_, self.pieces[id_][0], s, e))
                continue
            piece = word[s:e]
            known = self.vocab.get(piece)  # a fused unknown run may spell a real piece
            if known is not None:
                out.append((known, piece, s, e))
                continue
            if self.byte_fallback:
                byte_ids = [self._byte_ids[b] for b in piece.encode("utf-8")]
                if all(b is not None for b in byte_ids):
                    for b, bid in zip(piece.encode("utf-8"), byte_ids):
                        out.append((bid, f"<0x{b:02X}>", s, e))  # type: ignore[arg-type]
                    continue
            if self.unk_id is None:
                raise InvalidTokenizerFileError(f"Unigram: cannot encode {piece!r}: no unk_id in the model")
            out.append((self.unk_id, piece, s, e))  # the reference keeps the raw text as the token
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "Unigram",
            "unk_id": self.unk_id,
            "vocab": [[p, s] for p, s in self.pieces],
            "byte_fallback": self.byte_fallback,
        }


def _merges_from_json(raw: Any) -> list[tuple[str, str]]:
    merges: list[tuple[str, str]] = []
    for m in raw:
        if isinstance(m, str):
            parts = m.split(" ")
            if len(parts) != 2:
                raise InvalidTokenizerFileError(f"BPE: merge {m!r} is not two space-separated tokens")
            merges.append((parts[0], parts[1]))
        elif isinstance(m, list) and len(m) == 2:
            merges.append((str(m[0]), str(m[1])))
        else:
            raise InvalidTokenizerFileError(f"BPE: merge {m!r} must be 'a b' or ['a', 'b']")
    return merges


def _vocab(d: dict[str, Any], where: str) -> dict[str, int]:
    vocab = require(d, "vocab", where)
    if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
        raise InvalidTokenizerFileError(f"{where}: vocab must map token strings to integer ids")
    return vocab


def from_json(d: dict[str, Any]) -> Model:
    kind = d.get("type") if isinstance(d, dict) else None
    if kind is None and isinstance(d, dict):  # very old files omit the type: guess from the fields
        kind = "BPE" if "merges" in d else "Unigram" if isinstance(d.get("vocab"), list) else "WordPiece"
    if kind == "WordPiece":
        return WordPiece(
            _vocab(d, "WordPiece"),
            d.get("unk_token", "[UNK]"),
            d.get("continuing_subword_prefix", "##"),
            d.get("max_input_chars_per_word", 100),
        )
    if kind == "BPE":
        return BPE(
            _vocab(d, "BPE"),
            _merges_from_json(require(d, "merges", "BPE")),
            d.get("unk_token"),
            d.get("continuing_subword_prefix"),
            d.get("end_of_word_suffix"),
            d.get("fuse_unk", False),
            d.get("byte_fallback", False),
            d.get("ignore_merges", False),
            d.get("dropout"),
        )
    if kind == "Unigram":
        vocab = require(d, "vocab", "Unigram")
        try:
            pieces = [(str(p), float(s)) for p, s in vocab]  # type: ignore[attr-defined]
        except (TypeError, ValueError) as exc:
            raise InvalidTokenizerFileError("Unigram: vocab must be a list of [piece, score] pairs") from exc
        return Unigram(pieces, d.get("unk_id"), d.get("byte_fallback", False))
    if kind == "WordLevel":
        return WordLevel(_vocab(d, "WordLevel"), d.get("unk_token"))
    raise unknown_type("model", kind, ["BPE", "WordPiece", "Unigram", "WordLevel"])


def id_to_token_or_raise(model: Model, id_: int) -> str:
    token = model.id_to_token(id_)
    if token is None:
        raise TokenIdError(f"token id {id_} is outside the vocabulary (size {model.get_vocab_size()})")
    return token
