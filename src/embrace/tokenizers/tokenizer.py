"""The tokenizer pipeline: added tokens -> normalizer -> pre-tokenizer -> model -> post-processor (-> decoder).

``Tokenizer`` reads and writes ``tokenizer.json`` (the reference library's schema) and mirrors its Python API:
``encode``, ``encode_batch``, ``decode``, truncation and padding settings, added tokens. ``encode_batch_ids`` is
the fast ids-only path (no offsets are tracked, per-word results are cached).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from operator import add
from pathlib import Path
from typing import Any

from embrace.tokenizers import decoders, models, normalizers, pre_tokenizers, processors
from embrace.tokenizers.added_tokens import AddedToken, AddedVocabulary
from embrace.tokenizers.added_tokens import from_json as added_from_json
from embrace.tokenizers.encoding import Encoding, truncate_encodings
from embrace.tokenizers.errors import (
    InvalidTokenizerFileError,
    TokenIdError,
    TokenizerError,
    TokenizerInputError,
    require,
)
from embrace.tokenizers.normalizers import NormalizedString
from embrace.tokenizers.word_cache import (
    assemble,
    assemble_many,
    entry_cache,
    ids_cache,
    paused_gc,
    trim_first_word,
)
from embrace.tokenizers.word_cache import chunks as _chunks

InputSequence = str | Sequence[str]
EncodeInput = InputSequence | tuple[InputSequence, InputSequence] | list[InputSequence]
_STRATEGY_TO_JSON = {"longest_first": "LongestFirst", "only_first": "OnlyFirst", "only_second": "OnlySecond"}
_STRATEGY_FROM_JSON = {v: k for k, v in _STRATEGY_TO_JSON.items()}
_ADDED, _WORDS, _MAPPED = 0, 1, 2  # kinds of the parts of ``Tokenizer._id_parts``
Piece = tuple[NormalizedString, "int | None", "tuple[list[str], list[int]] | None"]  # see ``Tokenizer._cut``
Frame = tuple[Encoding, int, Encoding, bool]  # see ``Tokenizer._frame``


def _check_text(text: Any, what: str = "text") -> str:
    if not isinstance(text, str):
        raise TokenizerInputError(f"{what} must be a str, got {type(text).__name__}: {text!r:.80}")
    return text


class Tokenizer:
    """A full tokenization pipeline, loadable from and savable to ``tokenizer.json``."""

    def __init__(self, model: models.Model) -> None:
        self.model = model
        self.normalizer: normalizers.Normalizer | None = None
        self.pre_tokenizer: pre_tokenizers.PreTokenizer | None = None
        self.post_processor: processors.PostProcessor | None = None
        self.decoder: decoders.Decoder | None = None
        self.added_vocab = AddedVocabulary()
        self.truncation: dict[str, Any] | None = None
        self.padding: dict[str, Any] | None = None
        self._refresh_added()

    # ---------------------------------------------------------------- tokenizer.json IO
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        """Build from a parsed tokenizer.json (the shape the reference writes)."""
        if not isinstance(data, dict):
            raise InvalidTokenizerFileError(f"tokenizer.json must hold a JSON object, got {type(data).__name__}")
        tok = cls(models.from_json(require(data, "model", "tokenizer.json")))  # type: ignore[arg-type]
        tok.normalizer = normalizers.from_json(data.get("normalizer"))
        tok.pre_tokenizer = pre_tokenizers.from_json(data.get("pre_tokenizer"))
        tok.post_processor = processors.from_json(data.get("post_processor"))
        tok.decoder = decoders.from_json(data.get("decoder"))
        for id_, token in added_from_json(data.get("added_tokens")):
            tok.added_vocab.add(token, id_)
        trunc = data.get("truncation")
        if trunc:
            tok.enable_truncation(
                trunc.get("max_length", 512),
                trunc.get("stride", 0),
                _STRATEGY_FROM_JSON.get(trunc.get("strategy", "LongestFirst"), "longest_first"),
                trunc.get("direction", "Right").lower(),
            )
        pad = data.get("padding")
        if pad:
            strategy = pad.get("strategy", "BatchLongest")
            tok.enable_padding(
                direction=pad.get("direction", "Right").lower(),
                pad_id=pad.get("pad_id", 0),
                pad_type_id=pad.get("pad_type_id", 0),
                pad_token=pad.get("pad_token", "[PAD]"),
                length=strategy["Fixed"] if isinstance(strategy, dict) else None,
                pad_to_multiple_of=pad.get("pad_to_multiple_of"),
            )
        tok._refresh_added()
        return tok

    @classmethod
    def from_str(cls, text: str) -> Tokenizer:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidTokenizerFileError(f"tokenizer.json is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Tokenizer:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            from embrace.errors import EmbraceFileNotFoundError

            raise EmbraceFileNotFoundError(f"tokenizer file {os.fspath(path)!r} does not exist") from exc
        try:
            return cls.from_str(text)
        except InvalidTokenizerFileError as exc:
            raise type(exc)(f"{os.fspath(path)}: {exc}") from exc

    @classmethod
    def from_buffer(cls, data: bytes) -> Tokenizer:
        return cls.from_str(data.decode("utf-8"))

    def to_dict(self) -> dict[str, Any]:
        trunc = None
        if self.truncation:
            t = self.truncation
            trunc = {
                "direction": t["direction"].capitalize(),
                "max_length": t["max_length"],
                "strategy": _STRATEGY_TO_JSON[t["strategy"]],
                "stride": t["stride"],
            }
        pad = None
        if self.padding:
            p = self.padding
            pad = {
                "strategy": {"Fixed": p["length"]} if p["length"] is not None else "BatchLongest",
                "direction": p["direction"].capitalize(),
                "pad_to_multiple_of": p["pad_to_multiple_of"],
                "pad_id": p["pad_id"],
                "pad_type_id": p["pad_type_id"],
                "pad_token": p["pad_token"],
            }
        return {
            "version": "1.0",
            "truncation": trunc,
            "padding": pad,
            "added_tokens": [t.to_json(i) for i, t in sorted(self.added_vocab.tokens.items())],
            "normalizer": self.normalizer.to_json() if self.normalizer else None,
            "pre_tokenizer": self.pre_tokenizer.to_json() if self.pre_tokenizer else None,
            "model": self.model.to_json(),
            "post_processor": self.post_processor.to_json() if self.post_processor else None,
            "decoder": self.decoder.to_json() if self.decoder else None,
        }

    def to_str(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2 if pretty else None)

    def save(self, path: str | os.PathLike[str], pretty: bool = True) -> None:
        """Write tokenizer.json atomically (temp file in the same folder, then rename)."""
        write_text_atomic(Path(path), self.to_str(pretty))

    # ---------------------------------------------------------------- vocabulary
    def _refresh_added(self) -> None:
        norm = self.normalizer.normalize_str if self.normalizer else None
        self.added_vocab.refresh(norm)
        self._special_ids = self.added_vocab.special_ids

    def get_vocab(self, with_added_tokens: bool = True) -> dict[str, int]:
        vocab = self.model.get_vocab()
        if with_added_tokens:
            vocab.update(self.added_vocab.ids)
        return vocab

    def get_vocab_size(self, with_added_tokens: bool = True) -> int:
        if not with_added_tokens:
            return self.model.get_vocab_size()
        return len(self.get_vocab(True))

    def token_to_id(self, token: str) -> int | None:
        id_ = self.added_vocab.ids.get(token)
        return id_ if id_ is not None else self.model.token_to_id(token)

    def id_to_token(self, id_: int) -> str | None:
        tok = self.added_vocab.tokens.get(id_)
        return tok.content if tok is not None else self.model.id_to_token(id_)

    def add_tokens(self, tokens: Iterable[str | AddedToken]) -> int:
        return self._add(tokens, special=False)

    def add_special_tokens(self, tokens: Iterable[str | AddedToken]) -> int:
        return self._add(tokens, special=True)

    def _add(self, tokens: Iterable[str | AddedToken], special: bool) -> int:
        added = 0
        for t in tokens:
            token = t if isinstance(t, AddedToken) else AddedToken(_check_text(t, "token"), special=special)
            if special and not token.special:
                token = AddedToken(token.content, token.single_word, token.lstrip, token.rstrip, token.normalized, True)
            if not token.content:
                continue
            if token.content in self.added_vocab.ids:
                self.added_vocab.add(token, self.added_vocab.ids[token.content])
                continue
            id_ = self.model.token_to_id(token.content)
            if id_ is None:
                size = self.model.get_vocab_size()
                top = max(self.added_vocab.tokens, default=None)
                id_ = size if top is None or (top < size and size > 0) else top + 1
            self.added_vocab.add(token, id_)
            added += 1
        self._refresh_added()
        return added

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        return self.post_processor.added_tokens(is_pair) if self.post_processor else 0

    # ---------------------------------------------------------------- truncation / padding
    def enable_truncation(
        self, max_length: int, stride: int = 0, strategy: str = "longest_first", direction: str = "right"
    ) -> None:
        if strategy not in _STRATEGY_TO_JSON:
            raise TokenizerError(f"truncation strategy must be one of {list(_STRATEGY_TO_JSON)}, not {strategy!r}")
        if direction not in ("left", "right"):
            raise TokenizerError(f"truncation direction must be 'left' or 'right', not {direction!r}")
        self.truncation = {"max_length": max_length, "stride": stride, "strategy": strategy, "direction": direction}

    def no_truncation(self) -> None:
        self.truncation = None

    def enable_padding(
        self,
        direction: str = "right",
        pad_id: int = 0,
        pad_type_id: int = 0,
        pad_token: str = "[PAD]",
        length: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        if direction not in ("left", "right"):
            raise TokenizerError(f"padding direction must be 'left' or 'right', not {direction!r}")
        self.padding = {
            "direction": direction,
            "pad_id": pad_id,
            "pad_type_id": pad_type_id,
            "pad_token": pad_token,
            "length": length,
            "pad_to_multiple_of": pad_to_multiple_of,
        }

    def no_padding(self) -> None:
        self.padding = None

    # ---------------------------------------------------------------- encoding
    def _splits(self, text: str) -> list[tuple[NormalizedString, int | None]]:
        """Added-token extraction + normalization: pieces of normalized text, or added tokens (with their id)."""
        out: list[tuple[NormalizedString, int | None]] = []
        for s, e, id_ in self.added_vocab.split_raw(text):
            ns = NormalizedString(text[s:e], None, s)
            if id_ is not None:
                out.append((ns, id_))
                continue
            if self.normalizer is not None:
                self.normalizer.normalize(ns)
            if self.added_vocab.has_normalized():
                for s2, e2, id2 in self.added_vocab.split_normalized(ns.text):
                    out.append((ns.slice(s2, e2), id2))
            elif ns.text:
                out.append((ns, None))
        return out

    def _cut(self, text: str) -> list[Piece]:
        """Added tokens, normalization and pre-tokenization of one text: ``(piece, added token id, None)`` or
        ``(piece, None, (words, starts))``, where words are None when the pre-tokenizer has no word spans."""
        pre = self.pre_tokenizer
        out: list[Piece] = []
        for ns, id_ in self._splits(text):
            if id_ is not None:
                out.append((ns, id_, None))
            else:
                out.append((ns, None, pre.find_word_spans(ns.text) if pre is not None else ([ns.text], [0])))
        return out

    def _encode_sequence(self, text: str, type_id: int, word_index: int | None = None,
                         trimmer: processors.ByteLevel | processors.RobertaProcessing | None = None,
                         cut: list[Piece] | None = None) -> Encoding:
        """One sequence through added tokens, normalizer, pre-tokenizer (``cut``, unless given) and model.

        Words come from the per-word entry cache and are assembled in C (``word_cache``). With ``trimmer`` the
        post-processor's byte-level offset trimming is applied here, per cached word, and the encoding is marked
        ``offsets_trimmed`` so the processor skips it."""
        enc = Encoding()
        ids, tokens, offsets, word_ids = enc.ids, enc.tokens, enc.offsets, enc.word_ids
        pre = self.pre_tokenizer
        byte_level = pre is not None and pre.maps_bytes
        plain = entry_cache(self.model, byte_level)
        trimmed = entry_cache(self.model, byte_level, trim=True) if trimmer else None
        keep_lead = trimmer is not None and trimmer.add_prefix_space
        w = -1
        for ns, id_, spans in self._cut(text) if cut is None else cut:
            if id_ is not None:
                w += 1
                ids.append(id_)
                token = self.id_to_token(id_) or ""
                tokens.append(token)
                s, e = ns.original(0, len(ns.text))
                if trimmer is not None:
                    s, e = processors.trim_token(token, s, e, keep_lead and (not offsets or s == 0))
                offsets.append((s, e))
                word_ids.append(w if word_index is None else word_index)
                continue
            if spans is None:
                w = self._encode_words_slow(ns, enc, w, word_index, trimmer)
                continue
            words, starts = spans
            if not words:
                continue
            align = ns.align
            cache = trimmed if trimmed is not None and align is None else plain
            first = len(ids)
            entries = list(map(cache.__getitem__, words))
            shifted = list(map(add, starts, repeat(ns.base))) if ns.base and align is None else starts
            t_ids, t_tokens, t_offsets, t_words = assemble(entries, shifted, w + 1)
            if align is not None:
                t_offsets = [(align[s][0], align[e - 1][1]) for s, e in t_offsets]
            w += len(words)
            ids += t_ids
            tokens += t_tokens
            offsets += t_offsets
            word_ids += t_words if word_index is None else [word_index] * len(t_ids)
            if trimmer is not None and cache is plain:
                self._trim_exact(enc, first, None, keep_lead)
            elif keep_lead:
                self._trim_exact(enc, first, (ns.base + starts[0], plain[words[0]]), keep_lead)
        n = len(ids)
        enc.type_ids = [type_id] * n
        enc.attention_mask = [1] * n
        enc.special_tokens_mask = [0] * n
        enc.offsets_trimmed = trimmer is not None
        return enc

    @staticmethod
    def _trim_exact(enc: Encoding, first: int, first_word: tuple[int, Any] | None, keep_lead: bool) -> None:
        """Byte-level trimming where the cached per-word trimming does not apply (tokens from ``first`` on).

        ``first_word`` None: nothing from ``first`` on is trimmed yet (an alignment changed lengths, or the slow
        path); trim every token. Else ``(start, entry)`` of the first word, already trimmed per word: only its
        tokens at sequence index 0 or offset 0 need the reference's rule (``word_cache.trim_first_word``)."""
        offsets, tokens = enc.offsets, enc.tokens
        if first_word is None:
            for i in range(first, len(offsets)):
                s, e = offsets[i]
                offsets[i] = processors.trim_token(tokens[i], s, e, keep_lead and (i == 0 or s == 0))
            return
        trim_first_word(offsets, tokens, first, 0, *first_word)

    def _encode_words_slow(self, ns: NormalizedString, enc: Encoding, w: int, word_index: int | None,
                           trimmer: Any) -> int:
        """Pre-tokenizers without ``find_word_spans``: word by word (``split_words``, or NormalizedString slices)."""
        ids, tokens, offsets, word_ids = enc.ids, enc.tokens, enc.offsets, enc.word_ids
        first = len(ids)
        tokenize, pre = self.model.tokenize, self.pre_tokenizer
        words = pre.split_words(ns.text)  # type: ignore[union-attr]
        if words is None:  # pre-tokenizers that rewrite the text: go through NormalizedString slices
            for piece in pre.split(ns):  # type: ignore[union-attr]
                w += 1
                word = w if word_index is None else word_index
                for tid, tok, s, e in tokenize(piece.text):
                    ids.append(tid)
                    tokens.append(tok)
                    offsets.append(piece.original(s, e))
                    word_ids.append(word)
        else:
            base, align = ns.base, ns.align
            for word_text, start, src in words:
                w += 1
                word = w if word_index is None else word_index
                for tid, tok, s, e in tokenize(word_text):
                    ids.append(tid)
                    tokens.append(tok)
                    word_ids.append(word)
                    if src is None:
                        if align is None:
                            offsets.append((base + start + s, base + start + e))
                        else:
                            offsets.append((align[start + s][0], align[start + e - 1][1]))
                        continue
                    a, b = src[s], src[e - 1]
                    if align is None:
                        offsets.append((base + a, base + b + 1))
                    else:
                        offsets.append((align[a][0], align[b][1]))
        if trimmer is not None:
            self._trim_exact(enc, first, None, trimmer.add_prefix_space)
        return w

    def _encode_input(self, text: InputSequence, type_id: int, is_pretokenized: bool,
                      cut: list[Piece] | None = None) -> Encoding:
        if not is_pretokenized:
            # without truncation the processor's offset trimming can happen per cached word (with truncation
            # every overflowing window has its own first token, so the processor does it)
            trimmer = processors.offset_trimmer(self.post_processor) if self.truncation is None else None
            return self._encode_sequence(_check_text(text), type_id, None, trimmer, cut)
        if isinstance(text, str) or not isinstance(text, Sequence):
            raise TokenizerInputError(f"a pre-tokenized input must be a list of str, got {type(text).__name__}")
        return Encoding.merge([self._encode_sequence(_check_text(w, "word"), type_id, i) for i, w in enumerate(text)])

    def encode(
        self,
        sequence: InputSequence,
        pair: InputSequence | None = None,
        is_pretokenized: bool = False,
        add_special_tokens: bool = True,
        cut: list[Piece] | None = None,
    ) -> Encoding:
        """Encode one text (or pair of texts); truncation and padding settings apply. ``cut``: ``_cut(sequence)``
        when the caller has it already (``encode_batch``)."""
        enc = self._encode_input(sequence, 0, is_pretokenized, cut)
        pair_enc = self._encode_input(pair, 1, is_pretokenized) if pair is not None else None
        out = self.post_process(enc, pair_enc, add_special_tokens)
        if self.padding is not None:
            self._pad([out])
        return out

    def encode_batch(
        self, inputs: Sequence[EncodeInput], is_pretokenized: bool = False, add_special_tokens: bool = True
    ) -> list[Encoding]:
        """Encode many inputs; each is a text or a (text, pair) tuple/list of two. Batch padding applies."""
        if isinstance(inputs, str):
            raise TokenizerInputError("encode_batch takes a list of inputs; use encode() for a single str")
        if not isinstance(inputs, Sequence):  # any iterable, as before the chunked batches
            inputs = list(inputs)
        out: list[Encoding] = []
        with paused_gc():
            for chunk in _chunks(inputs):
                out += self._encode_chunk(chunk, is_pretokenized, add_special_tokens)
        if self.padding is not None:
            self._pad(out)
        return out

    def _encode_chunk(self, inputs: Sequence[EncodeInput], is_pretokenized: bool, add_special_tokens: bool
                      ) -> list[Encoding]:
        """``encode_batch`` of some inputs, without padding. Single texts are cut first, so that their new words
        are encoded together (``WordCache.prefill``); then the texts made of plain words (``_is_simple``) are
        assembled together (``_encode_simple``) and the others one by one."""
        if is_pretokenized:
            return [self._encode_item(item, True, add_special_tokens) for item in inputs]
        cuts = [self._cut(item) if isinstance(item, str) else None for item in inputs]
        distinct: set[str] | None = None  # the chunk's words, for the batch encoders of the model
        if self.model.batch_encodes:
            pre = self.pre_tokenizer
            words = (spans[0] for cut in cuts if cut is not None for _ns, _id, spans in cut if spans is not None)
            distinct = set(chain.from_iterable(words))
            ids_cache(self.model, pre is not None and pre.maps_bytes).prefill(distinct)
        out: list[Encoding | None] = [None] * len(inputs)
        simple = [i for i, cut in enumerate(cuts) if cut is not None and _is_simple(cut)]
        if simple:
            # without truncation, the post-processor's specials frame every text and its offset trimming is done
            # per cached word; with truncation (overflowing windows), or a processor that trims offsets in a
            # Sequence, each sequence goes through ``post_process``
            post = self.post_processor
            trimmer = processors.offset_trimmer(post) if self.truncation is None else None
            framed = self.truncation is None and (trimmer is not None or not processors.trims_offsets(post))
            frame = self._frame(add_special_tokens) if framed else None
            encodings = self._encode_simple([cuts[i] for i in simple], frame or _RAW_FRAME, trimmer,  # type: ignore[misc]
                                            distinct)
            if frame is None:
                encodings = [self.post_process(enc, None, add_special_tokens) for enc in encodings]
            for i, enc in zip(simple, encodings):
                out[i] = enc
        for i, (item, cut) in enumerate(zip(inputs, cuts)):
            if out[i] is None:
                out[i] = self._encode_item(item, False, add_special_tokens, cut)
        return out  # type: ignore[return-value]

    def _encode_item(self, item: EncodeInput, is_pretokenized: bool, add_special_tokens: bool,
                     cut: list[Piece] | None = None) -> Encoding:
        """One input of ``encode_batch``: a text or a (text, pair) tuple/list of two."""
        if isinstance(item, (tuple, list)) and (not is_pretokenized or (len(item) == 2 and not isinstance(item[0], str))):
            if len(item) != 2:
                raise TokenizerInputError(f"a pair input must have exactly 2 sequences, got {len(item)}")
            return self.encode(item[0], item[1], is_pretokenized, add_special_tokens)
        return self.encode(item, None, is_pretokenized, add_special_tokens, cut)  # type: ignore[arg-type]

    def _frame(self, add_special_tokens: bool) -> Frame | None:
        """What the post-processor puts around one sequence, found by processing a one-token probe: the encodings
        before and after it, the sequence's type id and whether it gets a sequence range. None when the probe
        does not come out as specials + the probe + specials (then texts take the general path)."""
        probe = Encoding([-1], [0], [""], [(0, 0)], [1], [0], [0])
        probe.offsets_trimmed = True  # the per-word path trims offsets itself
        out = self.post_process(probe, None, add_special_tokens)
        if out.ids.count(-1) != 1 or out.overflowing:
            return None
        at = out.ids.index(-1)
        if out.word_ids[at] != 0 or out.offsets[at] != (0, 0) or out.special_tokens_mask[at] != 0:
            return None
        ranges = dict(out.sequence_ranges)
        if ranges and ranges != {0: (at, at + 1)}:
            return None
        return out._slice(0, at), out.type_ids[at], out._slice(at + 1, len(out.ids)), bool(ranges)

    def _encode_simple(self, cuts: list[list[Piece]], frame: Frame,
                       trimmer: processors.ByteLevel | processors.RobertaProcessing | None,
                       distinct: set[str] | None = None) -> list[Encoding]:
        """Encodings of texts cut into plain words (``_is_simple``), assembled together from the per-word entry
        cache (``assemble_many``) and framed by the post-processor's special tokens (``_frame``; with
        ``_RAW_FRAME``, the sequences as ``_encode_sequence`` gives them, for ``post_process``). With ``trimmer``
        the offsets are trimmed as that processor does. ``distinct``: a set holding at least these texts' words."""
        pre = self.pre_tokenizer
        byte_level = pre is not None and pre.maps_bytes
        plain = entry_cache(self.model, byte_level)
        cache = entry_cache(self.model, byte_level, trim=True) if trimmer is not None else plain
        keep_lead = trimmer is not None and trimmer.add_prefix_space
        word_lists = [cut[0][2][0] if cut else [] for cut in cuts]  # type: ignore[index]
        start_lists = [_piece_starts(cut[0]) if cut else [] for cut in cuts]
        cache.prefill(chain.from_iterable(word_lists) if distinct is None else distinct)
        ids, tokens, offsets, word_ids, bounds = assemble_many(word_lists, start_lists, cache)
        before, seq_type, after, ranged = frame
        n_before = len(before.ids)
        bare = not before.ids and not after.ids
        out = []
        for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
            n = b - a
            if keep_lead and n:
                trim_first_word(offsets, tokens, a, a, start_lists[i][0], plain[word_lists[i][0]])
            if bare:  # nothing around the sequence: the slices are the lists
                enc = Encoding(ids[a:b], [seq_type] * n, tokens[a:b], offsets[a:b], [1] * n, [0] * n, word_ids[a:b])
            else:
                enc = Encoding(
                    before.ids + ids[a:b] + after.ids,
                    before.type_ids + [seq_type] * n + after.type_ids,
                    before.tokens + tokens[a:b] + after.tokens,
                    before.offsets + offsets[a:b] + after.offsets,
                    [1] * (n_before + n + len(after.ids)),
                    before.special_tokens_mask + [0] * n + after.special_tokens_mask,
                    before.word_ids + word_ids[a:b] + after.word_ids,
                )
            if ranged:
                enc.sequence_ranges[0] = (n_before, n_before + n)
            enc.offsets_trimmed = trimmer is not None and frame is _RAW_FRAME
            out.append(enc)
        return out

    def post_process(self, encoding: Encoding, pair: Encoding | None = None, add_special_tokens: bool = True) -> Encoding:
        if self.truncation is not None:
            t = self.truncation
            n_added = self.num_special_tokens_to_add(pair is not None)
            max_length = t["max_length"] - n_added if add_special_tokens and n_added > 0 else t["max_length"]
            if max_length < 0:
                raise TokenizerError(f"max_length {t['max_length']} is shorter than the {n_added} special tokens added")
            truncate_encodings(encoding, pair, max_length, t["strategy"], t["stride"], t["direction"])
        if self.post_processor is not None:
            return self.post_processor.process(encoding, pair, add_special_tokens)
        if pair is None:
            return encoding
        encoding.set_sequence_id(0)
        pair.set_sequence_id(1)
        return Encoding.merge([encoding, pair])

    def _pad(self, encodings: list[Encoding]) -> None:
        p = self.padding
        if not encodings or p is None:
            return
        length = p["length"] if p["length"] is not None else max(len(e) for e in encodings)
        multiple = p["pad_to_multiple_of"]
        if multiple and length % multiple:
            length += multiple - length % multiple
        for e in encodings:
            e.pad(length, p["pad_id"], p["pad_type_id"], p["pad_token"], p["direction"])

    # ---------------------------------------------------------------- fast ids-only path
    def _id_parts(self, text: str) -> list[tuple[int, Any]]:
        """One text cut for the ids-only path: ``(ADDED, id)`` for an added token, ``(WORDS, words)`` for words
        that ``ids_cache`` maps to ids (the pre-tokenizer's ``find_words``), ``(MAPPED, words)`` for words already
        rewritten by ``split_str`` (when ``find_words`` gives None)."""
        parts: list[tuple[int, Any]] = []
        norm, pre = self.normalizer, self.pre_tokenizer
        has_normalized = self.added_vocab.has_normalized()
        for s, e, id_ in self.added_vocab.split_raw(text):
            if id_ is not None:
                parts.append((_ADDED, id_))
                continue
            piece = text[s:e] if s or e != len(text) else text
            if norm is not None:
                piece = norm.normalize_str(piece)
            for s2, e2, id2 in self.added_vocab.split_normalized(piece) if has_normalized else [(0, len(piece), None)]:
                if id2 is not None:
                    parts.append((_ADDED, id2))
                    continue
                sub = piece[s2:e2] if s2 or e2 != len(piece) else piece
                if pre is None:
                    if sub:
                        parts.append((_WORDS, [sub]))
                    continue
                words = pre.find_words(sub)
                if words is not None:
                    parts.append((_WORDS, words))
                else:
                    parts.append((_MAPPED, pre.split_str(sub, s == 0 and s2 == 0)))
        return parts

    def encode_batch_ids(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
        """Ids only (the fast path): same ids as ``[e.ids for e in encode_batch(texts)]``, overflow dropped.

        Texts are cut into words in chunks; the chunk's new words are encoded together (``WordCache.prefill``:
        numpy BPE merges), then each text's ids are chained from the per-word cache."""
        if isinstance(texts, str):
            raise TokenizerInputError("encode_batch_ids takes a list of str")
        if not isinstance(texts, Sequence):
            texts = list(texts)
        post = self.post_processor if add_special_tokens else None
        trunc = self.truncation
        max_len = None
        direction = "right"
        if trunc is not None:
            direction = trunc["direction"]
            max_len = trunc["max_length"] - (self.num_special_tokens_to_add(False) if add_special_tokens else 0)
        pre = self.pre_tokenizer
        word_cache = ids_cache(self.model, pre is not None and pre.maps_bytes)
        caches = (word_cache, word_cache, ids_cache(self.model, False))  # by part kind (_ADDED is not looked up)
        out = []
        with paused_gc():
            for chunk in _chunks(texts):
                cut = [self._id_parts(_check_text(text)) for text in chunk]
                for kind in (_WORDS, _MAPPED):
                    caches[kind].prefill(chain.from_iterable(w for parts in cut for k, w in parts if k == kind))
                for parts in cut:
                    if len(parts) == 1 and parts[0][0] != _ADDED:
                        kind, words = parts[0]
                        ids = list(chain.from_iterable(map(caches[kind].__getitem__, words)))
                    else:
                        ids = []
                        for kind, words in parts:
                            if kind == _ADDED:
                                ids.append(words)
                            else:
                                ids += chain.from_iterable(map(caches[kind].__getitem__, words))
                    if max_len is not None and len(ids) > max_len:
                        ids = ids[:max_len] if direction == "right" else ids[len(ids) - max_len :]
                    if post is not None:
                        ids = post.process_ids(ids)
                    out.append(ids)
        if self.padding is not None and out:
            p = self.padding
            length = p["length"] if p["length"] is not None else max(len(i) for i in out)
            if p["pad_to_multiple_of"] and length % p["pad_to_multiple_of"]:
                length += p["pad_to_multiple_of"] - length % p["pad_to_multiple_of"]
            pad = p["pad_id"]
            if p["direction"] == "right":
                out = [ids + [pad] * (length - len(ids)) for ids in out]
            else:
                out = [[pad] * (length - len(ids)) + ids for ids in out]
        return out

    # ---------------------------------------------------------------- training
    def train_from_iterator(self, iterator: Iterable[Any], trainer: Any = None, length: int | None = None) -> None:
        """Learn this tokenizer's model from ``iterator`` (str, or lists of str) with its own normalizer and
        pre-tokenizer, in place, like ``tokenizers.Tokenizer.train_from_iterator(iterator, trainer=...)``.
        Without ``trainer``, the default trainer of the model type is used."""
        from embrace.tokenizers.trainers import pipeline

        self._replace_with(pipeline.train_from_iterator(self, iterator, trainer or self._default_trainer(), length))

    def train(self, files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], trainer: Any = None) -> None:
        """``train_from_iterator`` over every line of ``files`` (UTF-8), like ``tokenizers.Tokenizer.train``."""
        from embrace.tokenizers.trainers import pipeline

        self._replace_with(pipeline.train_from_files(self, files, trainer or self._default_trainer()))  # type: ignore[arg-type]

    def _default_trainer(self) -> Any:
        from embrace.tokenizers import trainers

        kinds = {"BPE": trainers.BpeTrainer, "WordPiece": trainers.WordPieceTrainer,
                 "Unigram": trainers.UnigramTrainer, "WordLevel": trainers.WordLevelTrainer}
        return kinds[self.model.type_name]()

    def _replace_with(self, data: dict[str, Any]) -> None:
        trained = Tokenizer.from_dict(data)
        self.model, self.added_vocab = trained.model, trained.added_vocab
        self._refresh_added()

    # ---------------------------------------------------------------- decoding
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        """Ids back to text; ids outside the vocabulary raise ``TokenIdError`` (the reference drops them)."""
        tokens = []
        special = self._special_ids
        for id_ in ids:
            if not isinstance(id_, int) or isinstance(id_, bool):
                raise TokenizerInputError(f"decode takes integer ids, got {type(id_).__name__}: {id_!r}")
            if skip_special_tokens and id_ in special:
                continue
            tok = self.id_to_token(id_)
            if tok is None:
                raise TokenIdError(f"token id {id_} is outside the vocabulary (size {self.get_vocab_size()})")
            tokens.append(tok)
        if self.decoder is not None:
            return self.decoder.decode(tokens)
        return " ".join(tokens)

    def decode_batch(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = True) -> list[str]:
        return [self.decode(ids, skip_special_tokens) for ids in sequences]


_RAW_FRAME: Frame = (Encoding(), 0, Encoding(), False)  # no specials around the sequence: as _encode_sequence


def _is_simple(cut: list[Piece]) -> bool:
    """A text that is one piece of plain words (no added token, offsets not remapped by the normalizer), or
    nothing at all."""
    return not cut or (len(cut) == 1 and cut[0][1] is None and cut[0][2] is not None and cut[0][0].align is None)


def _piece_starts(piece: Piece) -> list[int]:
    ns, _id, spans = piece
    starts = spans[1]  # type: ignore[index]
    return list(map(add, starts, repeat(ns.base))) if ns.base else starts


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + rename, normal file permissions)."""
    from embrace.io import atomic_write_text

    atomic_write_text(path, text)
