"""``text2text-generation``, ``summarization`` and ``translation``: an encoder-decoder model turns a text into a text.

>>> summarizer = pipeline("summarization", model="sshleifer/distilbart-cnn-12-6")
>>> summarizer(article, max_length=60)
[{'summary_text': '...'}]
>>> translator = pipeline("translation_en_to_de", model="google-t5/t5-small")
>>> translator("How old are you?")
[{'translation_text': 'Wie alt sind Sie?'}]

The outputs and defaults are those of the transformers 4.x pipelines (transformers 5 removed these three tasks):
one input gives a list of ``num_return_sequences`` records; a list of inputs gives one record per input (a list
per input when ``num_return_sequences > 1``). The model's ``task_specific_params`` for the task (T5's
``"translate English to German: "`` prefix and beam settings, BART-CNN's length limits) are the defaults, any
``generate()`` argument overrides them. Inputs are right-padded and batched with ``batch_size``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import torch

from embrace.pipelines.base import Pipeline, check_text
from embrace.pipelines.errors import PipelineInputError

logger = logging.getLogger(__name__)
_POST_KEYS = ("return_tensors", "return_text", "clean_up_tokenization_spaces")


class Text2TextGenerationPipeline(Pipeline):
    task = "text2text-generation"
    return_name: ClassVar[str] = "generated"

    def __init__(self, model: Any, tokenizer: Any = None, *, task: str | None = None, **kwargs: Any) -> None:
        self.task_name = task or self.task
        params = _task_specific_params(model, self.task_name)
        self.prefix: str = params.pop("prefix", None) or getattr(getattr(model, "config", None), "prefix", None) or ""
        self._task_defaults = params
        super().__init__(model, tokenizer, **kwargs)

    def _sanitize_parameters(self, truncation: Any = None, prefix: str | None = None, **kwargs: Any,
                             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pre: dict[str, Any] = {}
        if truncation is not None:
            pre["truncation"] = truncation
        if prefix is not None:
            pre["prefix"] = prefix
        post = {k: kwargs.pop(k) for k in list(kwargs) if k in _POST_KEYS}
        return pre, kwargs, post

    def _merged_params(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pre, fwd, post = super()._merged_params(kwargs)
        return pre, {**self._task_defaults, **fwd}, post

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = super().__call__(*args, **kwargs)
        inputs = args[0] if args else None
        if isinstance(inputs, list | tuple) and all(len(r) == 1 for r in result):
            return [r[0] for r in result]  # one record per input, as the reference returns for lists
        return result

    def preprocess(self, item: Any, truncation: Any = False, prefix: str | None = None) -> list[dict[str, Any]]:
        text = check_text(item, self.task_name)
        encoded = self.tokenize(self.input_text(text, prefix), truncation=truncation)
        encoded.pop("token_type_ids", None)
        return [encoded]

    def input_text(self, text: str, prefix: str | None) -> str:
        return (self.prefix if prefix is None else prefix) + text

    def _forward(self, batch: dict[str, torch.Tensor], **generate_kwargs: Any) -> dict[str, torch.Tensor]:
        self.check_lengths(batch["input_ids"].shape[1], generate_kwargs)
        output = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                                     **generate_kwargs)
        ids = output if isinstance(output, torch.Tensor) else output.sequences
        return {"output_ids": ids.reshape(len(batch["input_ids"]), -1, ids.shape[-1])}  # (inputs, n, length)

    def check_lengths(self, input_length: int, generate_kwargs: dict[str, Any]) -> None:
        """Hook for length warnings (summarization, translation)."""

    def postprocess(self, chunk_outputs: list[dict[str, Any]], return_tensors: bool = False, return_text: bool = True,
                    clean_up_tokenization_spaces: bool = False) -> list[dict[str, Any]]:
        records = []
        for ids in chunk_outputs[0]["output_ids"]:
            if return_tensors:
                records.append({f"{self.return_name}_token_ids": ids})
            elif return_text:
                text = self.tokenizer.decode(ids.tolist(), skip_special_tokens=True,
                                             clean_up_tokenization_spaces=clean_up_tokenization_spaces)
                records.append({f"{self.return_name}_text": text})
        return records


class SummarizationPipeline(Text2TextGenerationPipeline):
    task = "summarization"
    return_name = "summary"

    def check_lengths(self, input_length: int, generate_kwargs: dict[str, Any]) -> None:
        max_length = generate_kwargs.get("max_length", self._generation_default("max_length"))
        min_length = generate_kwargs.get("min_length", self._generation_default("min_length"))
        if isinstance(min_length, int) and isinstance(max_length, int) and min_length > max_length:
            raise PipelineInputError(f"summarization: min_length ({min_length}) > max_length ({max_length})")
        if isinstance(max_length, int) and input_length < max_length:
            logger.warning("Your max_length is set to %s, but your input_length is only %s. Since this is a "
                           "summarization task, where outputs shorter than the input are typically wanted, you might "
                           "consider decreasing max_length manually, e.g. summarizer('...', max_length=%s)",
                           max_length, input_length, input_length // 2)

    def _generation_default(self, name: str) -> Any:
        return getattr(getattr(self.model, "generation_config", None), name, None)


class TranslationPipeline(Text2TextGenerationPipeline):
    """``translation`` / ``translation_xx_to_yy``; ``src_lang=``/``tgt_lang=`` for multilingual models (mBART)."""

    task = "translation"
    return_name = "translation"

    def _sanitize_parameters(self, truncation: Any = None, prefix: str | None = None, src_lang: str | None = None,
                             tgt_lang: str | None = None, **kwargs: Any,
                             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pre, fwd, post = super()._sanitize_parameters(truncation=truncation, prefix=prefix, **kwargs)
        if src_lang is None and tgt_lang is None:
            parts = self.task_name.split("_")
            if len(parts) == 4 and parts[2] == "to":  # translation_xx_to_yy
                src_lang, tgt_lang = parts[1], parts[3]
        if src_lang is not None:
            pre["src_lang"] = src_lang
        forced = _language_token_id(self.tokenizer, tgt_lang)
        if forced is not None and "forced_bos_token_id" not in fwd:
            fwd["forced_bos_token_id"] = forced
        return pre, fwd, post

    def preprocess(self, item: Any, truncation: Any = False, prefix: str | None = None,
                   src_lang: str | None = None) -> list[dict[str, Any]]:
        if src_lang is not None and _language_token_id(self.tokenizer, src_lang) is not None:
            self.tokenizer.src_lang = src_lang  # mBART-style tokenizers add the source language code
        return super().preprocess(item, truncation=truncation, prefix=prefix)

    def check_lengths(self, input_length: int, generate_kwargs: dict[str, Any]) -> None:
        max_length = generate_kwargs.get("max_length", getattr(getattr(self.model, "generation_config", None),
                                                               "max_length", None))
        if isinstance(max_length, int) and input_length > 0.9 * max_length:
            logger.warning("Your input_length: %s is bigger than 0.9 * max_length: %s. You might consider increasing "
                           "your max_length manually, e.g. translator('...', max_length=400)", input_length, max_length)


def _task_specific_params(model: Any, task: str) -> dict[str, Any]:
    """The model's ``config.task_specific_params[task]`` (T5: per-direction translation prefixes, CNN lengths)."""
    params = getattr(getattr(model, "config", None), "task_specific_params", None)
    if not isinstance(params, dict):
        return {}
    chosen = params.get(task)
    return dict(chosen) if isinstance(chosen, dict) else {}


def _language_token_id(tokenizer: Any, language: str | None) -> int | None:
    """The id of a language-code token (``de_DE``, ``fra_Latn``) if the tokenizer has one, else None."""
    if language is None or tokenizer is None:
        return None
    codes = getattr(tokenizer, "lang_code_to_id", None)
    if isinstance(codes, dict) and language in codes:
        return int(codes[language])
    added = getattr(tokenizer, "additional_special_tokens", None) or []
    if ("_" not in language and language not in added) or not hasattr(tokenizer, "convert_tokens_to_ids"):
        return None  # "de" in translation_en_to_de is a T5 direction, not a token
    token_id = tokenizer.convert_tokens_to_ids(language)  # one lookup, not a copy of the whole vocabulary
    return None if token_id is None or token_id == getattr(tokenizer, "unk_token_id", None) else int(token_id)
