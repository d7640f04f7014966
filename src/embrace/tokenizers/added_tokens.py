"""Added tokens (tokenizer.json ``added_tokens``): literal strings that are never split by the model.

Tokens with ``normalized=False`` are matched in the original text before normalization; ``normalized=True`` ones
in the normalized text. Matching is leftmost-longest; ``single_word`` requires word boundaries around the
match, ``lstrip``/``rstrip`` make the match swallow neighbouring whitespace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex

from embrace.tokenizers.errors import InvalidTokenizerFileError, require

_WS_CHARS = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_WORD_CHAR = regex.compile(r"[\p{Alphabetic}\p{Nd}\p{Nl}\p{No}_]")


@dataclass
class AddedToken:
    """One added token; ``normalized`` defaults to ``not special`` like the reference."""

    content: str
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool | None = None
    special: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.content, str):
            raise InvalidTokenizerFileError(f"added token content must be a string, got {self.content!r}")
        if self.normalized is None:
            self.normalized = not self.special

    def __str__(self) -> str:
        return self.content

    def to_json(self, id_: int) -> dict[str, Any]:
        return {
            "id": id_,
            "content": self.content,
            "single_word": self.single_word,
            "lstrip": self.lstrip,
            "rstrip": self.rstrip,
            "normalized": self.normalized,
            "special": self.special,
        }


Split = tuple[int, int, int | None]  # (start, end, token id or None for plain text)


class AddedVocabulary:
    def __init__(self) -> None:
        self.tokens: dict[int, AddedToken] = {}
        self.ids: dict[str, int] = {}
        self._raw: regex.Pattern[str] | None = None
        self._norm: regex.Pattern[str] | None = None
        self._norm_ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def special_ids(self) -> set[int]:
        return {i for i, t in self.tokens.items() if t.special}

    def add(self, token: AddedToken, id_: int) -> None:
        old = self.ids.get(token.content)
        if old is not None and old != id_:
            del self.tokens[old]
        self.tokens[id_] = token
        self.ids[token.content] = id_

    def refresh(self, normalize: Callable[[str], str] | None) -> None:
        """Rebuild the match patterns (call after adding tokens or changing the normalizer)."""
        raw = [t for t in self.tokens.values() if not t.normalized and t.content]
        norm = [t for t in self.tokens.values() if t.normalized and t.content]
        self._raw = self._pattern([t.content for t in raw])
        self._norm_ids = {}
        for t in norm:
            key = normalize(t.content) if normalize else t.content
            self._norm_ids.setdefault(key, self.ids[t.content])
        self._norm = self._pattern(list(self._norm_ids))

    @staticmethod
    def _pattern(contents: list[str]) -> regex.Pattern[str] | None:
        if not contents:
            return None
        ordered = sorted(set(contents), key=lambda c: (-len(c), c))  # alternation order gives leftmost-longest
        return regex.compile("|".join(regex.escape(c) for c in ordered))

    def has_raw(self) -> bool:
        return self._raw is not None

    def has_normalized(self) -> bool:
        return self._norm is not None

    def split_raw(self, text: str) -> list[Split]:
        return self._split(text, self._raw, self.ids)

    def split_normalized(self, text: str) -> list[Split]:
        return self._split(text, self._norm, self._norm_ids)

    def _split(self, text: str, pattern: regex.Pattern[str] | None, ids: dict[str, int]) -> list[Split]:
        if pattern is None or not text:
            return [(0, len(text), None)] if text else []
        out: list[Split] = []
        last = 0
        n = len(text)
        for m in pattern.finditer(text):
            start, stop = m.span()
            id_ = ids[m.group()]
            tok = self.tokens[id_]
            if tok.single_word:
                before_ok = start == 0 or not _WORD_CHAR.match(text[start - 1])
                after_ok = stop == n or not _WORD_CHAR.match(text[stop])
                if not (before_ok and after_ok):
                    continue
            if tok.lstrip:
                s = start
                while s > 0 and text[s - 1] in _WS_CHARS:
                    s -= 1
                start = max(s, last)
            if tok.rstrip:
                while stop < n and text[stop] in _WS_CHARS:
                    stop += 1
            if last < start:
                out.append((last, start, None))
            out.append((start, stop, id_))
            last = stop
        if last < n:
            out.append((last, n, None))
        return out


def from_json(items: Any) -> list[tuple[int, AddedToken]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise InvalidTokenizerFileError("added_tokens must be a list of token objects")
    out = []
    for d in items:
        id_ = require(d, "id", "added token")
        content = require(d, "content", "added token")
        if not isinstance(id_, int):
            raise InvalidTokenizerFileError(f"added token {content!r}: id must be an integer, got {id_!r}")
        out.append(
            (
                id_,
                AddedToken(
                    content,  # type: ignore[arg-type]
                    d.get("single_word", False),
                    d.get("lstrip", False),
                    d.get("rstrip", False),
                    d.get("normalized"),
                    d.get("special", False),
                ),
            )
        )
    return out
