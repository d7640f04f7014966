"""Typed errors of the pipelines: each says what was wrong with the call and what to pass instead."""

from __future__ import annotations

from embrace.errors import EmbraceError, EmbraceFileNotFoundError


class PipelineInputError(EmbraceError, ValueError):
    """An input or argument a pipeline cannot use (empty text, wrong type, top_k <= 0, unknown argument)."""


class UnknownTaskError(EmbraceError, KeyError):
    """``pipeline(task)`` names a task embrace does not know; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PipelineModelError(EmbraceError, ValueError):
    """The model cannot serve the task (e.g. a model without the needed head, or no tokenizer)."""


class DefaultModelMissingError(EmbraceFileNotFoundError):
    """``pipeline(task)`` without a model: the task's default model is not in the HF cache."""
