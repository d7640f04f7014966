"""The ``Pipeline`` base: inputs -> ``preprocess`` -> batched ``_forward`` -> ``postprocess`` -> outputs.

Each task module subclasses :class:`Pipeline` and writes three steps:

- ``preprocess(item, **params) -> list[dict]``: one input becomes one or more *chunks* (a long QA context gives
  several spans, zero-shot gives one premise/hypothesis pair per label). A chunk holds 1-D tensors named like
  the model's inputs (``input_ids``, ``attention_mask``, ``token_type_ids``) plus anything else the
  postprocessing needs (offsets, masks, the original text), which rides along untouched.
- ``_forward(batch, **params) -> dict``: the model on a padded batch ``(batch, seq)``; returns tensors whose first
  dimension is the batch.
- ``postprocess(chunk_outputs, **params)``: the list of a single input's chunk outputs (model outputs without the
  batch dimension, padding removed from the outputs named in ``sequence_outputs``, plus the chunk's extra keys)
  -> the task's result.

Batching is padding-aware: chunks are sorted by length inside a window before they are cut into batches, so a
batch pads to similar lengths, and results come back in input order. A list gives a list, a generator (or any
iterator, or a dataset) gives a generator that reads its input lazily, one window at a time.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import torch

from embrace.pipelines.errors import PipelineInputError

# Model inputs that are padded and batched; everything else in a chunk passes through to postprocess.
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")
# How many batches' worth of chunks are read from an iterator and length-sorted together.
SORT_WINDOW_BATCHES = 8
PROGRESS_MIN_ITEMS = 256


class Pipeline:
    """A model + tokenizer that maps task inputs to task outputs; call it on one input, a list, or an iterator."""

    task: ClassVar[str] = ""
    # outputs with a sequence axis (dim 1 of the batched tensor): padding is cut from them before postprocess
    sequence_outputs: ClassVar[tuple[str, ...]] = ()
    # where _collate puts the padding: "left" for generation, so every row's next token follows its last one
    padding_side: ClassVar[str] = "right"

    def __init__(self, model: Any, tokenizer: Any = None, *, device: str | torch.device | int | None = None,
                 dtype: str | torch.dtype | None = None, batch_size: int | None = None, **task_args: Any) -> None:
        from embrace.models.modeling import to_torch_dtype

        self.device = _as_device(device) if device is not None else _model_device(model)
        torch_dtype = to_torch_dtype(None if dtype == "auto" else dtype)
        if hasattr(model, "to"):
            model = model.to(self.device) if torch_dtype is None else model.to(device=self.device, dtype=torch_dtype)
        if hasattr(model, "eval"):
            model.eval()
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = _check_batch_size(batch_size if batch_size is not None else 1)
        self._forward_names = _forward_parameters(model)
        self._default_params = self._sanitize_parameters(**task_args)

    # ---- the three steps subclasses write ----------------------------------------------------------------------
    def _sanitize_parameters(self, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Split call arguments into (preprocess, forward, postprocess) parameters; reject unknown ones."""
        if args or kwargs:
            raise PipelineInputError(f"{type(self).__name__} got unknown arguments: {', '.join(sorted(kwargs))}")
        return {}, {}, {}

    def preprocess(self, *args: Any, **params: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def preprocess_group(self, items: list[Any], **params: Any) -> list[list[dict[str, Any]]]:
        """``preprocess`` for a window of inputs; tasks whose inputs are plain texts override it to tokenize the
        window in one batch call (see :meth:`tokenize_texts`)."""
        return [self.preprocess(item, **params) for item in items]

    def _forward(self, *args: Any, **params: Any) -> dict[str, torch.Tensor]:
        outputs = self.model(**args[0])
        return {k: v for k, v in outputs.items() if isinstance(v, torch.Tensor)}

    def postprocess(self, *args: Any, **params: Any) -> Any:
        raise NotImplementedError

    # ---- running ------------------------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """One input -> one result; a list -> a list of results; an iterator / dataset -> a generator of results.

        ``batch_size`` overrides the pipeline's; ``progress_bar`` shows a tqdm bar (default: for lists of
        256 or more inputs when stderr is a terminal).
        """
        inputs, batch_size, progress_bar = _call_arguments(args, kwargs)
        params = self._merged_params(kwargs)
        size = _check_batch_size(batch_size if batch_size is not None else self.batch_size)
        if isinstance(inputs, list | tuple):
            if not inputs:
                raise PipelineInputError(f"{self.task or type(self).__name__} got an empty list of inputs")
            show = progress_bar if progress_bar is not None else len(inputs) >= PROGRESS_MIN_ITEMS and sys.stderr.isatty()
            return list(self._run_many(iter(inputs), size, params, total=len(inputs) if show else None))
        if _is_stream(inputs):
            return self._run_many(iter(inputs), size, params, total=None)
        return next(self._run_many(iter([inputs]), 1, params, total=None))

    def _merged_params(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pre, fwd, post = self._default_params
        if not kwargs:
            return pre, fwd, post
        new_pre, new_fwd, new_post = self._sanitize_parameters(**kwargs)
        return {**pre, **new_pre}, {**fwd, **new_fwd}, {**post, **new_post}

    def _run_many(self, items: Iterator[Any], batch_size: int,
                  params: tuple[dict[str, Any], dict[str, Any], dict[str, Any]], total: int | None) -> Iterator[Any]:
        pre, fwd, post = params
        bar = None
        if total is not None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=self.task or "pipeline", unit="input")
        window = max(batch_size * SORT_WINDOW_BATCHES, 1) if batch_size > 1 else 1
        try:
            while True:
                group = _take(items, window)
                if not group:
                    return
                chunks_per_item = self.preprocess_group(group, **pre)
                outputs = self._forward_chunks([c for chunks in chunks_per_item for c in chunks], batch_size, fwd)
                start = 0
                for chunks in chunks_per_item:
                    result = self.postprocess(outputs[start:start + len(chunks)], **post)
                    start += len(chunks)
                    if bar is not None:
                        bar.update(1)
                    yield result
        finally:
            if bar is not None:
                bar.close()

    def _forward_chunks(self, chunks: list[dict[str, Any]], batch_size: int, fwd: dict[str, Any]) -> list[dict[str, Any]]:
        """Run every chunk through the model, ``batch_size`` at a time, longest first; outputs in chunk order."""
        order = sorted(range(len(chunks)), key=lambda i: -_length(chunks[i]))
        results: list[dict[str, Any]] = [{} for _ in chunks]
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = self._collate([chunks[i] for i in index])
            with torch.inference_mode():
                outputs = self._forward(batch, **fwd)
            for row, i in enumerate(index):
                results[i] = self._unbatch(outputs, row, chunks[i])
        return results

    def _collate(self, chunks: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Right-pad each model input to the batch's longest chunk and stack: (batch, seq) on the device."""
        longest = max(_length(c) for c in chunks)
        pad_id = self.pad_token_id() or 0

        def pad(row: torch.Tensor, fill: int) -> torch.Tensor:
            missing = longest - len(row)
            return torch.nn.functional.pad(row, (missing, 0) if self.padding_side == "left" else (0, missing),
                                           value=fill)

        batch: dict[str, torch.Tensor] = {}
        for key in MODEL_INPUT_KEYS:
            if key not in chunks[0] or key not in self._forward_names:
                continue
            fill = pad_id if key == "input_ids" else 0
            batch[key] = torch.stack([pad(torch.as_tensor(c[key]), fill) for c in chunks]).to(self.device)
        if "attention_mask" in self._forward_names and "attention_mask" not in batch:
            batch["attention_mask"] = torch.stack([
                pad(torch.ones(_length(c), dtype=torch.long), 0) for c in chunks]).to(self.device)
        return batch

    def pad_token_id(self) -> int | None:
        """The tokenizer's pad id; for tokenizers without one (most causal LMs) the end-of-sequence id."""
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return pad if pad is not None else getattr(self.tokenizer, "eos_token_id", None)

    def _unbatch(self, outputs: dict[str, torch.Tensor], row: int, chunk: dict[str, Any]) -> dict[str, Any]:
        length = _length(chunk)
        item: dict[str, Any] = dict(chunk)
        for key, value in outputs.items():
            value = value[row]
            if key in self.sequence_outputs:
                value = value[:length]
            item[key] = value.detach().float().cpu() if value.is_floating_point() else value.cpu()
        return item

    # ---- helpers for subclasses ----------------------------------------------------------------------------------
    def tokenize(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call the tokenizer for one input and return 1-D tensors (the batch dimension of 1 removed)."""
        if self.tokenizer is None:
            raise PipelineInputError(f"the {self.task} pipeline needs a tokenizer: pass tokenizer=...")
        encoded = self.tokenizer(*args, return_tensors="pt", **kwargs)
        return {k: v[0] if isinstance(v, torch.Tensor) else v for k, v in encoded.items()}

    def tokenize_texts(self, texts: list[str], **kwargs: Any) -> list[list[dict[str, Any]]]:
        """One tokenizer call for many texts -> one single-chunk list per text (1-D tensors), as ``tokenize`` gives.

        Batch encoding skips the per-call setup and lets the tokenizer reuse its word cache across the window."""
        if self.tokenizer is None:
            raise PipelineInputError(f"the {self.task} pipeline needs a tokenizer: pass tokenizer=...")
        encoded = self.tokenizer(texts, **kwargs)
        keys = list(encoded.keys())
        columns = [encoded[k] for k in keys]
        return [[{k: torch.tensor(column[i]) for k, column in zip(keys, columns)}] for i in range(len(texts))]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, model={type(self.model).__name__}, device={self.device})"


def _call_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int | None, bool | None]:
    if len(args) != 1:
        raise PipelineInputError(f"a pipeline is called with one input (a text, a list or an iterator), got {len(args)}")
    return args[0], kwargs.pop("batch_size", None), kwargs.pop("progress_bar", None)


def _length(chunk: dict[str, Any]) -> int:
    return int(len(chunk["input_ids"]))


def _take(items: Iterator[Any], count: int) -> list[Any]:
    group = []
    for item in items:
        group.append(item)
        if len(group) >= count:
            break
    return group


def _is_stream(inputs: Any) -> bool:
    """A generator, iterator or dataset-like object (iterable, not a string/dict/tensor)."""
    if isinstance(inputs, str | bytes | dict | torch.Tensor):
        return False
    return isinstance(inputs, Iterator) or (isinstance(inputs, Iterable) and hasattr(inputs, "__len__"))


def _check_batch_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise PipelineInputError(f"batch_size must be a positive integer, got {size!r}")
    return size


def _as_device(device: str | torch.device | int) -> torch.device:
    if isinstance(device, int):
        return torch.device("cpu") if device < 0 else torch.device("cuda", device)
    return torch.device(device)


def _model_device(model: Any) -> torch.device:
    try:
        return torch.device(model.device)
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def _forward_parameters(model: Any) -> set[str]:
    try:
        params = inspect.signature(model.forward).parameters
    except (AttributeError, TypeError, ValueError):
        return set(MODEL_INPUT_KEYS)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return set(MODEL_INPUT_KEYS)
    return set(params)


def check_text(value: Any, task: str, what: str = "input") -> str:
    """A non-empty string, or a :class:`PipelineInputError` naming the task and what it got instead."""
    if not isinstance(value, str):
        raise PipelineInputError(f"{task}: each {what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise PipelineInputError(f"{task}: the {what} is an empty string; pass some text")
    return value


def check_top_k(top_k: Any, task: str, allow_none: bool = False) -> int | None:
    if top_k is None and allow_none:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise PipelineInputError(f"{task}: top_k must be an integer >= 1, got {top_k!r}")
    return top_k
