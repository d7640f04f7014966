"""Typed errors of the tokenizer library; each message says what was wrong and what to do."""

from __future__ import annotations

from embrace.errors import EmbraceError


class TokenizerError(EmbraceError, ValueError):
    """Base class of tokenizer errors (bad tokenizer.json, bad input, bad arguments)."""


class InvalidTokenizerFileError(TokenizerError):
    """tokenizer.json (or a dict in its shape) is not valid JSON or lacks a required field."""


class UnknownComponentError(InvalidTokenizerFileError):
    """tokenizer.json names a normalizer / pre-tokenizer / model / processor / decoder type embrace lacks."""


class TokenizerInputError(TokenizerError, TypeError):
    """The text given to encode is not a string (or a list of strings when pre-tokenized)."""


class TokenIdError(TokenizerError, IndexError):
    """An id given to decode / id_to_token is outside the vocabulary."""


class TruncationError(TokenizerError):
    """Truncation settings cannot be satisfied (sequence too short, stride >= max_length, missing pair)."""


def require(d: dict, key: str, where: str) -> object:
    """``d[key]`` or an InvalidTokenizerFileError naming the component and the missing field."""
    if not isinstance(d, dict):
        raise InvalidTokenizerFileError(f"{where}: expected a JSON object, got {type(d).__name__}")
    if key not in d:
        raise InvalidTokenizerFileError(f"{where}: missing field {key!r} in {sorted(d)}; is the tokenizer.json complete?")
    return d[key]


def unknown_type(kind: str, type_name: object, known: object) -> UnknownComponentError:
    return UnknownComponentError(
        f"unknown {kind} type {type_name!r} in tokenizer.json; embrace supports {sorted(known)}"  # type: ignore[call-overload]
    )
