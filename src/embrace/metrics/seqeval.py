"""``seqeval``: entity-level precision/recall/F1 for IOB/IOBES tag sequences (evaluate's ``seqeval``, the
seqeval library's default "conlleval" mode) plus token accuracy.

Entities are read from the tags as conlleval does (a chunk ends at O, at a B/S, at E/S, or when the type changes;
an I or E after O starts one), over all sentences joined with O separators; an entity counts as found only with the
same type, start and end. Result: ``{type: {precision, recall, f1, number}}`` and ``overall_precision``,
``overall_recall``, ``overall_f1`` (micro average), ``overall_accuracy``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from embrace.metrics.classification import MetricInputError

_ENDS_AFTER = {"E", "S"}
_ENDS_BEFORE = {("B", "B"), ("B", "S"), ("B", "O"), ("I", "B"), ("I", "S"), ("I", "O")}
_STARTS = {("E", "E"), ("E", "I"), ("S", "E"), ("S", "I"), ("O", "E"), ("O", "I")}


def _split(label: str, suffix: bool) -> tuple[str, str]:
    if suffix:
        return label[-1], label[:-1].rsplit("-", maxsplit=1)[0] or "_"
    return label[0], label[1:].split("-", maxsplit=1)[-1] or "_"


def get_entities(sentences: list[list[str]], suffix: bool = False) -> set[tuple[str, int, int]]:
    """``(type, start, end)`` of every chunk, positions counted over the sentences joined with ``O``."""
    labels = [label for sentence in sentences for label in [*sentence, "O"]]
    chunks = set()
    prev_tag, prev_type, begin = "O", "", 0
    for i, label in enumerate([*labels, "O"]):
        tag, type_ = _split(label, suffix)
        changed = prev_type != type_
        if prev_tag in _ENDS_AFTER or (prev_tag, tag) in _ENDS_BEFORE or (prev_tag not in "O." and changed):
            chunks.add((prev_type, begin, i - 1))
        if tag in ("B", "S") or (prev_tag, tag) in _STARTS or (tag not in "O." and changed):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _prf(found: int, predicted: int, true: int, zero_division: float) -> tuple[float, float, float]:
    precision = found / predicted if predicted else zero_division
    recall = found / true if true else zero_division
    f1 = 2 * found / (predicted + true) if predicted + true else zero_division
    return float(precision), float(recall), float(f1)


def seqeval(predictions: Any, references: Any, suffix: bool = False, zero_division: float = 0,
            **_: Any) -> dict[str, Any]:
    preds, refs = [list(p) for p in predictions], [list(r) for r in references]
    if len(preds) != len(refs) or any(len(p) != len(r) for p, r in zip(preds, refs, strict=True)):
        raise MetricInputError("seqeval needs one tag sequence per reference sentence, of the same length")
    tokens = sum(len(r) for r in refs)
    if tokens == 0:
        raise MetricInputError("no tags to score: add predictions and references first")
    true_entities, pred_entities = get_entities(refs, suffix), get_entities(preds, suffix)
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # found, predicted, true
    for entity in pred_entities:
        by_type[entity[0]][1] += 1
        by_type[entity[0]][0] += entity in true_entities
    for entity in true_entities:
        by_type[entity[0]][2] += 1
    scores: dict[str, Any] = {}
    for type_ in sorted(by_type):
        found, predicted, true = by_type[type_]
        precision, recall, f1 = _prf(found, predicted, true, zero_division)
        scores[type_] = {"precision": precision, "recall": recall, "f1": f1, "number": true}
    found = len(true_entities & pred_entities)
    precision, recall, f1 = _prf(found, len(pred_entities), len(true_entities), zero_division)
    correct = sum(p == r for ps, rs in zip(preds, refs, strict=True) for p, r in zip(ps, rs, strict=True))
    scores.update(overall_precision=precision, overall_recall=recall, overall_f1=f1,
                  overall_accuracy=correct / tokens)
    return scores
