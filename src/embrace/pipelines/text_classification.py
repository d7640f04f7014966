"""``text-classification`` (alias ``sentiment-analysis``): a sequence-classification model's labels and scores.

>>> classifier = pipeline("sentiment-analysis", model="distilbert/distilbert-base-uncased-finetuned-sst-2-english")
>>> classifier("I love this.")                       # [{'label': 'POSITIVE', 'score': 0.9998}]
>>> classifier(["Great!", "Awful."], top_k=None)      # every label per input, best first
>>> classifier({"text": "A man eats.", "text_pair": "Someone eats."})   # a sentence pair
"""

from __future__ import annotations

from typing import Any

import torch

from embrace.pipelines.base import Pipeline, check_text, check_top_k
from embrace.pipelines.errors import PipelineInputError

FUNCTIONS = ("softmax", "sigmoid", "none")
_UNSET: Any = object()


class TextClassificationPipeline(Pipeline):
    """Scores are softmax over labels (several labels), sigmoid (one label or multi-label models) or raw logits
    (regression), unless ``function_to_apply`` says otherwise.

    Output, as in the reference: without ``top_k``, one ``{"label", "score"}`` dict per input (a single string
    gives a list holding that dict); with ``top_k=k`` (or ``None`` for all labels), a list of the k best dicts
    per input.
    """

    task = "text-classification"

    def _sanitize_parameters(self, function_to_apply: str | None = None, top_k: Any = _UNSET,
                             **tokenizer_kwargs: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        post: dict[str, Any] = {}
        if top_k is not _UNSET:
            post["top_k"] = check_top_k(top_k, self.task, allow_none=True)
            post["legacy"] = False
        if function_to_apply is not None:
            name = str(function_to_apply).lower()
            if name not in FUNCTIONS:
                raise PipelineInputError(f"function_to_apply must be one of {FUNCTIONS}, got {function_to_apply!r}")
            post["function_to_apply"] = name
        allowed = {"truncation", "max_length", "padding", "add_special_tokens"}
        unknown = set(tokenizer_kwargs) - allowed
        if unknown:
            raise PipelineInputError(f"{self.task} got unknown arguments: {', '.join(sorted(unknown))}")
        return dict(tokenizer_kwargs), {}, post

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        result = super().__call__(inputs, **kwargs)
        legacy_call = "top_k" not in kwargs
        # the reference wraps a single string's result in a list (its documented, odd, behaviour)
        if isinstance(inputs, str) and legacy_call:
            return [result]
        return result

    def preprocess_group(self, items: list[Any], **tokenizer_kwargs: Any) -> list[list[dict[str, Any]]]:
        if len(items) > 1 and all(isinstance(item, str) for item in items):
            return self.tokenize_texts([check_text(item, self.task) for item in items], **tokenizer_kwargs)
        return super().preprocess_group(items, **tokenizer_kwargs)

    def preprocess(self, item: Any, **tokenizer_kwargs: Any) -> list[dict[str, Any]]:
        if isinstance(item, dict):
            if "text" not in item:
                raise PipelineInputError(
                    f'{self.task}: a dict input needs the keys "text" and optionally "text_pair", got {sorted(item)}')
            unknown = set(item) - {"text", "text_pair"}
            if unknown:
                raise PipelineInputError(f'{self.task}: unexpected keys {sorted(unknown)}; use "text" and "text_pair"')
            text = check_text(item["text"], self.task, "text")
            pair = item.get("text_pair")
            encoded = self.tokenize(text, text_pair=None if pair is None else check_text(pair, self.task, "text_pair"),
                                    **tokenizer_kwargs)
        elif isinstance(item, list) and len(item) == 1 and isinstance(item[0], list) and len(item[0]) == 2:
            encoded = self.tokenize(check_text(item[0][0], self.task), text_pair=check_text(item[0][1], self.task),
                                    **tokenizer_kwargs)
        elif isinstance(item, list):
            raise PipelineInputError(
                f'{self.task}: a list inside the inputs is not a valid input; send a text pair as '
                '{"text": "My text", "text_pair": "My pair"}')
        else:
            encoded = self.tokenize(check_text(item, self.task), **tokenizer_kwargs)
        return [encoded]

    def postprocess(self, chunk_outputs: list[dict[str, Any]], function_to_apply: str | None = None,
                    top_k: int | None = 1, legacy: bool = True) -> Any:
        config = self.model.config
        logits = chunk_outputs[0]["logits"].float()
        function = function_to_apply or default_function(config)
        if function == "sigmoid":
            scores = torch.sigmoid(logits)
        elif function == "softmax":
            scores = torch.softmax(logits, dim=-1)
        else:
            scores = logits
        if top_k == 1 and legacy:
            best = int(scores.argmax())
            return {"label": config.id2label[best], "score": float(scores[best])}
        ranked = [{"label": config.id2label[i], "score": float(s)} for i, s in enumerate(scores.tolist())]
        if not legacy:
            ranked.sort(key=lambda d: d["score"], reverse=True)
            if top_k is not None:
                ranked = ranked[:top_k]
        return ranked


def default_function(config: Any) -> str:
    """The reference's choice of score function from the model config."""
    problem = getattr(config, "problem_type", None)
    if problem == "regression":
        return "none"
    if problem == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    if problem == "single_label_classification" or config.num_labels > 1:
        return "softmax"
    return "none"
