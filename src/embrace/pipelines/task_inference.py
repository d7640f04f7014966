"""Which task a model is for, when ``pipeline(model=...)`` is called without one.

The reference asks the Hub API for the repo's ``pipeline_tag`` (and fails offline or for a local folder). embrace
reads the same tag from the model card's YAML header (``README.md``, present in local folders and in the HF cache),
and otherwise derives the task from the architecture in ``config.json`` (``BertForTokenClassification`` ->
``token-classification``), which is how the Hub derives most tags in the first place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embrace.pipelines.errors import PipelineInputError

# architecture name suffix -> task, most specific first
ARCHITECTURE_TASKS: tuple[tuple[str, str], ...] = (
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForConditionalGeneration", "text2text-generation"),
    ("MTModel", "translation"),
    ("EncoderModel", "feature-extraction"),
    ("Model", "feature-extraction"),
)
_PIPELINE_TAG = re.compile(r"^pipeline_tag:\s*['\"]?([\w-]+)['\"]?\s*$", re.MULTILINE)


def infer_task(model: Any, find_file: Callable[[str], Path | None] | None = None) -> str:
    """The task for ``model`` (a folder, a cached repo id or a loaded model); :class:`PipelineInputError` if unknown.

    ``find_file(name)`` returns a local path of one of the model's files or None (defaults to the hub resolver).
    """
    if isinstance(model, str | os.PathLike):
        find = find_file or _resolver(model)
        card = find("README.md")
        tag = model_card_task(card.read_text(encoding="utf-8", errors="replace")) if card else None
        if tag:
            return tag
        config = find("config.json")
        architectures = _read_architectures(config) if config else []
        source = f"{os.fspath(model)!r}"
    else:
        config_obj = getattr(model, "config", None)
        architectures = list(getattr(config_obj, "architectures", None) or []) + [type(model).__name__]
        source = f"the {type(model).__name__} object"
    for name in architectures:
        task = architecture_task(name)
        if task:
            return task
    raise PipelineInputError(
        f"cannot infer the task for {source}: its model card has no pipeline_tag and its architecture "
        f"({', '.join(architectures) or 'none given'}) names no task. Pass it: pipeline('text-classification', model=...)")


def model_card_task(card_text: str) -> str | None:
    """``pipeline_tag`` from a model card's YAML front matter (between the leading ``---`` lines), if present."""
    if not card_text.startswith("---"):
        return None
    end = card_text.find("\n---", 3)
    match = _PIPELINE_TAG.search(card_text[3:end if end != -1 else len(card_text)])
    return match.group(1) if match else None


def architecture_task(architecture: str) -> str | None:
    for suffix, task in ARCHITECTURE_TASKS:
        if architecture.endswith(suffix):
            return task
    return None


def _read_architectures(config_path: Path) -> list[str]:
    import json

    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    architectures = data.get("architectures") if isinstance(data, dict) else None
    return [a for a in architectures if isinstance(a, str)] if isinstance(architectures, list) else []


def _resolver(model: str | os.PathLike[str]) -> Callable[[str], Path | None]:
    from embrace.errors import EmbraceError
    from embrace.hub.resolve import cached_file

    def find(name: str) -> Path | None:
        try:
            return cached_file(model, name, missing_ok=True)
        except EmbraceError:
            return None

    return find
