"""``squad`` and ``squad_v2``: evaluate's SQuAD v1.1 and v2.0 metrics (the official evaluation scripts'
definitions).

Answers are normalised (lower case, punctuation and the articles a/an/the removed, whitespace collapsed); a
prediction scores the best exact match and the best token-overlap F1 over its question's gold answers.

v1.1: percentages over all reference questions (a question without a prediction scores 0).

v2.0: a question without gold answers (or whose answers normalise to nothing) is unanswerable, and only an empty
prediction is right for it (exact 1, F1 1). A prediction whose ``no_answer_probability`` exceeds
``no_answer_threshold`` (default 1.0) counts as "no answer". Scores over all questions, answerable (``HasAns_``)
and unanswerable (``NoAns_``) ones, plus ``best_exact``/``best_f1``: the scores at the best probability
threshold, and that threshold. Probabilities are rounded to float32 first, as evaluate stores them.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

import numpy as np

from embrace.metrics.classification import MetricInputError

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def _f1(prediction: str, truth: str, empty_agrees: bool = False) -> float:
    """Token-overlap F1; with ``empty_agrees`` (v2) two empty answers score 1 and one empty answer 0."""
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if empty_agrees and not (predicted and gold):
        return float(predicted == gold)
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


def _v2_inputs(predictions: Any, references: Any) -> tuple[dict[str, str], dict[str, float], dict[str, list[str]]]:
    try:
        answers = {str(p["id"]): str(p["prediction_text"]) for p in predictions}
        probabilities = {str(p["id"]): float(np.float32(p.get("no_answer_probability", 0.0))) for p in predictions}
        golds = {str(r["id"]): [str(t) for t in r["answers"]["text"]] for r in references}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MetricInputError("squad_v2 needs predictions [{'id', 'prediction_text', 'no_answer_probability'}] and "
                               "references [{'id', 'answers': {'text': [...]}}]") from exc
    if not golds:
        raise MetricInputError("no references to score: add predictions and references first")
    missing = [question for question in golds if question not in answers]
    if missing:
        raise MetricInputError(f"no prediction for {len(missing)} question(s), e.g. id {missing[0]!r}: squad_v2 "
                               "scores every reference question (predict '' for no answer)")
    return answers, probabilities, golds


def _best_threshold(answers: dict[str, str], scores: dict[str, float], probabilities: dict[str, float],
                    has_answer: dict[str, bool]) -> tuple[float, float]:
    """The score when every prediction above a probability threshold says "no answer", at the best threshold."""
    current = best = float(sum(not has for has in has_answer.values()))
    threshold = 0.0
    for question in sorted(probabilities, key=lambda q: probabilities[q]):
        if question not in scores:
            continue
        current += scores[question] if has_answer[question] else -float(bool(answers[question]))
        if current > best:
            best, threshold = current, probabilities[question]
    return 100.0 * best / len(scores), threshold


def squad_v2(predictions: Any, references: Any, no_answer_threshold: float = 1.0, **_: Any) -> dict[str, Any]:
    """``predictions``: ``[{"id", "prediction_text", "no_answer_probability"}]`` (probability 0 when absent);
    ``references``: ``[{"id", "answers": {"text": [...]}}]`` (empty ``text`` for an unanswerable question)."""
    answers, probabilities, golds = _v2_inputs(predictions, references)
    has_answer = {question: bool(truths) for question, truths in golds.items()}
    exact_raw: dict[str, float] = {}
    f1_raw: dict[str, float] = {}
    for question, truths in golds.items():
        truths = [t for t in truths if normalize_answer(t)] or [""]
        prediction = answers[question]
        exact_raw[question] = max(float(normalize_answer(prediction) == normalize_answer(t)) for t in truths)
        f1_raw[question] = max(_f1(prediction, t, empty_agrees=True) for t in truths)
    thresholded = [{question: float(not has_answer[question]) if probabilities[question] > no_answer_threshold
                    else score for question, score in raw.items()} for raw in (exact_raw, f1_raw)]
    result: dict[str, Any] = {}
    for prefix, keep in (("", True), ("HasAns_", True), ("NoAns_", False)):
        questions = list(golds) if not prefix else [q for q, has in has_answer.items() if has == keep]
        if questions:
            result[f"{prefix}exact"] = 100.0 * sum(thresholded[0][q] for q in questions) / len(questions)
            result[f"{prefix}f1"] = 100.0 * sum(thresholded[1][q] for q in questions) / len(questions)
            result[f"{prefix}total"] = len(questions)
    for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
        result[f"best_{name}"], result[f"best_{name}_thresh"] = _best_threshold(answers, raw, probabilities,
                                                                               has_answer)
    return result
