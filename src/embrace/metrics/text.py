"""Text metrics with ``evaluate``'s definitions: exact_match (optional regexes/case/punctuation/number stripping),
wer and cer (corpus-level: total edit operations / total reference words or characters, jiwer's normalisation:
multiple spaces collapsed, ends stripped). ``wer``/``cer`` return a float, as ``evaluate`` does."""

from __future__ import annotations

import re
import string
from typing import Any

import numpy as np

from embrace.metrics.classification import MetricInputError


def exact_match(predictions: Any, references: Any, regexes_to_ignore: list[str] | None = None,
                ignore_case: bool = False, ignore_punctuation: bool = False, ignore_numbers: bool = False,
                **_: Any) -> dict[str, Any]:
    preds, refs = [str(p) for p in predictions], [str(r) for r in references]
    if len(preds) != len(refs) or not refs:
        raise MetricInputError("exact_match needs one prediction per reference, and at least one")
    for pattern in regexes_to_ignore or []:
        preds = [re.sub(pattern, "", p) for p in preds]
        refs = [re.sub(pattern, "", r) for r in refs]
    if ignore_case:
        preds, refs = [p.lower() for p in preds], [r.lower() for r in refs]
    for skip, chars in ((ignore_punctuation, string.punctuation), (ignore_numbers, string.digits)):
        if skip:
            table = str.maketrans("", "", chars)
            preds, refs = [p.translate(table) for p in preds], [r.translate(table) for r in refs]
    return {"exact_match": float(np.mean([p == r for p, r in zip(preds, refs, strict=True)]))}


def _edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance (substitutions, deletions, insertions all cost 1), one row at a time."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, 1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_token != hyp_token)))
        previous = current
    return previous[-1]


def _error_rate(predictions: Any, references: Any, split: Any, concatenate_texts: bool) -> float:
    preds, refs = [" ".join(str(p).split()) for p in predictions], [" ".join(str(r).split()) for r in references]
    if len(preds) != len(refs) or not refs:
        raise MetricInputError("wer/cer need one prediction per reference, and at least one")
    if concatenate_texts:
        preds, refs = [" ".join(preds)], [" ".join(refs)]
    errors = total = 0
    for pred, ref in zip(preds, refs, strict=True):
        ref_units = split(ref)
        if not ref_units:
            raise MetricInputError("a reference is empty: wer/cer divide by the reference length")
        errors += _edit_distance(ref_units, split(pred))
        total += len(ref_units)
    return errors / total


def wer(predictions: Any, references: Any, concatenate_texts: bool = False, **_: Any) -> float:
    return _error_rate(predictions, references, str.split, concatenate_texts)


def cer(predictions: Any, references: Any, concatenate_texts: bool = False, **_: Any) -> float:
    return _error_rate(predictions, references, list, concatenate_texts)
