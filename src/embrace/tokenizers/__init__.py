"""embrace.tokenizers: the tokenizer library (what ``tokenizers`` provides), compatible with ``tokenizer.json``.

``from embrace.tokenizers import Tokenizer, AddedToken, Encoding, models, normalizers, pre_tokenizers, processors,
decoders`` mirrors ``from tokenizers import ...``.
"""

from __future__ import annotations

import importlib
from typing import Any

from embrace.tokenizers import decoders, models, normalizers, pre_tokenizers, processors
from embrace.tokenizers.added_tokens import AddedToken
from embrace.tokenizers.encoding import Encoding
from embrace.tokenizers.normalizers import NormalizedString
from embrace.tokenizers.tokenizer import Tokenizer

__all__ = [
    "AddedToken",
    "Encoding",
    "NormalizedString",
    "Tokenizer",
    "decoders",
    "models",
    "normalizers",
    "pre_tokenizers",
    "processors",
]


def __getattr__(name: str) -> Any:
    if name in ("trainers", "legacy"):  # built by the trainers/legacy formats work; loaded on first use
        return importlib.import_module(f"embrace.tokenizers.{name}")
    raise AttributeError(f"module 'embrace.tokenizers' has no attribute {name!r}")
