"""Training a whole tokenizer: run its normalizer and pre-tokenizer over the texts, count words, train the model.

``train_from_iterator(tokenizer, texts, trainer)`` is what ``tokenizers.Tokenizer.train_from_iterator`` does:
each text is normalized and pre-tokenized by the tokenizer's own pipeline (added tokens are not split out, as
in the reference), the resulting words are counted, the trainer learns a model from the counts, and the
trainer's special tokens are registered as added tokens. The pipeline stages come from
``embrace.tokenizers.normalizers`` / ``pre_tokenizers``; nothing is re-implemented here.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from embrace.tokenizers.trainers._common import Progress, TrainerError, iter_texts
from embrace.tokenizers.trainers.bpe import TrainResult


class Trainer(Protocol):
    model_type: str
    show_progress: bool

    def train_words(self, word_counts: Any, base_model: dict[str, Any] | None = None) -> TrainResult: ...


def _as_dict(tokenizer: Any) -> dict[str, Any]:
    if isinstance(tokenizer, dict):
        return tokenizer
    to_dict = getattr(tokenizer, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        if isinstance(result, dict):
            return result
    raise TrainerError(
        f"train_from_iterator needs a tokenizer.json dict or an embrace Tokenizer, got {type(tokenizer).__name__}"
    )


def count_words(tokenizer_json: dict[str, Any], texts: Iterable[str], show_progress: bool = False,
                length: int | None = None) -> Counter[str]:
    """``{word: count}`` of the pre-tokenized, normalized ``texts`` under the pipeline of ``tokenizer_json``."""
    from embrace.tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.from_json(tokenizer_json.get("normalizer"))
    pre = pre_tokenizers.from_json(tokenizer_json.get("pre_tokenizer"))
    counts: Counter[str] = Counter()
    progress = Progress(show_progress, length, "Pre-processing sequences")
    byte_level = isinstance(pre, pre_tokenizers.ByteLevel) and pre.use_regex
    raw: Counter[str] = Counter()
    try:
        for text in texts:
            if normalizer is not None:
                text = normalizer.normalize_str(text)
            if byte_level:
                # Count the regex pieces first and map each distinct piece to byte characters once: the same
                # result as counting ``pre.split_str(text)``, with the byte mapping off the per-word path.
                assert isinstance(pre, pre_tokenizers.ByteLevel)
                if pre.add_prefix_space and text and not text.startswith(" "):
                    text = " " + text
                raw.update(pre.regex_pattern.findall(text))
            elif pre is not None:
                counts.update(pre.split_str(text, True))
            elif text:
                counts[text] += 1
            progress.update()
    finally:
        progress.close()
    if byte_level:
        for piece, n in raw.items():
            if piece:
                counts[pre_tokenizers.byte_level_str(piece)] += n
    return counts


def train_from_iterator(tokenizer: Any, iterator: Iterable[Any], trainer: Trainer,
                        length: int | None = None) -> dict[str, Any]:
    """Trains ``tokenizer``'s model on ``iterator`` (strings, or lists of strings) and returns the new
    tokenizer.json dict (the input is not modified).

    ``tokenizer`` is a tokenizer.json dict or an object with ``to_dict()`` (embrace's ``Tokenizer``); build
    the trained tokenizer with ``Tokenizer.from_dict(result)``.
    """
    data = _as_dict(tokenizer)
    model = data.get("model") or {}
    if model.get("type", trainer.model_type) != trainer.model_type:
        raise TrainerError(
            f"{type(trainer).__name__} trains a {trainer.model_type} model but the tokenizer's model is "
            f"{model.get('type')}; build the tokenizer with a {trainer.model_type} model"
        )
    counts = count_words(data, iter_texts(iterator), trainer.show_progress, length)
    result = trainer.train_words(counts, model or None)
    return _with_trained_model(data, result)


def _file_lines(files: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    for path in files:
        try:
            # Lines keep their endings, as the reference's ``train(files)`` feeds them.
            with open(path, encoding="utf-8", newline="") as f:
                yield from f
        except FileNotFoundError as exc:
            raise TrainerError(f"training file {path} does not exist") from exc


def train_from_files(tokenizer: Any, files: Iterable[str | os.PathLike[str]], trainer: Trainer) -> dict[str, Any]:
    """``Tokenizer.train(files, trainer)``: every line of every file (UTF-8) is one training sequence."""
    if isinstance(files, str | os.PathLike):
        files = [files]
    return train_from_iterator(tokenizer, _file_lines(files), trainer)


def _with_trained_model(data: dict[str, Any], result: TrainResult) -> dict[str, Any]:
    vocab = result.model["vocab"]
    ids = vocab if isinstance(vocab, dict) else {piece: i for i, (piece, _) in enumerate(vocab)}
    added: dict[str, dict[str, Any]] = {}
    for entry in data.get("added_tokens") or []:
        content = entry.get("content")
        if isinstance(content, str):
            added[content] = {**entry, "id": ids.get(content, entry.get("id"))}
    for entry in result.special_tokens:
        if entry["content"] not in added:
            if entry["content"] not in ids:
                raise TrainerError(f"special token {entry['content']!r} is missing from the trained vocabulary")
            added[entry["content"]] = {"id": ids[entry["content"]], **entry}
    out = dict(data)
    out["model"] = result.model
    out["added_tokens"] = sorted(added.values(), key=lambda e: e["id"])
    return out
