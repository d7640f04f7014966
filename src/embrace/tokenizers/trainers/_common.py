"""Pieces shared by the trainers: special-token specs, alphabet options, word counting and progress bars."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from embrace.errors import EmbraceError


class TrainerError(EmbraceError, ValueError):
    """Trainer settings are invalid (vocab too small, bad special tokens) or training input is not text."""


def special_token_entry(token: Any) -> dict[str, Any]:
    """The tokenizer.json ``added_tokens`` entry (without id) for a trainer's special token.

    Accepts a string (special, not normalized, as the reference's trainers do), a dict with at least
    ``content``, or any object with the AddedToken attributes (``content``, ``lstrip``, ...).
    """
    if isinstance(token, str):
        return {"content": token, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}
    if isinstance(token, dict):
        if not isinstance(token.get("content"), str):
            raise TrainerError(f"special token {token!r} has no string 'content'; pass a str or an AddedToken")
        special = bool(token.get("special", True))
        return {"content": token["content"], "single_word": bool(token.get("single_word", False)),
                "lstrip": bool(token.get("lstrip", False)), "rstrip": bool(token.get("rstrip", False)),
                "normalized": bool(token.get("normalized", not special)), "special": special}
    content = getattr(token, "content", None)
    if not isinstance(content, str):
        raise TrainerError(f"special token {token!r} is neither a str nor an AddedToken-like object")
    special = bool(getattr(token, "special", True))
    return {"content": content, "single_word": bool(getattr(token, "single_word", False)),
            "lstrip": bool(getattr(token, "lstrip", False)), "rstrip": bool(getattr(token, "rstrip", False)),
            "normalized": bool(getattr(token, "normalized", not special)), "special": special}


def special_token_entries(tokens: Iterable[Any]) -> list[dict[str, Any]]:
    return [special_token_entry(t) for t in tokens]


def alphabet_chars(initial_alphabet: Iterable[str]) -> list[str]:
    """The reference keeps the first character of every ``initial_alphabet`` string (empty strings are dropped)."""
    chars: list[str] = []
    for s in initial_alphabet:
        if not isinstance(s, str):
            raise TrainerError(f"initial_alphabet must hold strings, got {type(s).__name__}")
        if s and s[0] not in chars:
            chars.append(s[0])
    return chars


def check_word_counts(word_counts: Any) -> dict[str, int]:
    if not hasattr(word_counts, "items"):
        raise TrainerError(f"word counts must be a mapping str -> int, got {type(word_counts).__name__}")
    return word_counts if isinstance(word_counts, dict) else dict(word_counts.items())


class Progress:
    """A tqdm bar when asked for (and tqdm importable), else a no-op; updates are batched to stay cheap."""

    def __init__(self, enabled: bool, total: int | None, desc: str) -> None:
        self._bar: Any = None
        self._pending = 0
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc)

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._pending += n
            if self._pending >= 256:
                self._bar.update(self._pending)
                self._pending = 0

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(self._pending)
            self._bar.close()
            self._bar = None


def iter_texts(iterator: Iterable[Any]) -> Iterator[str]:
    """Flattens the items ``train_from_iterator`` accepts: strings, or lists/tuples of strings (batches)."""
    for item in iterator:
        if isinstance(item, str):
            yield item
        elif isinstance(item, list | tuple):
            for text in item:
                if not isinstance(text, str):
                    raise TrainerError(f"training batches must hold strings, got {type(text).__name__}")
                yield text
        else:
            raise TrainerError(f"training input must be str or a list of str, got {type(item).__name__}")
