"""``BatchEncoding``: what a tokenizer call returns (a dict with attribute access plus the pipeline encodings)."""

from __future__ import annotations

from collections import UserDict
from collections.abc import Callable, Sequence
from typing import Any

from embrace.tokenizers.encoding import Encoding
from embrace.tokenizers.errors import TokenizerError


class TensorConversionError(TokenizerError):
    """Outputs of different lengths cannot become one tensor (pad them) or the tensor type is unknown."""


def _to_tensor(value: Any, tensor_type: str) -> Any:
    try:
        if tensor_type == "pt":
            import torch

            return torch.tensor(value)
        if tensor_type == "np":
            import numpy as np

            return np.array(value)
    except ValueError as exc:
        raise TensorConversionError(
            "cannot build one tensor from sequences of different lengths; pass padding=True (and truncation=True)"
        ) from exc
    raise TensorConversionError(f"return_tensors must be 'pt', 'np' or None, not {tensor_type!r}")


class BatchEncoding(UserDict):
    """The tokenizer output: a dict (``input_ids``, ``attention_mask``, ...) with attribute access, the pipeline
    ``Encoding`` objects in ``.encodings``, and per-example helpers ``word_ids(i)``, ``sequence_ids(i)``."""

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        encoding: Encoding | Sequence[Encoding] | Callable[[], list[Encoding]] | None = None,
        tensor_type: str | None = None,
        n_sequences: int | None = None,
    ) -> None:
        super().__init__(data or {})
        if isinstance(encoding, Encoding):
            encoding = [encoding]
        # a callable computes the encodings on first use (the ids-only fast path builds the dict without them)
        self._lazy: Callable[[], list[Encoding]] | None = encoding if callable(encoding) else None
        self._encodings_list = list(encoding) if encoding is not None and not callable(encoding) else None
        self._n_sequences = n_sequences
        if tensor_type is not None:
            self.convert_to_tensors(tensor_type)

    def __getitem__(self, item: str | int) -> Any:
        if isinstance(item, str):
            return self.data[item]
        if self._encodings is not None:
            return self._encodings[item]
        raise KeyError(f"{item!r}: index with a key like 'input_ids' (no encodings are attached)")

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__") or item in ("data", "_encodings_list", "_lazy", "_n_sequences"):
            raise AttributeError(item)
        try:
            return self.data[item]
        except KeyError as exc:
            raise AttributeError(f"BatchEncoding has no key {item!r}; keys: {list(self.data)}") from exc

    @property
    def _encodings(self) -> list[Encoding] | None:
        if self._encodings_list is None and self._lazy is not None:
            self._encodings_list, self._lazy = self._lazy(), None
        return self._encodings_list

    @property
    def encodings(self) -> list[Encoding] | None:
        return self._encodings

    @property
    def is_fast(self) -> bool:
        return self._encodings_list is not None or self._lazy is not None

    @property
    def n_sequences(self) -> int | None:
        return self._n_sequences

    def _encoding(self, batch_index: int) -> Encoding:
        if not self._encodings:
            raise TokenizerError("this BatchEncoding has no encodings (it was not produced by a tokenizer call)")
        return self._encodings[batch_index]

    def tokens(self, batch_index: int = 0) -> list[str]:
        return self._encoding(batch_index).tokens

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding(batch_index).word_ids

    def words(self, batch_index: int = 0) -> list[int | None]:
        return self.word_ids(batch_index)

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding(batch_index).sequence_ids

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        batch, token = (0, batch_or_token_index) if token_index is None else (batch_or_token_index, token_index)
        return self._encoding(batch).word_ids[token]

    def char_to_token(self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0) -> int | None:
        batch, char = (0, batch_or_char_index) if char_index is None else (batch_or_char_index, char_index)
        return self._encoding(batch).char_to_token(char, sequence_index)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> tuple[int, int]:
        batch, token = (0, batch_or_token_index) if token_index is None else (batch_or_token_index, token_index)
        return self._encoding(batch).offsets[token]

    def convert_to_tensors(self, tensor_type: str | None = None) -> BatchEncoding:
        if tensor_type is None:
            return self
        tensor_type = getattr(tensor_type, "value", tensor_type)
        for key, value in self.data.items():
            if key == "overflow_to_sample_mapping" or not _is_tensor(value):
                self.data[key] = _to_tensor(value, str(tensor_type))
        return self

    def to(self, device: Any) -> BatchEncoding:
        """Move every torch tensor to ``device`` (a str, torch.device or int); returns self."""
        self.data = {k: (v.to(device=device) if hasattr(v, "to") and _is_tensor(v) else v) for k, v in self.data.items()}
        return self


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.split(".")[0] in ("torch", "numpy") and hasattr(value, "shape")
