"""Typed errors shared across embrace. Each message says what went wrong, where, and what to do."""

from __future__ import annotations


class EmbraceError(Exception):
    """Base class of every error embrace raises on purpose."""


class EmbraceFileNotFoundError(EmbraceError, FileNotFoundError):
    """A folder, repo or file that was asked for does not exist (locally or in the cache)."""


class EntryNotFoundError(EmbraceFileNotFoundError):
    """The repo or folder exists but does not contain the requested file."""


class OfflineModeError(EmbraceFileNotFoundError):
    """A file is not in the cache and offline mode (HF_HUB_OFFLINE=1) forbids fetching it."""


class InvalidConfigError(EmbraceError, ValueError):
    """A config file is not valid JSON or lacks a required field."""


class UnknownModelTypeError(EmbraceError, ValueError):
    """config.json names a model_type embrace does not support."""


class CheckpointError(EmbraceError, ValueError):
    """A weights file is corrupt, truncated, or does not match the model (missing keys, shapes)."""


class VocabularyMismatchError(EmbraceError, ValueError):
    """Token ids outside the model's vocabulary: the tokenizer does not belong to the model."""
