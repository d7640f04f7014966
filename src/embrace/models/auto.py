"""Auto classes: pick the family from ``config.json``'s ``model_type`` and the task from the class used.

The registry maps ``model_type`` to the module that defines the family and the class name for each task; modules
are imported only when used, so supporting many families costs nothing at import time. Later families register
with :func:`register_family`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from embrace.errors import InvalidConfigError, UnknownModelTypeError
from embrace.models.configuration import CONFIG_NAME, PretrainedConfig, pop_hub_kwargs, read_config_dict

TASKS = ("base", "masked-lm", "sequence-classification", "token-classification", "question-answering", "causal-lm",
         "seq2seq-lm")


@dataclass(frozen=True)
class Family:
    module: str                      # e.g. "embrace.models.bert"
    config: str                      # config class name in that module
    tasks: dict[str, str] = field(default_factory=dict)  # task -> model class name


FAMILIES: dict[str, Family] = {}
# Other spellings of a model_type found in config.json files.
ALIASES: dict[str, str] = {"xlm_roberta": "xlm-roberta", "distil_bert": "distilbert"}


def register_family(model_type: str, family: Family) -> None:
    FAMILIES[model_type] = family


def _encoder_family(module: str, prefix: str) -> Family:
    return Family(module, f"{prefix}Config", {
        "base": f"{prefix}Model",
        "masked-lm": f"{prefix}ForMaskedLM",
        "sequence-classification": f"{prefix}ForSequenceClassification",
        "token-classification": f"{prefix}ForTokenClassification",
        "question-answering": f"{prefix}ForQuestionAnswering",
    })


register_family("bert", _encoder_family("embrace.models.bert", "Bert"))
register_family("roberta", _encoder_family("embrace.models.roberta", "Roberta"))
register_family("xlm-roberta", _encoder_family("embrace.models.roberta", "XLMRoberta"))
register_family("distilbert", _encoder_family("embrace.models.distilbert", "DistilBert"))
register_family("mpnet", _encoder_family("embrace.models.mpnet", "MPNet"))


def family_for(model_type: str | None, source: str = "config") -> Family:
    if not model_type:
        raise InvalidConfigError(f"{source} has no 'model_type'; it cannot be loaded with an Auto class.")
    key = ALIASES.get(model_type, model_type)
    if key not in FAMILIES:
        raise UnknownModelTypeError(
            f"model_type {model_type!r} in {source} is not supported by embrace. Supported: {', '.join(sorted(FAMILIES))}."
        )
    return FAMILIES[key]


def _load(family: Family, name: str) -> Any:
    return getattr(importlib.import_module(family.module), name)


def config_class_for(model_type: str | None, source: str = "config") -> type[PretrainedConfig]:
    family = family_for(model_type, source)
    config_cls: type[PretrainedConfig] = _load(family, family.config)
    return config_cls


class AutoConfig:
    """``AutoConfig.from_pretrained(path_or_repo_id)`` -> the family's config class, filled from config.json."""

    @staticmethod
    def from_pretrained(path_or_repo_id: str | os.PathLike[str], **kwargs: Any) -> PretrainedConfig:
        from embrace.hub.resolve import cached_file

        hub_kwargs = pop_hub_kwargs(kwargs)
        path = cached_file(path_or_repo_id, CONFIG_NAME, **hub_kwargs)
        assert path is not None
        data = read_config_dict(path)
        return config_class_for(data.get("model_type"), str(path)).from_dict(data, **kwargs)

    @staticmethod
    def for_model(model_type: str, **kwargs: Any) -> PretrainedConfig:
        return config_class_for(model_type, "for_model()").from_dict(kwargs)


class _AutoModel:
    task: ClassVar[str] = "base"

    def __init__(self) -> None:
        raise TypeError(f"use {type(self).__name__}.from_pretrained(...) or .from_config(config)")

    @classmethod
    def model_class(cls, config: PretrainedConfig) -> Any:
        family = family_for(config.model_type, type(config).__name__)
        name = family.tasks.get(cls.task)
        if name is None:
            raise UnknownModelTypeError(
                f"{cls.__name__} does not support model_type {config.model_type!r}: the family has no "
                f"{cls.task} model. It has: {', '.join(sorted(family.tasks))}."
            )
        return _load(family, name)

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any) -> Any:
        return cls.model_class(config).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike[str], **kwargs: Any) -> Any:
        config = kwargs.pop("config", None)
        if config is None and kwargs.get("gguf_file"):  # a llama.cpp file carries its own config
            from embrace.models.gguf import read_gguf_config
            from embrace.models.gguf_loading import resolve_gguf_path

            hub = {k: kwargs[k] for k in ("revision", "cache_dir", "token", "local_files_only") if k in kwargs}
            data = read_gguf_config(resolve_gguf_path(path_or_repo_id, kwargs["gguf_file"], **hub))
            family = family_for(data.get("model_type"), str(kwargs["gguf_file"]))
            model_cls = _load(family, family.tasks[cls.task]) if cls.task in family.tasks else None
            if model_cls is None:
                raise UnknownModelTypeError(f"{cls.__name__} cannot load a {data.get('model_type')!r} GGUF file")
            return model_cls.from_pretrained(path_or_repo_id, **kwargs)
        if config is None:
            config_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k not in _LOAD_ARGS}
            hub = {k: kwargs[k] for k in ("revision", "cache_dir", "token", "local_files_only") if k in kwargs}
            config = AutoConfig.from_pretrained(path_or_repo_id, **hub, **config_kwargs)
        return cls.model_class(config).from_pretrained(path_or_repo_id, config=config, **kwargs)


_LOAD_ARGS = {"dtype", "torch_dtype", "device", "device_map", "revision", "cache_dir", "token", "local_files_only",
              "low_cpu_mem_usage", "trust_remote_code", "use_safetensors", "gguf_file", "attn_implementation",
              "quantization", "quantization_config"}


class AutoModel(_AutoModel):
    task = "base"


class AutoModelForMaskedLM(_AutoModel):
    task = "masked-lm"


class AutoModelForSequenceClassification(_AutoModel):
    task = "sequence-classification"


class AutoModelForTokenClassification(_AutoModel):
    task = "token-classification"


class AutoModelForQuestionAnswering(_AutoModel):
    task = "question-answering"


class AutoModelForCausalLM(_AutoModel):
    task = "causal-lm"


class AutoModelForSeq2SeqLM(_AutoModel):
    task = "seq2seq-lm"


def _causal_family(module: str, prefix: str) -> Family:
    return Family(module, f"{prefix}Config", {"base": f"{prefix}Model", "causal-lm": f"{prefix}ForCausalLM"})


register_family("llama", _causal_family("embrace.models.llama", "Llama"))
register_family("mistral", _causal_family("embrace.models.llama", "Mistral"))
register_family("qwen2", _causal_family("embrace.models.llama", "Qwen2"))
register_family("gpt2", Family("embrace.models.gpt2", "GPT2Config",
                                {"base": "GPT2Model", "causal-lm": "GPT2LMHeadModel"}))

# Families being added (the modules land with their issues; until then loading one fails with ImportError).
register_family("gemma", _causal_family("embrace.models.gemma", "Gemma"))
register_family("opt", _causal_family("embrace.models.opt", "OPT"))
register_family("gpt_neox", _causal_family("embrace.models.gpt_neox", "GPTNeoX"))
register_family("phi", _causal_family("embrace.models.phi", "Phi"))
register_family("phi3", _causal_family("embrace.models.phi3", "Phi3"))


def _seq2seq_family(module: str, prefix: str, generation_class: str) -> Family:
    return Family(module, f"{prefix}Config", {"base": f"{prefix}Model", "seq2seq-lm": generation_class})


def _t5_family(prefix: str) -> Family:
    return Family("embrace.models.t5", f"{prefix}Config", {
        "base": f"{prefix}Model", "seq2seq-lm": f"{prefix}ForConditionalGeneration",
        "question-answering": f"{prefix}ForQuestionAnswering",
        "token-classification": f"{prefix}ForTokenClassification",
        "sequence-classification": f"{prefix}ForSequenceClassification"})


def _bart_family(prefix: str) -> Family:
    return Family("embrace.models.bart", f"{prefix}Config", {
        "base": f"{prefix}Model", "seq2seq-lm": f"{prefix}ForConditionalGeneration",
        "sequence-classification": f"{prefix}ForSequenceClassification",
        "question-answering": f"{prefix}ForQuestionAnswering"})


register_family("t5", _t5_family("T5"))
register_family("mt5", _t5_family("MT5"))
register_family("bart", _bart_family("Bart"))
register_family("mbart", _bart_family("MBart"))
register_family("marian", _seq2seq_family("embrace.models.bart", "Marian", "MarianMTModel"))
register_family("pegasus", _seq2seq_family("embrace.models.bart", "Pegasus", "PegasusForConditionalGeneration"))
