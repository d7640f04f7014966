"""``squad`` equals the official SQuAD v1.1 evaluation script (below, as published; evaluate's ``squad`` wraps
it) on randomised answers with case, punctuation, articles and extra spaces, including missing predictions."""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np
import pytest

from embrace import metrics
from embrace.metrics import MetricInputError


# ---- the official evaluate-v1.1.py (oracle) ---------------------------------------------------------------------
def official_normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_f1_score(prediction, ground_truth):
    prediction_tokens = official_normalize_answer(prediction).split()
    ground_truth_tokens = official_normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def official_evaluate(dataset, predictions):
    f1 = exact_match = total = 0
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] not in predictions:
                    continue
                ground_truths = [x["text"] for x in qa["answers"]]
                prediction = predictions[qa["id"]]
                exact_match += max(official_normalize_answer(prediction) == official_normalize_answer(gt)
                                   for gt in ground_truths)
                f1 += max(official_f1_score(prediction, gt) for gt in ground_truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


# ------------------------------------------------------------------------------------------------------------------
WORDS = ["the", "a", "an", "Paris", "paris", "river", "Seine", "1889", "tower", "Eiffel", "an apple", "of", "France"]


def _answer(rng):
    words = [str(w) for w in rng.choice(WORDS, size=int(rng.integers(1, 5)))]
    text = (" " * int(rng.integers(1, 3))).join(words)
    return text + str(rng.choice(["", ".", "!", ",", "'s"])) if rng.random() < 0.5 else text.upper()


@pytest.mark.parametrize("seed", range(10))
def test_squad_matches_the_official_script(seed):
    rng = np.random.default_rng(seed)
    questions = [{"id": f"q{i}", "answers": {"text": [_answer(rng) for _ in range(int(rng.integers(1, 4)))],
                                             "answer_start": [0]}} for i in range(int(rng.integers(1, 25)))]
    predictions = [{"id": q["id"], "prediction_text": str(rng.choice(q["answers"]["text"])) if rng.random() < 0.3
                    else _answer(rng)} for q in questions if rng.random() < 0.9]
    got = metrics.load("squad").compute(predictions=predictions, references=questions)
    dataset = [{"paragraphs": [{"qas": [{"id": q["id"], "answers": [{"text": t} for t in q["answers"]["text"]]}
                                        for q in questions]}]}]
    expected = official_evaluate(dataset, {p["id"]: p["prediction_text"] for p in predictions})
    assert got == pytest.approx(expected, abs=1e-9)


def test_squad_edge_cases():
    squad = metrics.load("squad")
    refs = [{"id": "1", "answers": {"text": ["The Eiffel Tower"], "answer_start": [0]}}]
    assert squad.compute(predictions=[{"id": "1", "prediction_text": "eiffel tower!"}], references=refs) == {
        "exact_match": 100.0, "f1": 100.0}
    assert squad.compute(predictions=[{"id": "1", "prediction_text": "the"}], references=refs) == {
        "exact_match": 0.0, "f1": 0.0}  # empty after normalisation
    with pytest.raises(MetricInputError, match="prediction_text"):
        squad.compute(predictions=[{"id": "1"}], references=refs)
