"""Pre-tokenizers (tokenizer.json ``pre_tokenizer``): split a normalized text into words.

Two paths like the normalizers: ``split_str(text, at_start)`` returns the word strings (ids-only fast path) and
``split(ns)`` returns ``NormalizedString`` slices that keep original offsets. ``at_start`` tells whether the text
begins at original offset 0 (Metaspace's ``prepend_scheme="first"`` depends on it).
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any, ClassVar

import regex

from embrace.tokenizers.errors import InvalidTokenizerFileError, require, unknown_type
from embrace.tokenizers.normalizers import NormalizedString, compile_pattern

WS = r"\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # Unicode White_Space (Rust's \s)
PUNCT = r"\p{P}!-/:-@\[-`{-~"  # Unicode punctuation plus ASCII punctuation (symbols like $ + < included)
WORD = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}"  # Rust's Unicode \w
GPT2_PATTERN = (
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?\p{{L}}+| ?\p{{N}}+| ?[^{WS}\p{{L}}\p{{N}}]+|[{WS}]+(?![^{WS}])|[{WS}]+"
)
# The same patterns restricted to ASCII input, for the stdlib ``re`` engine (about twice as fast as ``regex`` on
# them); used only when ``text.isascii()``, where they match exactly what the Unicode patterns match.
_ASCII_WS = r"\t\n\v\f\r "
_ASCII_PUNCT = r"!-/:-@\[-`{-~"
GPT2_ASCII = re.compile(
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^{_ASCII_WS}A-Za-z0-9]+|[{_ASCII_WS}]+(?![^{_ASCII_WS}])"
    rf"|[{_ASCII_WS}]+"
)
BEHAVIORS = ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
_LATIN1_TO_BYTECHAR = str.maketrans({chr(b): c for b, c in BYTE_TO_CHAR.items()})


def byte_level_str(text: str) -> str:
    """Map the UTF-8 bytes of ``text`` to GPT-2's byte characters (C-level: encode + translate)."""
    return text.encode("utf-8").decode("latin-1").translate(_LATIN1_TO_BYTECHAR)


def split_spans(pattern: regex.Pattern[str], text: str, behavior: str, invert: bool = False) -> list[tuple[int, int]]:
    """The reference's ``NormalizedString::split``: kept (start, end) pieces, empty ones dropped."""
    segments: list[tuple[int, int, bool]] = []
    prev = 0
    for m in pattern.finditer(text):
        s, e = m.span()
        if prev != s:
            segments.append((prev, s, invert))
        segments.append((s, e, not invert))
        prev = e
    if prev != len(text):
        segments.append((prev, len(text), invert))
    out: list[list[int]] = []
    if behavior == "Removed":
        out = [[s, e] for s, e, is_match in segments if not is_match]
    elif behavior == "Isolated":
        out = [[s, e] for s, e, _ in segments]
    elif behavior == "Contiguous":
        previous: bool | None = None
        for s, e, is_match in segments:
            if out and is_match == previous:
                out[-1][1] = e
            else:
                out.append([s, e])
            previous = is_match
    elif behavior == "MergedWithPrevious":
        previous_match = False
        for s, e, is_match in segments:
            if is_match and not previous_match and out:
                out[-1][1] = e
            else:
                out.append([s, e])
            previous_match = is_match
    elif behavior == "MergedWithNext":
        previous_match = False
        for s, e, is_match in reversed(segments):
            if is_match and not previous_match and out:
                out[-1][0] = s
            else:
                out.append([s, e])
            previous_match = is_match
        out.reverse()
    else:
        raise InvalidTokenizerFileError(f"unknown split behavior {behavior!r}; expected one of {BEHAVIORS}")
    return [(s, e) for s, e in out if e > s]


Word = tuple[str, int, "list[int] | None"]
WordSpans = tuple[list[str], list[int]]
_RE_MATCH_START, _RE_MATCH_GROUP = re.Match.start, re.Match.group
_REGEX_MATCH = type(regex.match("", ""))
_REGEX_MATCH_START, _REGEX_MATCH_GROUP = _REGEX_MATCH.start, _REGEX_MATCH.group


def match_spans(pattern: Any, text: str) -> WordSpans:
    """Every match of ``pattern`` and its start, with the loops in C (``map`` over the match methods)."""
    matches = list(pattern.finditer(text))
    if isinstance(pattern, re.Pattern):
        return list(map(_RE_MATCH_GROUP, matches)), list(map(_RE_MATCH_START, matches))
    return list(map(_REGEX_MATCH_GROUP, matches)), list(map(_REGEX_MATCH_START, matches))


class PreTokenizer:
    type_name: ClassVar[str] = ""
    maps_bytes: ClassVar[bool] = False  # words of find_words are raw text that the model sees byte-mapped

    def find_words(self, text: str) -> list[str] | None:
        """Cache keys for the fast paths: the words as slices of ``text`` (before any byte mapping), or None when
        this pre-tokenizer rewrites text in a way slices cannot express (then ``split_str``/``split`` are used)."""
        return None

    def find_word_spans(self, text: str) -> WordSpans | None:
        """Like ``find_words`` plus the start of each word in ``text`` (the offsets fast path)."""
        return None

    def split_str(self, text: str, at_start: bool = True) -> list[str]:
        raise NotImplementedError

    def split_words(self, text: str) -> list[Word] | None:
        """Offsets fast path: ``(word, start, src)`` with ``src`` None when word char ``i`` is text char
        ``start + i``, else ``src[i]`` = the text index of word char ``i`` (a prefix inserted by the
        pre-tokenizer maps to the first char, as in the reference).
        None when this pre-tokenizer only supports ``split`` (it rewrites text in ways spans cannot express)."""
        return None

    def split(self, ns: NormalizedString) -> list[NormalizedString]:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name}


class _RegexSplit(PreTokenizer):
    """A split by one pattern and behaviour; ``findall`` is the fast path when only matches are kept."""

    pattern: regex.Pattern[str]
    behavior: str = "Removed"
    invert: bool = False
    keep_matches_only: bool = False  # the kept pieces are exactly the pattern's matches
    ascii_pattern: re.Pattern[str] | None = None  # the same matches on ASCII text, with the faster ``re``

    def _matcher(self, text: str) -> Any:
        return self.ascii_pattern if self.ascii_pattern is not None and text.isascii() else self.pattern

    def split_str(self, text: str, at_start: bool = True) -> list[str]:
        if self.keep_matches_only:
            words: list[str] = self._matcher(text).findall(text)
            return [t for t in words if t] if "" in words else words
        return [text[s:e] for s, e in split_spans(self.pattern, text, self.behavior, self.invert)]

    def find_words(self, text: str) -> list[str]:
        return self.split_str(text)

    def find_word_spans(self, text: str) -> WordSpans:
        if self.keep_matches_only:
            words, starts = match_spans(self._matcher(text), text)
            if "" in words:
                kept = [(w, s) for w, s in zip(words, starts) if w]
                return [w for w, _ in kept], [s for _, s in kept]
            return words, starts
        spans = split_spans(self.pattern, text, self.behavior, self.invert)
        return [text[s:e] for s, e in spans], [s for s, _ in spans]

    def split(self, ns: NormalizedString) -> list[NormalizedString]:
        return [ns.slice(s, e) for s, e in split_spans(self.pattern, ns.text, self.behavior, self.invert)]

    def split_words(self, text: str) -> list[Word] | None:
        if self.keep_matches_only:
            return [(m.group(), m.start(), None) for m in self.pattern.finditer(text) if m.end() > m.start()]
        return [(text[s:e], s, None) for s, e in split_spans(self.pattern, text, self.behavior, self.invert)]


class BertPreTokenizer(_RegexSplit):
    """Split on whitespace (removed) and isolate each punctuation character."""

    type_name = "BertPreTokenizer"
    pattern = regex.compile(rf"[^{WS}{PUNCT}]+|[{PUNCT}]")
    ascii_pattern = re.compile(rf"[^{_ASCII_WS}{_ASCII_PUNCT}]+|[{_ASCII_PUNCT}]")
    behavior, invert, keep_matches_only = "Removed", True, True


class Whitespace(_RegexSplit):
    type_name = "Whitespace"
    pattern = regex.compile(rf"[{WORD}]+|[^{WORD}{WS}]+")
    ascii_pattern = re.compile(rf"[A-Za-z0-9_]+|[^A-Za-z0-9_{_ASCII_WS}]+")
    behavior, invert, keep_matches_only = "Removed", True, True


class WhitespaceSplit(_RegexSplit):
    type_name = "WhitespaceSplit"
    pattern = regex.compile(rf"[^{WS}]+")
    ascii_pattern = re.compile(rf"[^{_ASCII_WS}]+")
    behavior, invert, keep_matches_only = "Removed", True, True


class CharDelimiterSplit(_RegexSplit):
    type_name = "CharDelimiterSplit"

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.pattern = regex.compile(regex.escape(delimiter))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "delimiter": self.delimiter}


class Punctuation(_RegexSplit):
    type_name = "Punctuation"

    def __init__(self, behavior: str = "Isolated") -> None:
        self.behavior = behavior
        self.pattern = regex.compile(rf"[{PUNCT}]")

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "behavior": self.behavior}


class Digits(_RegexSplit):
    type_name = "Digits"

    def __init__(self, individual_digits: bool = False) -> None:
        self.individual_digits = individual_digits
        self.pattern = regex.compile(r"[\p{Nd}\p{Nl}\p{No}]")
        self.behavior = "Isolated" if individual_digits else "Contiguous"

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "individual_digits": self.individual_digits}


class Split(_RegexSplit):
    type_name = "Split"

    def __init__(self, pattern: Any, behavior: str = "Isolated", invert: bool = False) -> None:
        if behavior not in BEHAVIORS:
            raise InvalidTokenizerFileError(f"Split pre-tokenizer: unknown behavior {behavior!r}; use one of {BEHAVIORS}")
        self.pattern, self.pattern_json = compile_pattern(pattern, "Split pre-tokenizer")
        self.behavior, self.invert = behavior, invert

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "pattern": self.pattern_json, "behavior": self.behavior, "invert": self.invert}


class ByteLevel(PreTokenizer):
    """GPT-2: optional prefix space, GPT-2 regex split, then each UTF-8 byte becomes one printable character."""

    type_name = "ByteLevel"
    maps_bytes = True
    regex_pattern = regex.compile(GPT2_PATTERN)

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True) -> None:
        self.add_prefix_space = add_prefix_space
        self.trim_offsets = trim_offsets
        self.use_regex = use_regex

    def _matcher(self, text: str) -> Any:
        return GPT2_ASCII if text.isascii() else self.regex_pattern

    def split_str(self, text: str, at_start: bool = True) -> list[str]:
        return [byte_level_str(p) for p in self.find_words(text)]

    def find_words(self, text: str) -> list[str]:
        if self.add_prefix_space and text and not text.startswith(" "):
            text = " " + text
        if not self.use_regex:
            return [text] if text else []
        return self._matcher(text).findall(text)

    def find_word_spans(self, text: str) -> WordSpans | None:
        if self.add_prefix_space and text and not text.startswith(" "):
            return None  # the inserted space maps onto the first char: left to split_words
        if not self.use_regex:
            return ([text], [0]) if text else ([], [])
        words = self._matcher(text).findall(text)  # the pattern matches every char: words tile the text
        return words, list(accumulate(map(len, words[:-1]), initial=0)) if words else []

    def split(self, ns: NormalizedString) -> list[NormalizedString]:
        if self.add_prefix_space and ns.text and not ns.text.startswith(" "):
            ns.prepend(" ")
        if self.use_regex:
            pieces = [ns.slice(s, e) for s, e in split_spans(self.regex_pattern, ns.text, "Isolated")]
        else:
            pieces = [ns] if ns.text else []
        for piece in pieces:
            if piece.text.isascii():
                piece.text = byte_level_str(piece.text)
            else:
                piece.map_chars(byte_level_str)
        return pieces

    def split_words(self, text: str) -> list[Word] | None:
        shift = 1 if self.add_prefix_space and text and not text.startswith(" ") else 0
        if shift:
            text = " " + text
        if self.use_regex:
            if text.isascii():  # one translate for the whole text; words are slices at the same positions
                mapped = text.translate(_LATIN1_TO_BYTECHAR)
                return [(mapped[m.start() : m.end()], m.start() - shift, None) if m.start() or not shift
                        else (mapped[: m.end()], 0, [0] + list(range(m.end() - 1)))
                        for m in self.regex_pattern.finditer(text)]
            matches = [(m.group(), m.start()) for m in self.regex_pattern.finditer(text)]
        else:
            matches = [(text, 0)] if text else []
        out: list[Word] = []
        for piece, start in matches:
            word = byte_level_str(piece)
            if len(word) == len(piece) and not (shift and start == 0):
                out.append((word, start - shift, None))
                continue
            src: list[int] = []
            for j, c in enumerate(piece):
                src.extend([max(0, start + j - shift)] * len(c.encode("utf-8")))
            out.append((word, 0, src))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "add_prefix_space": self.add_prefix_space,
            "trim_offsets": self.trim_offsets,
            "use_regex": self.use_regex,
        }


class Metaspace(PreTokenizer):
    """SentencePiece style: spaces become ``replacement`` (▁), optionally prepended, split before each ▁."""

    type_name = "Metaspace"

    def __init__(self, replacement: str = "▁", prepend_scheme: str = "always", split: bool = True) -> None:
        if prepend_scheme not in ("always", "first", "never"):
            raise InvalidTokenizerFileError(f"Metaspace: prepend_scheme must be always/first/never, not {prepend_scheme!r}")
        self.replacement = replacement
        self.prepend_scheme = prepend_scheme
        self.split_on_replacement = split
        self._space = regex.compile(" ")
        self._rep = regex.compile(regex.escape(replacement))

    def _wants_prefix(self, text: str, at_start: bool) -> bool:
        if not text or text.startswith(self.replacement):
            return False
        return self.prepend_scheme == "always" or (self.prepend_scheme == "first" and at_start)

    def split_str(self, text: str, at_start: bool = True) -> list[str]:
        text = text.replace(" ", self.replacement)
        if self._wants_prefix(text, at_start):
            text = self.replacement + text
        if not self.split_on_replacement:
            return [text] if text else []
        return [text[s:e] for s, e in split_spans(self._rep, text, "MergedWithNext")]

    def split(self, ns: NormalizedString) -> list[NormalizedString]:
        ns.replace(self._space, self.replacement)
        if self._wants_prefix(ns.text, ns.base == 0):
            ns.prepend(self.replacement)
        if not self.split_on_replacement:
            return [ns] if ns.text else []
        return [ns.slice(s, e) for s, e in split_spans(self._rep, ns.text, "MergedWithNext")]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "replacement": self.replacement,
            "prepend_scheme": self.prepend_scheme,
            "split": self.split_on_replacement,
        }


def _script_names() -> list[str]:
    """One name per Unicode script known to the ``regex`` module (its property table), Han-like ones excluded."""
    try:
        from regex import _regex_core

        table: dict[str, int] = _regex_core.PROPERTIES["SCRIPT"][1]
    except (ImportError, AttributeError, KeyError, IndexError):  # pragma: no cover - other regex versions
        return ["Latin", "Greek", "Cyrillic", "Arabic", "Hebrew", "Hangul", "Thai", "Devanagari", "Inherited"]
    longest: dict[int, str] = {}
    for name, value in table.items():
        if len(name) > len(longest.get(value, "")):
            longest[value] = name
    skip = {"HAN", "HIRAGANA", "KATAKANA", "COMMON", "LATIN", "UNKNOWN"}
    return ["Latin", *sorted(n for n in longest.values() if n not in skip and not n.startswith("QAA"))]


class UnicodeScripts(PreTokenizer):
    """Split where the Unicode script changes (the reference's rules: Hiragana, Katakana and U+30FC count as Han;
    a space belongs to no script, so it joins the run before it, and spaces before the first run are dropped).

    Private-use and unassigned characters behave like the space, as in the reference. The reference's script
    table is older (about Unicode 9): characters assigned since then get their real script here, where the
    reference treats them like spaces."""

    type_name = "UnicodeScripts"
    _pattern: regex.Pattern[str] | None = None

    @classmethod
    def pattern(cls) -> regex.Pattern[str]:
        if cls._pattern is None:  # built on first use: about 160 script classes
            han = r"[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\u30fc]"
            common = r"(?:(?![ \u30fc])\p{sc=Common})"
            classes = [han, common, *(rf"\p{{sc={name}}}" for name in _script_names())]
            no_script = r"[ \p{Co}\p{Cn}]"
            runs = [rf"{c}(?:{no_script}|{c})*" for c in classes]
            # the last alternative: a char of a script missing from the list (never dropped)
            cls._pattern = regex.compile("|".join([*runs, r"[^ \p{Co}\p{Cn}]"]))
        return cls._pattern

    def split_str(self, text: str, at_start: bool = True) -> list[str]:
        return self.pattern().findall(text)

    def find_words(self, text: str) -> list[str]:
        return self.split_str(text)

    def find_word_spans(self, text: str) -> WordSpans:
        return match_spans(self.pattern(), text)

    def split(self, ns: NormalizedString) -> list[NormalizedString]:
        return [ns.slice(*m.span()) for m in self.pattern().finditer(ns.text)]


class Sequence(PreTokenizer):
    type_name = "Sequence"

    def __init__(self, pretokenizers: list[PreTokenizer]) -> None:
        self.pretokenizers = pretokenizers

    def split_str(self, text: str, at_start: bool = True) -> list[str]:
        pieces = [text]
        for pre in self.pretokenizers:
            out: list[str] = []
            for i, piece in enumerate(pieces):
                out.extend(pre.split_str(piece, at_start and i == 0))
            pieces = out
        return pieces

    def split(self, ns: NormalizedString) -> list[NormalizedString]:
        pieces = [ns]
        for pre in self.pretokenizers:
            pieces = [out for piece in pieces for out in pre.split(piece)]
        return pieces

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "pretokenizers": [p.to_json() for p in self.pretokenizers]}


def _metaspace_from_json(d: dict[str, Any]) -> Metaspace:
    scheme = d.get("prepend_scheme")
    if scheme is None:  # tokenizer.json files from before prepend_scheme existed
        scheme = "always" if d.get("add_prefix_space", True) else "never"
    return Metaspace(d.get("replacement", "▁"), scheme, d.get("split", True))


def from_json(d: dict[str, Any] | None) -> PreTokenizer | None:
    if d is None:
        return None
    kind = require(d, "type", "pre_tokenizer")
    simple: dict[str, type[PreTokenizer]] = {
        "BertPreTokenizer": BertPreTokenizer, "Whitespace": Whitespace, "WhitespaceSplit": WhitespaceSplit,
        "UnicodeScripts": UnicodeScripts,
    }
    if kind in simple:
        return simple[kind]()
    if kind == "ByteLevel":
        return ByteLevel(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))
    if kind == "Metaspace":
        return _metaspace_from_json(d)
    if kind == "Split":
        return Split(require(d, "pattern", "Split"), d.get("behavior", "Isolated"), d.get("invert", False))
    if kind == "Punctuation":
        return Punctuation(d.get("behavior", "Isolated"))
    if kind == "Digits":
        return Digits(d.get("individual_digits", False))
    if kind == "CharDelimiterSplit":
        return CharDelimiterSplit(str(require(d, "delimiter", "CharDelimiterSplit")))
    if kind == "Sequence":
        items = require(d, "pretokenizers", "Sequence pre_tokenizer")
        return Sequence([p for p in (from_json(x) for x in items) if p])  # type: ignore[attr-defined]
    raise unknown_type(
        "pre_tokenizer", kind, [*simple, "ByteLevel", "Metaspace", "Split", "Punctuation", "Digits", "Sequence"]
    )
