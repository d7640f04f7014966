"""``squad_v2`` equals the official SQuAD v2.0 evaluation script (what evaluate's ``squad_v2`` wraps; restated
below from the published script) on random questions with and without answers, no-answer probabilities and
thresholds; and evaluate's documented examples."""

from __future__ import annotations

import collections
import re
import string

import numpy as np
import pytest

from embrace import metrics
from embrace.metrics import MetricInputError


# ---- the official SQuAD 2.0 scoring, restated (oracle) -----------------------------------------------------------
def _normalize(text):
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _f1(gold, pred):
    gold_tokens, pred_tokens = _normalize(gold).split(), _normalize(pred).split()
    if not gold_tokens or not pred_tokens:
        return int(gold_tokens == pred_tokens)
    same = sum((collections.Counter(gold_tokens) & collections.Counter(pred_tokens)).values())
    if same == 0:
        return 0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def official_v2(references, predictions, threshold):
    na_probs = {p["id"]: p["no_answer_probability"] for p in predictions}
    preds = {p["id"]: p["prediction_text"] for p in predictions}
    has_ans = {r["id"]: bool(r["answers"]["text"]) for r in references}
    exact_raw, f1_raw = {}, {}
    for ref in references:
        golds = [t for t in ref["answers"]["text"] if _normalize(t)] or [""]
        exact_raw[ref["id"]] = max(int(_normalize(g) == _normalize(preds[ref["id"]])) for g in golds)
        f1_raw[ref["id"]] = max(_f1(g, preds[ref["id"]]) for g in golds)

    def thresholded(raw):
        return {q: float(not has_ans[q]) if na_probs[q] > threshold else s for q, s in raw.items()}

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    out = {"exact": 100.0 * sum(exact.values()) / len(exact), "f1": 100.0 * sum(f1.values()) / len(f1),
           "total": len(exact)}
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [q for q, v in has_ans.items() if v == wanted]
        if qids:
            out.update({f"{prefix}_exact": 100.0 * sum(exact[q] for q in qids) / len(qids),
                        f"{prefix}_f1": 100.0 * sum(f1[q] for q in qids) / len(qids), f"{prefix}_total": len(qids)})
    for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
        score = best = sum(1 for v in has_ans.values() if not v)
        best_thresh = 0.0
        for qid in sorted(na_probs, key=lambda k: na_probs[k]):
            if qid not in raw:
                continue
            score += raw[qid] if has_ans[qid] else (-1 if preds[qid] else 0)
            if score > best:
                best, best_thresh = score, na_probs[qid]
        out[f"best_{name}"], out[f"best_{name}_thresh"] = 100.0 * best / len(raw), best_thresh
    return out


# ------------------------------------------------------------------------------------------------------------------
WORDS = ["the", "a", "an", "Paris", "paris", "river", "Seine", "1889", "tower", "Eiffel", "of", "France", "Ünïcode"]


def _answer(rng):
    text = " ".join(str(w) for w in rng.choice(WORDS, size=int(rng.integers(1, 4))))
    return text + str(rng.choice(["", ".", "!", "'s"])) if rng.random() < 0.7 else text.upper()


def _float32(value):
    return float(np.float32(value))  # evaluate stores no_answer_probability as float32


@pytest.mark.parametrize("seed", range(15))
def test_squad_v2_matches_the_official_script(seed):
    rng = np.random.default_rng(seed)
    references = [{"id": f"q{i}", "answers": {"text": [_answer(rng) for _ in range(int(rng.integers(0, 3)))]
                                              if rng.random() < 0.6 else [], "answer_start": []}}
                  for i in range(int(rng.integers(1, 30)))]
    predictions = []
    for ref in references:
        roll = rng.random()
        text = "" if roll < 0.3 else (ref["answers"]["text"] or [""])[0] if roll < 0.5 else _answer(rng)
        predictions.append({"id": ref["id"], "prediction_text": text,
                            "no_answer_probability": float(rng.choice([0.0, 0.25, 0.5, float(rng.random())]))})
    rng.shuffle(predictions)
    threshold = float(rng.choice([1.0, 0.5, 0.3]))
    got = metrics.load("squad_v2").compute(predictions=predictions, references=references,
                                           no_answer_threshold=threshold)
    expected = official_v2(references, [{**p, "no_answer_probability": _float32(p["no_answer_probability"])}
                                        for p in predictions], threshold)
    assert list(got) == list(expected)
    assert got == pytest.approx(expected, abs=1e-12)


def test_squad_v2_documented_examples():
    squad_v2 = metrics.load("squad_v2")
    ids = ["56e10a3be3433e1400422b22", "56d2051ce7d4791d0090260b", "5733b5344776f419006610e1"]
    references = [{"answers": {"answer_start": [97], "text": ["1976"]}, "id": ids[0]},
                  {"answers": {"answer_start": [233], "text": ["Beyoncé and Bruno Mars"]}, "id": ids[1]},
                  {"answers": {"answer_start": [891], "text": ["climate change"]}, "id": ids[2]}]
    predictions = [{"prediction_text": text, "id": i, "no_answer_probability": 0.0}
                   for text, i in zip(["1976", "Beyonce", "climate change"], ids, strict=True)]
    third = 200 / 3
    assert squad_v2.compute(predictions=predictions, references=references) == {
        "exact": third, "f1": third, "total": 3, "HasAns_exact": third, "HasAns_f1": third, "HasAns_total": 3,
        "best_exact": third, "best_exact_thresh": 0.0, "best_f1": third, "best_f1_thresh": 0.0}
    assert squad_v2.compute(predictions=[{**predictions[0], "prediction_text": "1999"}], references=references[:1]) \
        == {"exact": 0.0, "f1": 0.0, "total": 1, "HasAns_exact": 0.0, "HasAns_f1": 0.0, "HasAns_total": 1,
            "best_exact": 0.0, "best_exact_thresh": 0.0, "best_f1": 0.0, "best_f1_thresh": 0.0}


def test_squad_v2_all_unanswerable_and_thresholds():
    references = [{"id": str(i), "answers": {"text": [], "answer_start": []}} for i in range(3)]
    predictions = [{"id": "0", "prediction_text": "", "no_answer_probability": 0.9},
                   {"id": "1", "prediction_text": "Paris", "no_answer_probability": 0.1},
                   {"id": "2", "prediction_text": "the", "no_answer_probability": 0.6}]  # "the" normalises to ""
    got = metrics.load("squad_v2").compute(predictions=predictions, references=references, no_answer_threshold=0.5)
    assert got["NoAns_total"] == 3 and "HasAns_total" not in got
    assert got["exact"] == pytest.approx(200 / 3)  # "Paris" below the threshold is wrong; the rest say no answer
    assert got["best_exact"] == 100.0 and got["best_exact_thresh"] == 0.0  # "no answer" above any probability > 0
    answerable = {"id": "3", "answers": {"text": ["Paris"], "answer_start": [0]}}
    got = metrics.load("squad_v2").compute(predictions=[*predictions, {**predictions[1], "id": "3", "no_answer_probability": 0.05}],
                                           references=[*references, answerable])
    assert got["best_exact"] == 100.0 and got["best_exact_thresh"] == _float32(0.05)


@pytest.mark.parametrize(("predictions", "references", "message"), [
    ([], [], "no references"),
    ([{"id": "1", "prediction_text": "x"}], [{"id": "2", "answers": {"text": ["x"]}}], "no prediction for 1"),
    ([{"id": "1"}], [{"id": "1", "answers": {"text": ["x"]}}], "prediction_text"),
    ([{"id": "1", "prediction_text": "x"}], [{"id": "1"}], "answers")])
def test_squad_v2_bad_input(predictions, references, message):
    with pytest.raises(MetricInputError, match=message):
        metrics.load("squad_v2").compute(predictions=predictions, references=references)


def test_squad_v2_through_evaluates_input_handling():
    """evaluate's own Metric machinery (squad_v2's features: probabilities stored as float32) around the oracle."""
    evaluate = pytest.importorskip("evaluate")
    datasets = pytest.importorskip("datasets")

    class OfficialV2(evaluate.Metric):
        def _info(self):
            prediction = {"id": datasets.Value("string"), "prediction_text": datasets.Value("string"),
                          "no_answer_probability": datasets.Value("float32")}
            answers = datasets.features.Sequence({"text": datasets.Value("string"),
                                                  "answer_start": datasets.Value("int32")})
            return evaluate.MetricInfo(description="", citation="", inputs_description="", features=datasets.Features(
                {"predictions": prediction, "references": {"id": datasets.Value("string"), "answers": answers}}))

        def _compute(self, predictions, references, no_answer_threshold=1.0):
            return official_v2(references, predictions, no_answer_threshold)

    references = [{"id": "a", "answers": {"text": ["Paris"], "answer_start": [0]}},
                  {"id": "b", "answers": {"text": [], "answer_start": []}},
                  {"id": "c", "answers": {"text": ["the Seine", "Seine river"], "answer_start": [3, 5]}}]
    predictions = [{"id": "a", "prediction_text": "paris", "no_answer_probability": 0.1},
                   {"id": "b", "prediction_text": "Seine", "no_answer_probability": 0.7},
                   {"id": "c", "prediction_text": "river", "no_answer_probability": 0.3}]
    for threshold in (1.0, 0.5, 0.2):
        expected = OfficialV2().compute(predictions=predictions, references=references, no_answer_threshold=threshold)
        got = metrics.load("squad_v2").compute(predictions=predictions, references=references,
                                               no_answer_threshold=threshold)
        assert got == expected
