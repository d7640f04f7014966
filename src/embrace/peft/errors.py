"""Typed errors of the adapter code. Each subclasses ``ValueError`` too, as the PEFT library raises ValueError."""

from __future__ import annotations

from embrace.errors import CheckpointError, EmbraceError, InvalidConfigError


class AdapterError(EmbraceError, ValueError):
    """Base of the adapter errors."""


class AdapterConfigError(AdapterError, InvalidConfigError):
    """An adapter config has an invalid value, or switches on a PEFT feature embrace does not implement."""


class TargetModulesNotFoundError(AdapterError):
    """``target_modules`` (or ``modules_to_save``) matched no module of the base model."""


class UnsupportedTargetError(AdapterError):
    """A matched module is of a type LoRA cannot wrap (only Linear, Embedding and GPT-2 Conv1D are supported)."""


class UnknownAdapterError(AdapterError):
    """An adapter name that was never added (or was deleted)."""


class AdapterWeightsError(AdapterError, CheckpointError):
    """An adapter file does not fit the model: shape mismatch (adapter of another base), missing or extra keys."""
