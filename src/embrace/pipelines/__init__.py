"""``pipeline(task, model=...)``: a ready-to-call model for a task, with the reference's task names and outputs.

>>> from embrace import pipeline
>>> classifier = pipeline("sentiment-analysis")           # the reference's default model, from the HF cache
>>> classifier("We are very happy to show you the embrace library.")
[{'label': 'POSITIVE', 'score': 0.9998}]
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from typing import Any

import torch

from embrace.pipelines.base import Pipeline
from embrace.pipelines.errors import (
    DefaultModelMissingError,
    PipelineInputError,
    PipelineModelError,
    UnknownTaskError,
)

__all__ = ["pipeline", "Pipeline", "SUPPORTED_TASKS", "TASK_ALIASES", "PipelineInputError", "PipelineModelError",
           "UnknownTaskError", "DefaultModelMissingError", "check_task"]


@dataclass(frozen=True)
class TaskSpec:
    pipeline_class: str          # "module:Class" inside embrace.pipelines
    auto_class: str              # Auto class in embrace.models.auto that loads the model
    default_model: str | None    # the reference's default model id (None: no default)


SUPPORTED_TASKS: dict[str, TaskSpec] = {
    "text-classification": TaskSpec("text_classification:TextClassificationPipeline",
                                    "AutoModelForSequenceClassification",
                                    "distilbert/distilbert-base-uncased-finetuned-sst-2-english"),
    "token-classification": TaskSpec("token_classification:TokenClassificationPipeline",
                                     "AutoModelForTokenClassification",
                                     "dbmdz/bert-large-cased-finetuned-conll03-english"),
    "question-answering": TaskSpec("question_answering:QuestionAnsweringPipeline", "AutoModelForQuestionAnswering",
                                   "distilbert/distilbert-base-cased-distilled-squad"),
    "fill-mask": TaskSpec("fill_mask:FillMaskPipeline", "AutoModelForMaskedLM", "distilbert/distilroberta-base"),
    "feature-extraction": TaskSpec("feature_extraction:FeatureExtractionPipeline", "AutoModel",
                                   "distilbert/distilbert-base-cased"),
    "sentence-similarity": TaskSpec("feature_extraction:SentenceSimilarityPipeline", "AutoModel",
                                    "sentence-transformers/all-MiniLM-L6-v2"),
    "zero-shot-classification": TaskSpec("zero_shot_classification:ZeroShotClassificationPipeline",
                                         "AutoModelForSequenceClassification", "facebook/bart-large-mnli"),
    "text-generation": TaskSpec("text_generation:TextGenerationPipeline", "AutoModelForCausalLM",
                                "HuggingFaceTB/SmolLM3-3B"),
    "text2text-generation": TaskSpec("text2text_generation:Text2TextGenerationPipeline", "AutoModelForSeq2SeqLM",
                                     "google-t5/t5-base"),
    "summarization": TaskSpec("text2text_generation:SummarizationPipeline", "AutoModelForSeq2SeqLM",
                              "sshleifer/distilbart-cnn-12-6"),
    "translation": TaskSpec("text2text_generation:TranslationPipeline", "AutoModelForSeq2SeqLM", None),
}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}
# translation_xx_to_yy pairs with a default model (the reference's table); other pairs need model=...
TRANSLATION_DEFAULTS = {"translation_en_to_fr": "google-t5/t5-base", "translation_en_to_de": "google-t5/t5-base",
                        "translation_en_to_ro": "google-t5/t5-base"}
_TRANSLATION_PAIR = re.compile(r"translation_[A-Za-z-]+_to_[A-Za-z-]+")


def check_task(task: str) -> str:
    """The canonical task name for ``task`` (aliases resolved); an :class:`UnknownTaskError` listing valid names."""
    if not isinstance(task, str):
        raise UnknownTaskError(f"task must be a string such as 'text-classification', got {type(task).__name__}")
    name = TASK_ALIASES.get(task, task)
    if name in SUPPORTED_TASKS:
        return name
    if _TRANSLATION_PAIR.fullmatch(name):
        return "translation"
    valid = sorted([*SUPPORTED_TASKS, *TASK_ALIASES, "translation_xx_to_yy"])
    raise UnknownTaskError(f"unknown task {task!r}. Valid tasks: {', '.join(valid)}.")


def pipeline(task: str | None = None, model: Any = None, tokenizer: Any = None, *,
             device: str | torch.device | int | None = None, dtype: str | torch.dtype | None = None,
             batch_size: int | None = None, revision: str | None = None, token: str | bool | None = None,
             trust_remote_code: bool | None = None, model_kwargs: dict[str, Any] | None = None,
             **task_args: Any) -> Pipeline:
    """Build the pipeline for ``task`` (``text-classification``/``sentiment-analysis``, ``token-classification``/
    ``ner``, ``question-answering``, ``fill-mask``, ``feature-extraction``, ``sentence-similarity``,
    ``zero-shot-classification``, ``text-generation``, ``text2text-generation``, ``summarization``, ``translation``
    and ``translation_xx_to_yy``). With ``model`` and no task, the task comes from the model card's
    ``pipeline_tag`` or the model's architecture.

    ``model``: a folder, a hub repo id (the HF cache is used, offline too), a loaded model, or None for the
    task's default model. ``tokenizer``: same, defaults to the model's. ``device``: "cpu", "cuda", "cuda:1" or a
    GPU index (-1 = CPU). ``dtype``: e.g. "float16". ``batch_size``: inputs per forward pass for lists and
    iterators. Other keyword arguments are the task's defaults (``top_k=``, ``aggregation_strategy=`` ...).
    """
    if task is None:
        if model is None:
            raise PipelineInputError("pipeline() needs a task (e.g. 'text-classification') or a model")
        from embrace.pipelines.task_inference import infer_task

        task = infer_task(model)
    name = check_task(task)
    spec = SUPPORTED_TASKS[name]
    module_name, class_name = spec.pipeline_class.split(":")
    pipeline_class = getattr(importlib.import_module(f"embrace.pipelines.{module_name}"), class_name)
    load_kwargs: dict[str, Any] = dict(model_kwargs or {})
    if revision is not None:
        load_kwargs["revision"] = revision
    if token is not None:
        load_kwargs["token"] = token
    source = model if model is not None else _default_model(task, spec)
    extra: dict[str, Any] = {}
    if spec.auto_class == "AutoModelForSeq2SeqLM":
        extra["task"] = task  # translation_xx_to_yy and task_specific_params need the exact name
    if isinstance(source, str | os.PathLike):
        model_obj = _load_model(spec.auto_class, source, name, dtype, load_kwargs)
        if name == "sentence-similarity":
            extra["pooling"] = _pooling_spec(source, load_kwargs)
    else:
        model_obj = source
        _check_model_fits(model_obj, spec.auto_class, name)
    if tokenizer is None:
        if not isinstance(source, str | os.PathLike):
            raise PipelineInputError(f"pipeline({name!r}) got a model object: also pass tokenizer=...")
        tokenizer = source
    if isinstance(tokenizer, str | os.PathLike):
        tokenizer = _load_tokenizer(tokenizer, load_kwargs)
    return pipeline_class(model_obj, tokenizer, device=device, dtype=dtype, batch_size=batch_size,
                          **extra, **task_args)


def _default_model(task: str, spec: TaskSpec) -> str:
    """The reference's default model id, if its config is in the HF cache (or downloadable when online)."""
    from embrace.errors import EmbraceFileNotFoundError
    from embrace.hub.resolve import cached_file

    repo = TRANSLATION_DEFAULTS.get(task, spec.default_model)
    if repo is None:
        raise DefaultModelMissingError(f"task {task!r} has no default model: pass model=...")
    try:
        cached_file(repo, "config.json")
    except EmbraceFileNotFoundError as exc:
        raise DefaultModelMissingError(
            f"pipeline({task!r}) without model= uses the default model {repo!r}, which is not available: {exc}. "
            f"Download it (embrace download {repo}), or pass model= a local folder or a cached repo id."
        ) from exc
    return repo


def _load_model(auto_class: str, source: str | os.PathLike[str], task: str, dtype: Any,
                load_kwargs: dict[str, Any]) -> Any:
    from embrace.errors import UnknownModelTypeError
    from embrace.models import auto

    loader = getattr(auto, auto_class)
    try:
        return loader.from_pretrained(source, dtype=dtype if dtype is not None else "auto", **load_kwargs)
    except UnknownModelTypeError as exc:
        raise PipelineModelError(f"{os.fspath(source)!r} cannot be used for {task}: {exc}") from exc


def _check_model_fits(model: Any, auto_class: str, task: str) -> None:
    """A loaded model passed for a task must be the class the task's Auto class would build for its config."""
    from embrace.errors import EmbraceError
    from embrace.models import auto

    if hasattr(model, "get_base_model"):  # a PeftModel: the adapters wrap the model that must fit the task
        model = model.get_base_model()
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "model_type"):
        return  # not an embrace model (a user's own module): trust it
    try:
        expected = getattr(auto, auto_class).model_class(config)
    except EmbraceError as exc:
        raise PipelineModelError(f"{type(model).__name__} cannot be used for {task}: {exc}") from exc
    if not isinstance(model, expected):
        raise PipelineModelError(
            f"{task} needs a {expected.__name__} (loaded with {auto_class}), got {type(model).__name__}")


def _load_tokenizer(source: str | os.PathLike[str], load_kwargs: dict[str, Any]) -> Any:
    from embrace.tokenization import AutoTokenizer  # type: ignore[import-not-found,unused-ignore]

    hub = {k: v for k, v in load_kwargs.items() if k in ("revision", "token", "cache_dir", "local_files_only")}
    return AutoTokenizer.from_pretrained(source, **hub)


def _pooling_spec(source: str | os.PathLike[str], load_kwargs: dict[str, Any]) -> Any:
    from embrace.embeddings import PoolingSpec
    from embrace.hub.resolve import cached_file

    hub = {k: v for k, v in load_kwargs.items() if k in ("revision", "token", "cache_dir", "local_files_only")}
    return PoolingSpec.from_model_dir(lambda name: cached_file(source, name, missing_ok=True, **hub))
