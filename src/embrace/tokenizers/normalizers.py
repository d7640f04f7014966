"""Normalizers (tokenizer.json ``normalizer``) and the ``NormalizedString`` that tracks original offsets.

Every normalizer has two paths: ``normalize_str(str) -> str`` (the fast ids-only path, C-level string ops) and
``normalize(NormalizedString)`` which also keeps, for every normalized character, the (start, end) character
span of the original text it came from. Alignment rules follow the reference: a character produced from one
input character inherits its span, replacement text inherits the span of the last replaced character, and
prepended text gets the span of the first character.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any, ClassVar

import regex

from embrace.tokenizers.errors import InvalidTokenizerFileError, require, unknown_type

Span = tuple[int, int]


class NormalizedString:
    """A normalized text with per-character original spans.

    ``base`` is where this piece starts in the original text (the reference's ``original_shift``). ``align`` is
    None while the text is an untouched slice of the original (character ``i`` then maps to
    ``(base + i, base + i + 1)``); it becomes an explicit list once a transform changes lengths.
    """

    __slots__ = ("text", "align", "base")

    def __init__(self, text: str, align: list[Span] | None = None, base: int = 0) -> None:
        self.text = text
        self.align = align
        self.base = base

    def spans(self) -> list[Span]:
        if self.align is None:
            b = self.base
            return [(b + i, b + i + 1) for i in range(len(self.text))]
        return self.align

    def original(self, start: int, end: int) -> Span:
        """Original span of normalized characters ``[start, end)``."""
        if self.align is None:
            return (self.base + start, self.base + end)
        if start >= end:
            if start < len(self.align):
                s = self.align[start][0]
                return (s, s)
            s = self.align[-1][1] if self.align else self.base
            return (s, s)
        return (self.align[start][0], self.align[end - 1][1])

    def slice(self, start: int, end: int) -> NormalizedString:
        if self.align is None:
            return NormalizedString(self.text[start:end], None, self.base + start)
        base = self.align[start][0] if start < len(self.align) else self.base
        return NormalizedString(self.text[start:end], self.align[start:end], base)

    def map_chars(self, fn: Callable[[str], str]) -> None:
        """Replace every character by ``fn(char)`` (possibly empty or several chars, all aligned to the input)."""
        pieces = [fn(c) for c in self.text]
        new_text = "".join(pieces)
        if len(new_text) == len(self.text) and all(len(p) == 1 for p in pieces):
            self.text = new_text
            return
        spans = self.spans()
        align: list[Span] = []
        for span, piece in zip(spans, pieces):
            align.extend([span] * len(piece))
        self.text, self.align = new_text, align

    def replace(self, pattern: regex.Pattern[str], content: str) -> None:
        """Replace every match of ``pattern``; the new text inherits the span of the last matched character."""
        if pattern.search(self.text) is None:
            return
        if len(content) == 1 and all(len(m) == 1 for m in pattern.findall(self.text)):
            self.text = pattern.sub(lambda _m: content, self.text)
            return
        spans = self.spans()
        out: list[str] = []
        align: list[Span] = []
        pos = 0
        for m in pattern.finditer(self.text):
            s, e = m.span()
            out.append(self.text[pos:s])
            align.extend(spans[pos:s])
            if s < e:
                out.append(content)
                align.extend([spans[e - 1]] * len(content))
            pos = e
        out.append(self.text[pos:])
        align.extend(spans[pos:])
        self.text, self.align = "".join(out), align

    def prepend(self, prefix: str) -> None:
        if not self.text:
            return
        spans = self.spans()
        self.align = [spans[0]] * len(prefix) + spans
        self.text = prefix + self.text

    def append(self, suffix: str) -> None:
        if not self.text:
            return
        spans = self.spans()
        self.align = spans + [spans[-1]] * len(suffix)
        self.text = self.text + suffix

    def __repr__(self) -> str:
        return f"NormalizedString({self.text!r})"


class Normalizer:
    """Base: subclasses implement ``normalize_str`` and, when lengths can change, ``normalize``."""

    type_name: ClassVar[str] = ""

    def normalize_str(self, text: str) -> str:
        raise NotImplementedError

    def normalize(self, ns: NormalizedString) -> None:
        ns.map_chars(self.normalize_str)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name}


_MN = regex.compile(r"\p{Mn}+")
_WS_RUST = regex.compile(r"[\t\n\r\p{White_Space}]")
_CONTROL = regex.compile(r"[\x00\ufffd]|(?![\t\n\r])\p{C}")
_CLEAN_OR_WS = regex.compile(r"[\x00\ufffd]|(?![\t\n\r])\p{C}|[\t\n\r\p{White_Space}]")
_CJK = regex.compile(
    "([\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002b73f\U0002b740-\U0002b81f"
    "\U0002b920-\U0002ceaf\uf900-\ufaff\U0002f800-\U0002fa1f])"
)


# BertNormalizer's clean_text on ASCII: control chars go, tab/newline/carriage return become spaces
_ASCII_CLEAN = {c: (" " if chr(c) in "\t\n\r" else None) for c in [*range(32), 127]}


def _lower_char(c: str) -> str:
    return c.lower()


def lowercase_str(text: str) -> str:
    """Per-character lowercase like the reference (Python's ``str.lower`` would turn a final Σ into ς)."""
    if "Σ" not in text:
        return text.lower()
    return "".join(c.lower() for c in text)


def _strip_accents_char(c: str) -> str:
    if c.isascii():
        return c
    return _MN.sub("", unicodedata.normalize("NFD", c))


def strip_accents_str(text: str) -> str:
    if text.isascii():
        return text
    return _MN.sub("", unicodedata.normalize("NFD", text))


class BertNormalizer(Normalizer):
    type_name = "BertNormalizer"

    def __init__(
        self,
        clean_text: bool = True,
        handle_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        lowercase: bool = True,
    ) -> None:
        self.clean_text = clean_text
        self.handle_chinese_chars = handle_chinese_chars
        self.strip_accents = strip_accents
        self.lowercase = lowercase

    @property
    def _do_strip(self) -> bool:
        return self.lowercase if self.strip_accents is None else self.strip_accents

    def normalize_str(self, text: str) -> str:
        if self.clean_text:
            if text.isascii():  # str.translate instead of two regex passes (same result on ASCII)
                if not text.isprintable():
                    text = text.translate(_ASCII_CLEAN)
            else:
                text = _CONTROL.sub("", text)
                text = _WS_RUST.sub(" ", text)
        if self.handle_chinese_chars and not text.isascii():
            text = _CJK.sub(r" \1 ", text)
        if self._do_strip:
            text = strip_accents_str(text)
        if self.lowercase:
            text = lowercase_str(text)
        return text

    def normalize(self, ns: NormalizedString) -> None:
        ascii_text = ns.text.isascii()
        if self.clean_text and not (ascii_text and ns.text.isprintable()):  # printable ASCII: nothing to clean
            if _CONTROL.search(ns.text) is None:
                ns.text = _WS_RUST.sub(" ", ns.text)
            else:
                ns.map_chars(lambda c: "" if _CONTROL.match(c) else (" " if _WS_RUST.match(c) else c))
        if self.handle_chinese_chars and not ascii_text and _CJK.search(ns.text) is not None:
            ns.map_chars(lambda c: f" {c} " if _CJK.match(c) else c)
        if self._do_strip and not ns.text.isascii():
            ns.map_chars(_strip_accents_char)
        if self.lowercase:
            if ns.text.isascii():
                ns.text = ns.text.lower()
            else:
                ns.map_chars(_lower_char)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "clean_text": self.clean_text,
            "handle_chinese_chars": self.handle_chinese_chars,
            "strip_accents": self.strip_accents,
            "lowercase": self.lowercase,
        }


class Lowercase(Normalizer):
    type_name = "Lowercase"

    def normalize_str(self, text: str) -> str:
        return lowercase_str(text)

    def normalize(self, ns: NormalizedString) -> None:
        if ns.text.isascii():
            ns.text = ns.text.lower()
        else:
            ns.map_chars(_lower_char)


class StripAccents(Normalizer):
    """Removes non-spacing marks (expects an NFD/NFKD text, as in the reference)."""

    type_name = "StripAccents"

    def normalize_str(self, text: str) -> str:
        return _MN.sub("", text)

    def normalize(self, ns: NormalizedString) -> None:
        if _MN.search(ns.text) is not None:
            ns.map_chars(lambda c: "" if _MN.match(c) else c)


class _Unicode(Normalizer):
    form: ClassVar[str] = "NFC"

    def normalize_str(self, text: str) -> str:
        return unicodedata.normalize(self.form, text)  # type: ignore[arg-type]

    def normalize(self, ns: NormalizedString) -> None:
        if unicodedata.is_normalized(self.form, ns.text):  # type: ignore[arg-type]
            return
        if self.form in ("NFD", "NFKD"):
            ns.map_chars(self.normalize_str)
            return
        # Composition works on clusters (a starter and its combining marks). An output char that also appears
        # in the input keeps that char's span; a composed char takes the span of the next unused input char.
        spans = ns.spans()
        out: list[str] = []
        align: list[Span] = []
        i, n = 0, len(ns.text)
        while i < n:
            j = i + 1
            while j < n and unicodedata.combining(ns.text[j]):
                j += 1
            segment = ns.text[i:j]
            p = 0
            for ch in self.normalize_str(segment):
                found = segment.find(ch, p)
                k = found if found >= 0 else min(p, len(segment) - 1)
                out.append(ch)
                align.append(spans[i + k])
                p = k + 1
            i = j
        ns.text, ns.align = "".join(out), align


class NFC(_Unicode):
    type_name = "NFC"
    form = "NFC"


class NFD(_Unicode):
    type_name = "NFD"
    form = "NFD"


class NFKC(_Unicode):
    type_name = "NFKC"
    form = "NFKC"


class NFKD(_Unicode):
    type_name = "NFKD"
    form = "NFKD"


def compile_pattern(pattern: Any, where: str) -> tuple[regex.Pattern[str], dict[str, str]]:
    """tokenizer.json patterns are ``{"String": "..."}`` (literal) or ``{"Regex": "..."}``."""
    if isinstance(pattern, dict) and "String" in pattern:
        return regex.compile(regex.escape(pattern["String"])), {"String": pattern["String"]}
    if isinstance(pattern, dict) and "Regex" in pattern:
        try:
            return regex.compile(pattern["Regex"]), {"Regex": pattern["Regex"]}
        except regex.error as exc:
            raise InvalidTokenizerFileError(f"{where}: invalid regex {pattern['Regex']!r}: {exc}") from exc
    if isinstance(pattern, str):
        return regex.compile(regex.escape(pattern)), {"String": pattern}
    raise InvalidTokenizerFileError(f"{where}: pattern must be {{'String': ...}} or {{'Regex': ...}}, got {pattern!r}")


class Replace(Normalizer):
    type_name = "Replace"

    def __init__(self, pattern: Any, content: str) -> None:
        self.regex, self.pattern = compile_pattern(pattern, "Replace normalizer")
        self.content = content

    def normalize_str(self, text: str) -> str:
        return self.regex.sub(lambda _m: self.content, text)

    def normalize(self, ns: NormalizedString) -> None:
        ns.replace(self.regex, self.content)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "pattern": self.pattern, "content": self.content}


class Prepend(Normalizer):
    type_name = "Prepend"

    def __init__(self, prepend: str) -> None:
        self.prepend = prepend

    def normalize_str(self, text: str) -> str:
        return self.prepend + text if text else text

    def normalize(self, ns: NormalizedString) -> None:
        ns.prepend(self.prepend)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "prepend": self.prepend}


_LEAD_WS = regex.compile(r"^\p{White_Space}+")
_TRAIL_WS = regex.compile(r"\p{White_Space}+$")


class Strip(Normalizer):
    type_name = "Strip"

    def __init__(self, left: bool = True, right: bool = True) -> None:
        self.left, self.right = left, right

    def normalize_str(self, text: str) -> str:
        if self.left:
            text = _LEAD_WS.sub("", text)
        if self.right:
            text = _TRAIL_WS.sub("", text)
        return text

    def normalize(self, ns: NormalizedString) -> None:
        new = self.normalize_str(ns.text)
        if new == ns.text:
            return
        start = len(ns.text) - len(_LEAD_WS.sub("", ns.text)) if self.left else 0
        sub = ns.slice(start, start + len(new))
        ns.text, ns.align, ns.base = sub.text, sub.align, sub.base

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "strip_left": self.left, "strip_right": self.right}


class Sequence(Normalizer):
    type_name = "Sequence"

    def __init__(self, normalizers: list[Normalizer]) -> None:
        self.normalizers = normalizers

    def normalize_str(self, text: str) -> str:
        for n in self.normalizers:
            text = n.normalize_str(text)
        return text

    def normalize(self, ns: NormalizedString) -> None:
        for n in self.normalizers:
            n.normalize(ns)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "normalizers": [n.to_json() for n in self.normalizers]}


_GRAPHEME = regex.compile(r"\X")


class Precompiled(Normalizer):
    """SentencePiece's compiled normalization rules (``precompiled_charsmap``, base64 in tokenizer.json).

    The blob is a little-endian u32 trie size, a darts-clone double-array trie over UTF-8 bytes, then the
    NUL-separated replacement strings the trie values point to. Like the reference, a grapheme shorter than 6
    bytes is looked up whole first, otherwise each of its characters is; the first (shortest) match wins.
    """

    type_name = "Precompiled"

    def __init__(self, precompiled_charsmap: str) -> None:
        import base64
        import struct

        self.charsmap = precompiled_charsmap
        blob = base64.b64decode(precompiled_charsmap) if precompiled_charsmap else b""
        if blob:
            if len(blob) < 4:
                raise InvalidTokenizerFileError("Precompiled normalizer: precompiled_charsmap is truncated")
            (trie_size,) = struct.unpack_from("<I", blob, 0)
            if 4 + trie_size > len(blob) or trie_size % 4:
                raise InvalidTokenizerFileError("Precompiled normalizer: precompiled_charsmap has a bad trie size")
            self._trie = list(struct.unpack_from(f"<{trie_size // 4}I", blob, 4))
            self._normalized = blob[4 + trie_size :]
        else:
            self._trie, self._normalized = [], b""
        self._cache: dict[str, str | None] = {}

    def _lookup(self, chunk: str) -> str | None:
        if chunk in self._cache:
            return self._cache[chunk]
        result: str | None = None
        trie = self._trie
        if trie:
            pos = 0
            unit = trie[pos]
            pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
            for byte in chunk.encode("utf-8"):
                pos ^= byte
                if pos >= len(trie):
                    break
                unit = trie[pos]
                if unit & ((1 << 31) | 0xFF) != byte:
                    break
                pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
                if (unit >> 8) & 1:
                    start = trie[pos] & ((1 << 31) - 1)
                    end = self._normalized.find(b"\0", start)
                    result = self._normalized[start : end if end >= 0 else None].decode("utf-8", errors="replace")
                    break
        if len(self._cache) < 100_000:
            self._cache[chunk] = result
        return result

    def _pieces(self, text: str) -> list[tuple[str, str]]:
        """(original chunk, replacement) pairs covering ``text``."""
        out: list[tuple[str, str]] = []
        for grapheme in _GRAPHEME.findall(text):
            if len(grapheme.encode("utf-8")) < 6:
                norm = self._lookup(grapheme)
                if norm is not None:
                    out.append((grapheme, norm))
                    continue
            for c in grapheme:
                norm = self._lookup(c)
                out.append((c, c if norm is None else norm))
        return out

    def normalize_str(self, text: str) -> str:
        if not self._trie:
            return text
        return "".join(new for _old, new in self._pieces(text))

    def normalize(self, ns: NormalizedString) -> None:
        if not self._trie:
            return
        pieces = self._pieces(ns.text)
        if all(old == new for old, new in pieces):
            return
        spans = ns.spans()
        align: list[Span] = []
        pos = 0
        for old, new in pieces:
            # new char k takes the span of old char min(k, len(old) - 1), as the reference's transform does
            align.extend(spans[pos + min(k, len(old) - 1)] for k in range(len(new)))
            pos += len(old)
        ns.text, ns.align = "".join(new for _old, new in pieces), align

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "precompiled_charsmap": self.charsmap}


def from_json(d: dict[str, Any] | None) -> Normalizer | None:
    """Build a normalizer from its tokenizer.json object (None stays None)."""
    if d is None:
        return None
    kind = require(d, "type", "normalizer")
    if kind == "BertNormalizer":
        return BertNormalizer(
            d.get("clean_text", True), d.get("handle_chinese_chars", True), d.get("strip_accents"), d.get("lowercase", True)
        )
    if kind == "Sequence":
        return Sequence([n for n in (from_json(x) for x in require(d, "normalizers", "Sequence")) if n])  # type: ignore[attr-defined]
    if kind == "Replace":
        return Replace(require(d, "pattern", "Replace"), str(require(d, "content", "Replace")))
    if kind == "Prepend":
        return Prepend(str(require(d, "prepend", "Prepend")))
    if kind == "Strip":
        return Strip(d.get("strip_left", True), d.get("strip_right", True))
    if kind == "Precompiled":
        return Precompiled(d.get("precompiled_charsmap") or "")
    simple: dict[str, type[Normalizer]] = {
        "Lowercase": Lowercase, "StripAccents": StripAccents, "NFC": NFC, "NFD": NFD, "NFKC": NFKC, "NFKD": NFKD
    }
    if kind in simple:
        return simple[kind]()
    raise unknown_type("normalizer", kind, [*simple, "BertNormalizer", "Sequence", "Replace", "Prepend", "Strip", "Precompiled"])
