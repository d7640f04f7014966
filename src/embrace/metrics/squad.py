"""``squad``: the SQuAD v1.1 metric (evaluate's ``squad``, the official evaluation script's definitions).

Answers are normalised (lower case, punctuation and the articles a/an/the removed, whitespace collapsed); a
prediction scores the best exact match and the best token-overlap F1 over its question's gold answers; results
are percentages over all reference questions (a question without a prediction scores 0).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

from embrace.metrics.classification import MetricInputError

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def _f1(prediction: str, truth: str) -> float:
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad(predictions: Any, references: Any, **_: Any) -> dict[str, float]:
    """``predictions``: ``[{"id", "prediction_text"}]``; ``references``: ``[{"id", "answers": {"text": [...]}}]``."""
    try:
        answers = {str(p["id"]): str(p["prediction_text"]) for p in predictions}
        golds = [(str(r["id"]), [str(t) for t in r["answers"]["text"]]) for r in references]
    except (KeyError, TypeError) as exc:
        raise MetricInputError("squad needs predictions [{'id', 'prediction_text'}] and references "
                               "[{'id', 'answers': {'text': [...]}}]") from exc
    if not golds:
        raise MetricInputError("no references to score: add predictions and references first")
    exact = f1 = 0.0
    for question, truths in golds:
        if question not in answers or not truths:
            continue
        prediction = answers[question]
        exact += max(float(normalize_answer(prediction) == normalize_answer(t)) for t in truths)
        f1 += max(_f1(prediction, t) for t in truths)
    return {"exact_match": 100.0 * exact / len(golds), "f1": 100.0 * f1 / len(golds)}
