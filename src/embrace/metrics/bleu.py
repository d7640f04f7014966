"""Corpus BLEU, two ways: ``sacrebleu`` (sacrebleu's definitions; evaluate's ``sacrebleu`` wraps that library) and
``bleu`` (evaluate's ``bleu``: tensorflow/nmt's ``compute_bleu`` over 13a tokens).

``sacrebleu``: tokenisation ``13a`` (mteval-v13a, the default) or ``none``; n-grams up to 4 clipped by the maximum count over a
prediction's references; the brevity penalty uses, per sentence, the reference length closest to the prediction
(the shorter on ties); smoothing ``exp`` (default), ``floor``, ``add-k`` or ``none``. Scores are 0..100.

``bleu``: n-grams up to ``max_order`` clipped by the maximum count over the references; the brevity penalty uses
the *shortest* reference of each prediction; ``smooth=True`` adds 1 to every order's matches and totals (Lin and
Och 2004); scores are 0..1. ``tokenizer`` is any callable from a string to a list of tokens (default 13a).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from embrace.metrics.classification import MetricInputError

MAX_ORDER = 4
_SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1, "exp": None}
_13A = [(re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "), (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
        (re.compile(r"([\.,])([^0-9])"), r" \1 \2"), (re.compile(r"([0-9])(-)"), r"\1 \2 ")]


def tokenize_13a(line: str) -> str:
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in _13A:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def ngram_counts(tokens: list[str], max_order: int = MAX_ORDER) -> Counter[tuple[str, ...]]:
    """Every n-gram of ``tokens`` for n = 1..max_order, with its count."""
    counts: Counter[tuple[str, ...]] = Counter()
    for n in range(1, max_order + 1):
        counts.update(zip(*(tokens[i:] for i in range(n))))
    return counts


def _ngrams(line: str) -> tuple[Counter[tuple[str, ...]], int]:
    tokens = line.split()
    return ngram_counts(tokens), len(tokens)


def _closest(length: int, candidates: list[int]) -> int:
    return min(candidates, key=lambda c: (abs(length - c), c))


def sacrebleu(predictions: Any, references: Any, smooth_method: str = "exp", smooth_value: float | None = None,
              lowercase: bool = False, tokenize: str | None = None, use_effective_order: bool = False,
              **_: Any) -> dict[str, Any]:
    """``predictions``: strings; ``references``: one list of reference strings per prediction (same count each)."""
    preds = [str(p) for p in predictions]
    refs = [[str(r) for r in (rs if isinstance(rs, (list, tuple)) else [rs])] for rs in references]
    if len(preds) != len(refs) or not preds:
        raise MetricInputError("sacrebleu needs one list of references per prediction, and at least one prediction")
    if len({len(r) for r in refs}) != 1:
        raise MetricInputError("sacrebleu needs the same number of references for every prediction")
    if smooth_method not in _SMOOTH_DEFAULTS:
        raise MetricInputError(f"smooth_method={smooth_method!r}: use one of {', '.join(_SMOOTH_DEFAULTS)}")
    if tokenize not in (None, "13a", "none"):
        raise MetricInputError(f"tokenize={tokenize!r}: embrace supports '13a' (default) and 'none'")
    tokenizer = (lambda s: " ".join(s.split())) if tokenize == "none" else tokenize_13a

    def prepare(text: str) -> str:
        return tokenizer((text.lower() if lowercase else text).rstrip())

    correct, total, sys_len, ref_len = [0.0] * MAX_ORDER, [0.0] * MAX_ORDER, 0, 0
    for pred, group in zip(preds, refs, strict=True):
        best: Counter[tuple[str, ...]] = Counter()
        lengths = []
        for reference in group:
            counts, length = _ngrams(prepare(reference))
            lengths.append(length)
            for gram, count in counts.items():
                best[gram] = max(best[gram], count)
        counts, length = _ngrams(prepare(pred))
        sys_len += length
        ref_len += _closest(length, lengths)
        for gram, count in counts.items():
            total[len(gram) - 1] += count
            correct[len(gram) - 1] += min(count, best.get(gram, 0))
    value = _SMOOTH_DEFAULTS[smooth_method] if smooth_value is None else smooth_value
    return _score(correct, total, sys_len, ref_len, smooth_method, value, use_effective_order)


def _score(correct: list[float], total: list[float], sys_len: int, ref_len: int, smooth_method: str,
           smooth_value: float | None, effective_order: bool) -> dict[str, Any]:
    bp = 1.0 if sys_len >= ref_len else (math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0)
    precisions = [0.0] * MAX_ORDER
    result = {"counts": [int(c) for c in correct], "totals": [int(t) for t in total], "bp": bp, "sys_len": sys_len,
              "ref_len": ref_len}
    if not any(correct):
        return {"score": 0.0, **result, "precisions": precisions}
    smooth, order = 1.0, MAX_ORDER
    for n in range(MAX_ORDER):
        if smooth_method == "add-k" and n > 0:
            correct[n] += float(smooth_value or 0)
            total[n] += float(smooth_value or 0)
        if total[n] == 0:
            break
        if effective_order:
            order = n + 1
        if correct[n] == 0:
            if smooth_method == "exp":
                smooth *= 2
                precisions[n] = 100.0 / (smooth * total[n])
            elif smooth_method == "floor":
                precisions[n] = 100.0 * float(smooth_value or 0) / total[n]
        else:
            precisions[n] = 100.0 * correct[n] / total[n]
    log_sum = sum(math.log(p) if p > 0 else -9999999999 for p in precisions[:order])
    return {"score": bp * math.exp(log_sum / order), **result, "precisions": precisions}


def _tokens_13a(text: str) -> list[str]:
    return tokenize_13a(text).split()


def bleu(predictions: Any, references: Any, tokenizer: Callable[[str], list[str]] | None = None, max_order: int = 4,
         smooth: bool = False, **_: Any) -> dict[str, Any]:
    """evaluate's ``bleu``. ``predictions``: strings; ``references``: a string or a list of strings per prediction
    (any number each). Returns bleu, precisions (per order), brevity_penalty, length_ratio, translation_length
    and reference_length (both in tokens; the reference length sums each prediction's shortest reference)."""
    preds = list(predictions)
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if len(preds) != len(refs) or not preds or any(not group for group in refs):
        raise MetricInputError("bleu needs one reference (or non-empty list of references) per prediction, and at "
                               f"least one prediction; got {len(preds)} predictions and {len(refs)} references")
    if not isinstance(max_order, int) or max_order < 1:
        raise MetricInputError(f"max_order={max_order!r}: use a positive integer (4 is standard)")
    tokenize = _tokens_13a if tokenizer is None else tokenizer
    matches, possible = [0] * max_order, [0] * max_order
    translation_length = reference_length = 0
    for pred, group in zip(preds, refs, strict=True):
        tokens = tokenize(pred)
        ref_tokens = [tokenize(r) for r in group]
        translation_length += len(tokens)
        reference_length += min(len(r) for r in ref_tokens)
        clip = ngram_counts(ref_tokens[0], max_order)
        for other in ref_tokens[1:]:
            clip |= ngram_counts(other, max_order)
        for gram, count in ngram_counts(tokens, max_order).items():
            if gram in clip:
                matches[len(gram) - 1] += min(count, clip[gram])
        for n in range(max_order):
            possible[n] += max(len(tokens) - n, 0)
    if smooth:
        precisions = [(m + 1.0) / (p + 1.0) for m, p in zip(matches, possible, strict=True)]
    else:
        precisions = [m / p if p > 0 else 0.0 for m, p in zip(matches, possible, strict=True)]
    geo_mean = math.exp(sum((1.0 / max_order) * math.log(p) for p in precisions)) if min(precisions) > 0 else 0.0
    if reference_length == 0 or translation_length == 0:
        ratio = bp = 0.0
    else:
        ratio = translation_length / reference_length
        bp = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return {"bleu": geo_mean * bp, "precisions": precisions, "brevity_penalty": bp, "length_ratio": ratio,
            "translation_length": translation_length, "reference_length": reference_length}
