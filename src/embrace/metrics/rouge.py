"""``rouge``: ROUGE-N, ROUGE-L and summary-level ROUGE-Lsum F-measures with the definitions of Google's
``rouge-score`` package, called the way ``evaluate.load("rouge")`` calls it.

* Tokens: the text lower-cased, every run of characters other than ``a-z0-9`` a separator (so non-ASCII letters
  vanish); with ``use_stemmer`` tokens longer than 3 characters go through NLTK's Porter stemmer
  (:mod:`embrace.metrics.porter`). A ``tokenizer`` callable (text -> list of tokens) replaces all of this.
* ``rougeN`` (N = 1..9): clipped n-gram overlap; ``rougeL``: longest common subsequence; ``rougeLsum``: the
  texts split into sentences at ``"\\n"`` and the union LCS of each reference sentence with all predicted
  sentences, each token counted at most as often as it occurs in both (ROUGE-1.5.5's summary-level LCS).
* Several references for one prediction: per type, the reference with the highest F-measure counts.
* ``use_aggregator=True`` (default) returns, per type, the median of 1000 bootstrap means of the per-example
  F-measures, drawn from numpy's global random state exactly as rouge-score's ``BootstrapAggregator`` draws
  them: after the same ``np.random.seed(s)`` the numbers equal evaluate's; unseeded, both differ a little from
  call to call. ``use_aggregator=False`` returns the per-example F-measures.

LCS lengths use the bit-parallel algorithm (Hyyrö 2004), one big-int row per reference token; the LCS that
rougeLsum unions is read back from those rows with rouge-score's tie-breaking, so the result is the same.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from embrace.metrics.classification import MetricInputError
from embrace.metrics.porter import stem

DEFAULT_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
BOOTSTRAP_SAMPLES = 1000
_TOKEN = re.compile(r"[a-z0-9]+")
_NGRAM_TYPE = re.compile(r"rouge[1-9]")
Tokenizer = Callable[[str], Sequence[str]]


def tokenize(text: str, use_stemmer: bool = False) -> list[str]:
    """rouge-score's default tokenizer: lower-cased ``[a-z0-9]+`` runs, optionally Porter-stemmed."""
    tokens = _TOKEN.findall(text.lower())
    return [stem(token) if len(token) > 3 else token for token in tokens] if use_stemmer else tokens


def _fmeasure(matches: int, predicted: int, target: int) -> float:
    precision, recall = matches / predicted, matches / target
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


class _Text:
    """One text's tokens, n-gram counts and per-sentence LCS match masks, computed once and reused."""

    def __init__(self, text: str, tokenizer: Tokenizer, need_tokens: bool, need_sentences: bool) -> None:
        self.tokens = list(tokenizer(text)) if need_tokens else []
        self.sentences = [list(tokenizer(s)) for s in text.split("\n") if s] if need_sentences else []
        self._ngrams: dict[int, Counter[Any]] = {}
        self._masks: dict[int, dict[str, int]] = {}

    def ngrams(self, n: int) -> Counter[Any]:
        if n not in self._ngrams:
            tokens = self.tokens
            self._ngrams[n] = Counter(tokens if n == 1 else zip(*(tokens[i:] for i in range(n))))
        return self._ngrams[n]

    def masks(self, index: int) -> dict[str, int]:
        """Bit j set for the positions j where token ``t`` occurs, per token, in sentence ``index`` (-1: all)."""
        if index not in self._masks:
            masks: dict[str, int] = {}
            for j, token in enumerate(self.tokens if index < 0 else self.sentences[index]):
                masks[token] = masks.get(token, 0) | (1 << j)
            self._masks[index] = masks
        return self._masks[index]


def _lcs_rows(reference: list[str], masks: dict[str, int], width: int) -> list[int]:
    """Bit-parallel LCS rows: LCS(reference[:i], candidate[:j]) = j - popcount(rows[i] & (2**j - 1))."""
    full = (1 << width) - 1
    row, rows = full, [full]
    for token in reference:
        matched = row & masks.get(token, 0)
        row = ((row + matched) | (row - matched)) & full
        rows.append(row)
    return rows


def _lcs_length(reference: list[str], masks: dict[str, int], width: int) -> int:
    return width - _lcs_rows(reference, masks, width)[-1].bit_count()


def _lcs_indices(reference: list[str], candidate: list[str], masks: dict[str, int]) -> list[int]:
    """Indices into ``reference`` of one LCS, the one rouge-score's table backtrack picks."""
    rows = _lcs_rows(reference, masks, len(candidate))
    i, j, found = len(reference), len(candidate), []
    while i > 0 and j > 0:
        if reference[i - 1] == candidate[j - 1]:
            found.append(i - 1)
            i, j = i - 1, j - 1
        elif j - 1 - (rows[i] & ((1 << (j - 1)) - 1)).bit_count() > j - (rows[i - 1] & ((1 << j) - 1)).bit_count():
            j -= 1
        else:
            i -= 1
    return found


def _summary_lcs(target: _Text, prediction: _Text) -> float:
    refs, cands = target.sentences, prediction.sentences
    m, n = sum(map(len, refs)), sum(map(len, cands))
    if not m or not n:
        return 0.0
    if len(refs) == 1 and len(cands) == 1:  # one LCS: every token of it is in both texts
        return _fmeasure(_lcs_length(refs[0], prediction.masks(0), n), n, m)
    ref_counts = Counter(token for sentence in refs for token in sentence)
    cand_counts = Counter(token for sentence in cands for token in sentence)
    hits = 0
    for ref in refs:
        union: set[int] = set()
        for index, cand in enumerate(cands):
            union.update(_lcs_indices(ref, cand, prediction.masks(index)))
        for token in (ref[i] for i in sorted(union)):
            if cand_counts[token] > 0 and ref_counts[token] > 0:
                hits += 1
                cand_counts[token] -= 1
                ref_counts[token] -= 1
    return _fmeasure(hits, n, m)


def _score(rouge_type: str, target: _Text, prediction: _Text) -> float:
    if rouge_type == "rougeL":
        if not target.tokens or not prediction.tokens:
            return 0.0
        width = len(prediction.tokens)
        return _fmeasure(_lcs_length(target.tokens, prediction.masks(-1), width), width, len(target.tokens))
    if rouge_type == "rougeLsum":
        return _summary_lcs(target, prediction)
    n = int(rouge_type[5:])
    target_grams, predicted_grams = target.ngrams(n), prediction.ngrams(n)
    matches = sum(min(count, predicted_grams[gram]) for gram, count in target_grams.items() if gram in predicted_grams)
    return _fmeasure(matches, max(len(prediction.tokens) - n + 1, 1), max(len(target.tokens) - n + 1, 1))


def bootstrap_median(values: np.ndarray, n_samples: int = BOOTSTRAP_SAMPLES) -> float:
    """rouge-score's ``BootstrapAggregator`` mid value for one column: the median of ``n_samples`` means of
    resamples with replacement. Draws ``np.random.randint(0, n, n)`` per sample from numpy's global state (what
    ``np.random.choice(np.arange(n), n)`` draws) and sums in order (as numpy's column mean does): bit-for-bit."""
    n = len(values)
    means = np.empty(n_samples)
    chunk = max(1, (1 << 21) // n)
    for start in range(0, n_samples, chunk):
        rows = min(chunk, n_samples - start)
        indices = np.random.randint(0, n, size=(rows, n))  # numpy's global state, as rouge-score
        means[start:start + rows] = np.cumsum(values[indices], axis=1)[:, -1] / n
    return float(np.percentile(means, 50.0))


def _check_types(rouge_types: Any) -> list[str]:
    types = list(dict.fromkeys(DEFAULT_TYPES if rouge_types is None else
                               [rouge_types] if isinstance(rouge_types, str) else rouge_types))
    for rouge_type in types:
        if rouge_type not in ("rougeL", "rougeLsum") and not _NGRAM_TYPE.fullmatch(str(rouge_type)):
            raise MetricInputError(f"invalid rouge type {rouge_type!r}: use rouge1..rouge9, rougeL or rougeLsum")
    if not types:
        raise MetricInputError("rouge_types is empty: name at least one of rouge1..rouge9, rougeL, rougeLsum")
    return types


def _texts(predictions: Any, references: Any) -> tuple[list[str], list[list[str]]]:
    preds = list(predictions)
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if len(preds) != len(refs) or not preds:
        raise MetricInputError(f"rouge needs one reference (or list of references) per prediction, and at least "
                               f"one prediction; got {len(preds)} predictions and {len(refs)} references")
    for text in [*preds, *(r for group in refs for r in group)]:
        if not isinstance(text, str):
            raise MetricInputError(f"rouge scores strings; got {type(text).__name__} {text!r}")
    if any(not group for group in refs):
        raise MetricInputError("a prediction has an empty list of references")
    return preds, refs


def rouge(predictions: Any, references: Any, rouge_types: Any = None, use_aggregator: bool = True,
          use_stemmer: bool = False, tokenizer: Tokenizer | None = None, **_: Any) -> dict[str, Any]:
    """``predictions``: strings; ``references``: a string or a list of strings per prediction. Returns
    ``{type: F-measure}`` (aggregated) or ``{type: [F-measure per prediction]}`` (``use_aggregator=False``)."""
    types = _check_types(rouge_types)
    preds, refs = _texts(predictions, references)
    if tokenizer is None:
        def tokenizer(text: str) -> list[str]:
            return tokenize(text, use_stemmer)

    need_tokens, need_sentences = types != ["rougeLsum"], "rougeLsum" in types

    def prepare(text: str) -> _Text:
        return _Text(text, tokenizer, need_tokens, need_sentences)

    scores = np.empty((len(types), len(preds)))
    for column, (pred, group) in enumerate(zip(preds, refs, strict=True)):
        prediction = prepare(pred)
        targets = [prepare(ref) for ref in group]
        for row, rouge_type in enumerate(types):
            scores[row, column] = max(_score(rouge_type, target, prediction) for target in targets)
    if use_aggregator:
        return {rouge_type: bootstrap_median(scores[row]) for row, rouge_type in enumerate(types)}
    return {rouge_type: scores[row].tolist() for row, rouge_type in enumerate(types)}
