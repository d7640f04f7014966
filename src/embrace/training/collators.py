"""Data collators: turn a list of examples (dicts of token ids) into a batch of tensors.

Same outputs as the reference collators given the same features. They only use the tokenizer's HF-compatible
interface: ``pad(...)``, ``pad_token_id``, ``padding_side``, ``mask_token_id``/``mask_token``,
``convert_tokens_to_ids``, ``get_special_tokens_mask`` (or ``all_special_ids``) and ``len()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from embrace.errors import EmbraceError


class CollatorError(EmbraceError, ValueError):
    """A collator was configured wrongly or got features it cannot batch."""


def default_data_collator(features: Sequence[Any], return_tensors: str = "pt") -> dict[str, Any]:
    """Stack already-equal-length features into tensors. ``label``/``label_ids`` become ``labels`` (long for ints,
    float otherwise); string and ``None`` values are dropped. Features may be dicts or objects (``vars`` is used)."""
    if return_tensors != "pt":
        raise CollatorError(f"default_data_collator supports return_tensors='pt' only, got {return_tensors!r}")
    rows: list[Mapping[str, Any]] = [f if isinstance(f, Mapping) else vars(f) for f in features]
    first = rows[0]
    batch: dict[str, Any] = {}
    if first.get("label") is not None:
        label = first["label"].item() if isinstance(first["label"], torch.Tensor) else first["label"]
        dtype = torch.long if isinstance(label, (int, np.integer)) else torch.float
        batch["labels"] = torch.tensor([f["label"] for f in rows], dtype=dtype)
    elif first.get("label_ids") is not None:
        if isinstance(first["label_ids"], torch.Tensor):
            batch["labels"] = torch.stack([f["label_ids"] for f in rows])
        else:
            dtype = torch.long if isinstance(first["label_ids"][0], (int, np.integer)) else torch.float
            batch["labels"] = torch.tensor([f["label_ids"] for f in rows], dtype=dtype)
    for key, value in first.items():
        if key in ("label", "label_ids") or value is None or isinstance(value, str):
            continue
        if isinstance(value, torch.Tensor):
            batch[key] = torch.stack([f[key] for f in rows])
        elif isinstance(value, np.ndarray):
            batch[key] = torch.from_numpy(np.stack([f[key] for f in rows]))
        else:
            batch[key] = torch.tensor([f[key] for f in rows])
    return batch


def _pad(tokenizer: Any, features: Sequence[Mapping[str, Any]], padding: bool | str, max_length: int | None,
         pad_to_multiple_of: int | None, return_tensors: str | None = "pt") -> dict[str, Any]:
    batch = tokenizer.pad(features, padding=padding, max_length=max_length, pad_to_multiple_of=pad_to_multiple_of,
                          return_tensors=return_tensors)
    return dict(batch)


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, (torch.Tensor, np.ndarray)) else list(values)


def _pad_labels(labels: list[Any], length: int, pad_id: int, side: str) -> torch.Tensor:
    rows = []
    for label in labels:
        values = _as_list(label)
        fill = [pad_id] * (length - len(values))
        rows.append(values + fill if side == "right" else fill + values)
    return torch.tensor(rows, dtype=torch.int64)


def _label_name(features: Sequence[Mapping[str, Any]]) -> str:
    return "label" if "label" in features[0] else "labels"


@dataclass
class DataCollatorWithPadding:
    """Pad ``input_ids``/``attention_mask``/... with ``tokenizer.pad``; rename ``label``/``label_ids`` to
    ``labels``. ``padding``: True/'longest', 'max_length' or False/'do_not_pad'."""

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"

    def __call__(self, features: list[Mapping[str, Any]]) -> dict[str, Any]:
        batch = _pad(self.tokenizer, list(features), self.padding, self.max_length, self.pad_to_multiple_of,
                     self.return_tensors)
        for old in ("label", "label_ids"):
            if old in batch:
                batch["labels"] = batch.pop(old)
        return batch


@dataclass
class DataCollatorForTokenClassification:
    """Pad inputs with the tokenizer and per-token labels with ``label_pad_token_id`` (-100) on the tokenizer's
    padding side, to the padded ``input_ids`` length. Labels come out int64, shape (batch, seq)."""

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    return_tensors: str = "pt"

    def __call__(self, features: list[Mapping[str, Any]]) -> dict[str, Any]:
        name = _label_name(features)
        labels = [f[name] for f in features] if name in features[0] else None
        inputs = [{k: v for k, v in f.items() if k != name} for f in features]
        batch = _pad(self.tokenizer, inputs, self.padding, self.max_length, self.pad_to_multiple_of)
        if labels is None:
            return batch
        batch[name] = _pad_labels(labels, batch["input_ids"].shape[1], self.label_pad_token_id,
                                  self.tokenizer.padding_side)
        return batch


@dataclass
class DataCollatorForSeq2Seq:
    """Pad encoder inputs with the tokenizer and ``labels`` with -100 to the longest label (or ``max_length`` with
    ``padding='max_length'``, rounded up to ``pad_to_multiple_of``). With a ``model`` that has
    ``prepare_decoder_input_ids_from_labels``, also adds ``decoder_input_ids``."""

    tokenizer: Any
    model: Any | None = None
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    return_tensors: str = "pt"

    def __call__(self, features: list[Mapping[str, Any]], return_tensors: str | None = None) -> dict[str, Any]:
        return_tensors = return_tensors or self.return_tensors
        if return_tensors != "pt":
            raise CollatorError(f"DataCollatorForSeq2Seq supports return_tensors='pt' only, got {return_tensors!r}")
        name = _label_name(features)
        labels = [f[name] for f in features] if name in features[0] else None
        if labels is not None and all(label is None for label in labels):
            labels = None
        inputs = [{k: v for k, v in f.items() if k != name} for f in features]
        batch = _pad(self.tokenizer, inputs, self.padding, self.max_length, self.pad_to_multiple_of, return_tensors)
        padding = getattr(self.padding, "value", self.padding)
        if labels is None:
            batch["labels"] = None
        elif padding is False or padding == "do_not_pad":
            # unpadded labels of different lengths cannot become one tensor: keep them as lists, as the reference
            batch["labels"] = [_as_list(label) for label in labels]
            if len({len(label) for label in labels}) == 1:
                batch["labels"] = torch.tensor(batch["labels"], dtype=torch.int64)
        else:
            if padding == "max_length" and self.max_length is not None:
                length = self.max_length
            else:
                length = max(len(label) for label in labels)
            if self.pad_to_multiple_of is not None:
                multiple = self.pad_to_multiple_of
                length = (length + multiple - 1) // multiple * multiple
            batch["labels"] = _pad_labels(labels, length, self.label_pad_token_id, self.tokenizer.padding_side)
        if labels is not None and self.model is not None and hasattr(self.model, "prepare_decoder_input_ids_from_labels"):
            batch["decoder_input_ids"] = self.model.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
        return batch


def _collate_ids(examples: list[Any], tokenizer: Any, pad_to_multiple_of: int | None) -> torch.Tensor:
    """Stack lists/tensors of ids, padding with ``pad_token_id`` on ``padding_side`` when lengths differ."""
    tensors = [e if isinstance(e, torch.Tensor) else torch.tensor(e, dtype=torch.long) for e in examples]
    longest = max(t.size(0) for t in tensors)
    same = all(t.size(0) == longest for t in tensors)
    if same and (pad_to_multiple_of is None or longest % pad_to_multiple_of == 0):
        return torch.stack(tensors)
    if tokenizer.pad_token_id is None:
        raise CollatorError("these examples need padding but the tokenizer has no pad token; set tokenizer.pad_token")
    if pad_to_multiple_of is not None and longest % pad_to_multiple_of:
        longest = (longest // pad_to_multiple_of + 1) * pad_to_multiple_of
    out = tensors[0].new_full((len(tensors), longest), tokenizer.pad_token_id)
    for i, t in enumerate(tensors):
        if tokenizer.padding_side == "right":
            out[i, : t.size(0)] = t
        else:
            out[i, out.size(1) - t.size(0):] = t
    return out


@dataclass
class DataCollatorForLanguageModeling:
    """Batches for language modelling.

    ``mlm=True``: BERT-style masking. Each non-special token is selected with ``mlm_probability``; selected tokens
    get label = their id (others -100); of those, ``mask_replace_prob`` become the mask token, ``random_replace_prob``
    a random id in ``range(len(tokenizer))``, the rest stay. ``seed`` makes masking reproducible with a private
    ``torch.Generator`` (same draws, in the same order, as the reference). ``mlm=False``: causal LM, labels are
    ``input_ids`` with padding set to -100 (the model shifts them).
    """

    tokenizer: Any
    mlm: bool = True
    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.return_tensors != "pt":
            raise CollatorError("DataCollatorForLanguageModeling supports return_tensors='pt' only")
        if self.mlm:
            if getattr(self.tokenizer, "mask_token_id", None) is None:
                raise CollatorError("this tokenizer has no mask token, which masked LM needs; pass mlm=False for a "
                                    "causal LM")
            if not 0 <= self.mlm_probability <= 1:
                raise CollatorError(f"mlm_probability must be in [0, 1], got {self.mlm_probability}")
        for name in ("mask_replace_prob", "random_replace_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise CollatorError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise CollatorError("mask_replace_prob + random_replace_prob must not exceed 1")
        self.generator: torch.Generator | None = None

    def __call__(self, examples: list[Any]) -> dict[str, Any]:
        if self.seed is not None and self.generator is None:
            worker = torch.utils.data.get_worker_info()
            self.generator = torch.Generator().manual_seed(self.seed + (worker.id if worker is not None else 0))
        if isinstance(examples[0], Mapping):
            batch = _pad(self.tokenizer, list(examples), True, None, self.pad_to_multiple_of)
        else:
            batch = {"input_ids": _collate_ids(list(examples), self.tokenizer, self.pad_to_multiple_of)}
        special_tokens_mask = batch.pop("special_tokens_mask", None)
        batch.pop("offset_mapping", None)
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.mask_tokens(batch["input_ids"], special_tokens_mask)
        else:
            labels = batch["input_ids"].clone()
            if self.tokenizer.pad_token_id is not None:
                labels[labels == self.tokenizer.pad_token_id] = -100
            batch["labels"] = labels
        return batch

    def _special_mask(self, ids: torch.Tensor) -> torch.Tensor:
        if hasattr(self.tokenizer, "get_special_tokens_mask"):
            rows = [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True) for row in ids.tolist()]
            return torch.tensor(rows, dtype=torch.bool)
        special = torch.tensor(sorted(set(self.tokenizer.all_special_ids)), dtype=ids.dtype)
        return torch.isin(ids, special)

    def mask_tokens(self, inputs: torch.Tensor, special_tokens_mask: Any | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked inputs and labels, both (batch, seq). ``inputs`` is modified in place, as in the reference."""
        labels = inputs.clone()
        probability = torch.full(labels.shape, self.mlm_probability)
        if special_tokens_mask is None:
            no_mask = self._special_mask(labels)
        elif isinstance(special_tokens_mask, torch.Tensor):
            no_mask = special_tokens_mask.bool()
        else:
            no_mask = torch.tensor(special_tokens_mask, dtype=torch.bool)
        probability.masked_fill_(no_mask, value=0.0)
        masked = torch.bernoulli(probability, generator=self.generator).bool()
        labels[~masked] = -100
        replaced = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob), generator=self.generator).bool()
        replaced &= masked
        inputs[replaced] = self.tokenizer.mask_token_id
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return inputs, labels
        scaled = self.random_replace_prob / (1 - self.mask_replace_prob)
        randomised = torch.bernoulli(torch.full(labels.shape, scaled), generator=self.generator).bool()
        randomised &= masked & ~replaced
        random_words = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long, generator=self.generator)
        inputs[randomised] = random_words[randomised]
        return inputs, labels
