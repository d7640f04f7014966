"""Typed errors and warnings of the datasets area."""

from __future__ import annotations

from embrace.errors import EmbraceError, EmbraceFileNotFoundError


class SchemaError(EmbraceError, ValueError):
    """Rows do not match the declared or inferred column types; the message names the row and column."""


class DatasetNotFoundError(EmbraceFileNotFoundError):
    """A data file, folder or hub dataset repo that was asked for does not exist."""


class CorruptDatasetError(EmbraceError, ValueError):
    """A saved dataset or cache file is truncated or unreadable."""


class UnhashableFunctionWarning(UserWarning):
    """A map/filter function could not be fingerprinted: its result gets a random fingerprint and is not cached."""


class BadRowsWarning(UserWarning):
    """Some input rows could not be parsed; ``rows`` lists ``(source, line_or_row, reason, raw_text)``."""

    def __init__(self, message: str, rows: list[tuple[str, int, str, str]]) -> None:
        super().__init__(message)
        self.rows = rows
