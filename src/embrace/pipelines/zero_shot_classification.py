"""``zero-shot-classification``: rank candidate labels with an NLI model (premise = text, hypothesis = label).

>>> classifier = pipeline("zero-shot-classification", model="facebook/bart-large-mnli")
>>> classifier("I need my phone fixed today!", candidate_labels=["urgent", "not urgent", "phone"])
{'sequence': 'I need my phone fixed today!', 'labels': ['urgent', 'phone', 'not urgent'], 'scores': [...]}

Scores: softmax of the *entailment* logits over the labels, or with ``multi_label=True`` (or a single label) each
label's entailment-vs-contradiction softmax on its own. The entailment id comes from ``config.label2id`` (the
first label starting with "entail").
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from embrace.pipelines.base import Pipeline, check_text
from embrace.pipelines.errors import PipelineInputError

logger = logging.getLogger("embrace.pipelines")
DEFAULT_TEMPLATE = "This example is {}."


class ZeroShotClassificationPipeline(Pipeline):
    task = "zero-shot-classification"

    def __init__(self, model: Any, tokenizer: Any = None, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        if self.entailment_id == -1:
            logger.warning("no label starting with 'entail' in the model's label2id; zero-shot scores use the last "
                           "label as entailment. Give the NLI model a descriptive label2id.")

    @property
    def entailment_id(self) -> int:
        for label, index in self.model.config.label2id.items():
            if label.lower().startswith("entail"):
                return int(index)
        return -1

    def _sanitize_parameters(self, candidate_labels: str | list[str] | None = None,
                             hypothesis_template: str | None = None, multi_label: bool | None = None,
                             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pre: dict[str, Any] = {}
        if candidate_labels is not None:
            pre["candidate_labels"] = parse_labels(candidate_labels)
        if hypothesis_template is not None:
            if not isinstance(hypothesis_template, str) or hypothesis_template.format("x") == hypothesis_template:
                raise PipelineInputError(
                    f"hypothesis_template {hypothesis_template!r} has no {{}} where the label goes, "
                    "e.g. 'This example is {}.'")
            pre["hypothesis_template"] = hypothesis_template
        return pre, {}, ({"multi_label": bool(multi_label)} if multi_label is not None else {})

    def __call__(self, sequences: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and "candidate_labels" not in kwargs:
            kwargs["candidate_labels"] = args[0]
        elif args:
            raise PipelineInputError(f"zero-shot-classification: unexpected extra arguments {args!r}")
        if "candidate_labels" not in kwargs and "candidate_labels" not in self._default_params[0]:
            raise PipelineInputError("zero-shot-classification needs candidate_labels=[...] (at least one label)")
        return super().__call__(sequences, **kwargs)

    def preprocess(self, item: Any, candidate_labels: list[str] | None = None,
                   hypothesis_template: str = DEFAULT_TEMPLATE) -> list[dict[str, Any]]:
        sequence = check_text(item, self.task)
        labels = candidate_labels or []
        chunks = []
        for label in labels:
            encoded = self._tokenize_pair(sequence, hypothesis_template.format(label))
            chunks.append({**encoded, "candidate_label": label, "sequence": sequence})
        return chunks

    def _tokenize_pair(self, premise: str, hypothesis: str) -> dict[str, Any]:
        # truncate only the premise so the hypothesis (the label) is never cut
        try:
            return self.tokenize(premise, text_pair=hypothesis, truncation="only_first")
        except Exception as exc:  # the reference retries without truncation when the pair cannot be shortened
            if "too short" not in str(exc):
                raise
            return self.tokenize(premise, text_pair=hypothesis, truncation=False)

    def postprocess(self, chunk_outputs: list[dict[str, Any]], multi_label: bool = False) -> dict[str, Any]:
        labels = [c["candidate_label"] for c in chunk_outputs]
        logits = np.stack([c["logits"].numpy() for c in chunk_outputs])  # (labels, classes)
        entailment = self.entailment_id
        if multi_label or len(labels) == 1:
            contradiction = -1 if entailment == 0 else 0
            pair = logits[:, [contradiction, entailment]]
            scores = (np.exp(pair) / np.exp(pair).sum(-1, keepdims=True))[:, 1]
        else:
            entail_logits = logits[:, entailment]
            scores = np.exp(entail_logits) / np.exp(entail_logits).sum(-1, keepdims=True)
        order = list(reversed(scores.argsort()))
        return {"sequence": chunk_outputs[0]["sequence"], "labels": [labels[i] for i in order],
                "scores": scores[order].tolist()}


def parse_labels(labels: Any) -> list[str]:
    """A list of labels, or one string of comma-separated labels."""
    if isinstance(labels, str):
        labels = [label.strip() for label in labels.split(",") if label.strip()]
    if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
        raise PipelineInputError("candidate_labels must be a list of strings or a comma-separated string")
    if not labels:
        raise PipelineInputError("zero-shot-classification needs at least one candidate label")
    return list(labels)
