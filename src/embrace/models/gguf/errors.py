"""Typed errors for GGUF files. All subclass :class:`embrace.errors.CheckpointError`."""

from __future__ import annotations

from embrace.errors import CheckpointError


class GGUFError(CheckpointError):
    """A GGUF file cannot be read or converted."""


class GGUFFormatError(GGUFError):
    """The file is not a well-formed GGUF file (bad magic, malformed header or metadata)."""


class GGUFTruncatedError(GGUFFormatError):
    """The file ends before its header, metadata or tensor data does: it is truncated."""


class GGUFVersionError(GGUFError):
    """The GGUF version (or byte order) is one this reader does not support."""


class GGUFQuantTypeError(GGUFError):
    """A tensor uses a ggml quantisation type that cannot be dequantised here."""


class GGUFArchitectureError(GGUFError):
    """The model architecture or tokenizer type named in the metadata has no mapping to Hugging Face names."""
