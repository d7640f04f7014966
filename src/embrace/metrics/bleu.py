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
# mteval-v13a's four substitutions. The first pads single characters, so it runs as str.translate (the regex,
# which also matches every space, spends most of its time building replacement strings); the others keep the regex
# with a replacement function (a template string is expanded in Python per match on Python 3.11).
_PAD = re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])")
_PAD_TABLE = str.maketrans({c: f" {c} " for c in map(chr, range(128)) if _PAD.fullmatch(c)})
_13A: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"([^0-9])([\.,])"), lambda m: f"{m[1]} {m[2]} "),
    (re.compile(r"([\.,])([^0-9])"), lambda m: f" {m[1]} {m[2]}"),
    (re.compile(r"([0-9])(-)"), lambda m: f"{m[1]} {m[2]} ")]


def tokenize_13a(line: str) -> str:
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} ".translate(_PAD_TABLE)
    for pattern, replacement in _13A:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def ngram_counts(tokens: list[str], max_order: int = MAX_ORDER) -> list[Counter[tuple[str, ...]]]:
    """Per order n = 1..max_order, every n-gram of ``tokens`` with its count."""
    return [Counter(zip(*(tokens[i:] for i in range(n)))) for n in range(1, max_order + 1)]


def clipped_matches(prediction: list[str], references: list[list[str]], max_order: int = MAX_ORDER) -> list[int]:
    """Per order, the prediction's n-grams counted at most as often as in the reference that has most of them."""
    clips = ngram_counts(references[0], max_order)
    for other in references[1:]:
        clips = [clip | counts for clip, counts in zip(clips, ngram_counts(other, max_order), strict=True)]
    matches = []
    for counts, clip in zip(ngram_counts(prediction, max_order), clips, strict=True):
        common = counts.keys() & clip.keys()  # a set in C; then min over the (few) shared n-grams, also in C
        matches.append(sum(map(min, map(counts.__getitem__, common), map(clip.__getitem__, common))))
    return matches


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

    def prepare(text: str) -> list[str]:
        return tokenizer((text.lower() if lowercase else text).rstrip()).split()

    correct, total, sys_len, ref_len = [0.0] * MAX_ORDER, [0.0] * MAX_ORDER, 0, 0
    for pred, group in zip(preds, refs, strict=True):
        tokens, references = prepare(pred), [prepare(reference) for reference in group]
        sys_len += len(tokens)
        ref_len += _closest(len(tokens), [len(r) for r in references])
        for n, matches in enumerate(clipped_matches(tokens, references)):
            total[n] += max(len(tokens) - n, 0)
            correct[n] += matches
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
        for n, count in enumerate(clipped_matches(tokens, ref_tokens, max_order)):
            matches[n] += count
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
