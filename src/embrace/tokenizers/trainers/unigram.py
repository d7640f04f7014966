"""Unigram trainer (SentencePiece's EM + pruning), following the reference ``tokenizers`` UnigramTrainer.

Steps, as in the reference:

1. seeds: every character (count weighted by word frequency) and every substring of 2..``max_piece_length``
   characters that is an internal node of the suffix tree of the words joined by NUL (it occurs at least
   twice and is followed by at least two different characters), scored ``occurrences * length``; the
   reference counts occurrences over *distinct* words, and so does this;
2. EM: the E step runs forward-backward on each word's lattice, the M step keeps pieces with expected count
   >= 0.5 and scores them with the Bayesian (digamma) update;
3. pruning: each piece's loss is estimated from its second-best segmentation and the Viterbi counts, the
   worst are dropped (to ``shrinking_factor`` of the size, not below 1.1 * vocab_size), until the size fits;
4. finalize: required characters first, then the best pieces, sorted by score, after the special tokens.

The reference visits words in hash-map order and sums expected counts per thread, so its floating-point
sums (and the rare near-ties they decide) vary from run to run; this implementation visits words in their
insertion order. Lattice positions are characters (the reference uses bytes of the same characters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from embrace.tokenizers.trainers._common import (
    Progress,
    TrainerError,
    alphabet_chars,
    check_word_counts,
    special_token_entries,
)
from embrace.tokenizers.trainers.bpe import TrainResult

_UNK_PENALTY = 10.0
_TRAIN_UNK = "<UNK>"
Piece = tuple[str, float]
# A lattice edge: (begin, end, piece id, score); per word, edges are ordered by begin then by length.
Edge = tuple[int, int, int, float]


def digamma(x: float) -> float:
    """The reference's digamma approximation (NaN stays NaN)."""
    result = 0.0
    while x < 7.0:
        result -= 1.0 / x
        x += 1.0
    x -= 0.5
    xx = 1.0 / x
    xx2 = xx * xx
    xx4 = xx2 * xx2
    result += math.log(x) + (1.0 / 24.0) * xx2 - 7.0 / 960.0 * xx4 + (31.0 / 8064.0) * xx4 * xx2
    return result - (127.0 / 30720.0) * xx4 * xx4


class _Model:
    """A scored piece list with the lookups a lattice needs (the reference's ``Unigram::from``).

    ``lookup`` maps every prefix of every piece to the piece's id, or -1 for a prefix that is not itself a
    piece, so scanning a word stops as soon as no longer piece can match (the reference walks a trie).
    """

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces
        self.scores = [s for _, s in pieces]
        lookup: dict[str, int] = {}
        for i, (piece, _) in enumerate(pieces):
            for k in range(1, len(piece)):
                lookup.setdefault(piece[:k], -1)
            lookup[piece] = i
        self.lookup = lookup
        finite = [s for s in self.scores if s == s]
        self.min_score = min(finite) if finite else math.inf
        self.unk_score = self.min_score - _UNK_PENALTY

    def edges(self, text: str) -> list[Edge]:
        """Lattice nodes of ``text`` ordered by begin, then length: every vocabulary piece at every position,
        plus an unk node (id 0) where no single-character piece exists."""
        lookup, scores, unk_score = self.lookup, self.scores, self.unk_score
        out: list[Edge] = []
        n = len(text)
        for begin in range(n):
            has_single = False
            end = begin + 1
            while end <= n:
                pid = lookup.get(text[begin:end])
                if pid is None:
                    break
                if pid >= 0:
                    out.append((begin, end, pid, scores[pid]))
                    if end == begin + 1:
                        has_single = True
                end += 1
            if not has_single:
                out.append((begin, begin + 1, 0, unk_score))
        return out


def _forward_backward(edges: list[Edge], n: int, freq: float, expected: list[float]) -> float:
    """Adds ``freq`` times each node's marginal to ``expected[id]``; returns ``freq * log Z``.

    Log-sums accumulate node by node in the reference's order (``_log_sum_exp`` inlined for speed).
    """
    ends: list[list[Edge]] = [[] for _ in range(n + 1)]
    begins: list[list[Edge]] = [[] for _ in range(n + 1)]
    for edge in edges:
        begins[edge[0]].append(edge)
        ends[edge[1]].append(edge)
    log, exp = math.log, math.exp
    alpha = [0.0] * (n + 1)  # log-sum of all paths from bos up to position i
    for pos in range(1, n + 1):
        nodes = ends[pos]
        acc = nodes[0][3] + alpha[nodes[0][0]]
        for b, _, _, s in nodes[1:]:
            v = s + alpha[b]
            if acc > v:
                if acc <= v + 50.0:
                    acc += log(exp(v - acc) + 1.0)
            elif v > acc + 50.0:
                acc = v
            else:
                acc = v + log(exp(acc - v) + 1.0)
        alpha[pos] = acc
    beta = [0.0] * (n + 1)  # log-sum of all paths from position i to eos
    for pos in range(n - 1, -1, -1):
        nodes = begins[pos]
        acc = nodes[0][3] + beta[nodes[0][1]]
        for _, end, _, s in nodes[1:]:
            v = s + beta[end]
            if acc > v:
                if acc <= v + 50.0:
                    acc += log(exp(v - acc) + 1.0)
            elif v > acc + 50.0:
                acc = v
            else:
                acc = v + log(exp(acc - v) + 1.0)
        beta[pos] = acc
    z = alpha[n]
    for b, end, pid, s in edges:
        expected[pid] += freq * exp(alpha[b] + s + beta[end] - z)
    return freq * z


def _viterbi(edges: list[Edge], n: int) -> list[int]:
    """Best segmentation's piece ids (first best on ties, as the reference); empty if none."""
    ends: list[list[Edge]] = [[] for _ in range(n + 1)]
    begins: list[list[Edge]] = [[] for _ in range(n + 1)]
    for edge in edges:
        begins[edge[0]].append(edge)
        ends[edge[1]].append(edge)
    best: dict[Edge, tuple[float, Edge | None]] = {}
    for pos in range(n):
        if not begins[pos]:
            return []
        for r in begins[pos]:
            if pos == 0:
                best[r] = (r[3], None)
                continue
            chosen: tuple[float, Edge | None] | None = None
            for left in ends[pos]:
                if left not in best:
                    continue
                score = best[left][0] + r[3]
                if chosen is None or score > chosen[0]:
                    chosen = (score, left)
            if chosen is None:
                return []
            best[r] = chosen
    final: Edge | None = None
    final_score = 0.0
    for left in ends[n]:
        if left in best and (final is None or best[left][0] > final_score):
            final, final_score = left, best[left][0]
    path: list[int] = []
    while final is not None:
        path.append(final[2])
        final = best[final][1]
    return path[::-1]


def _two_best(edges: list[Edge], n: int) -> list[list[int]]:
    """The best and second-best segmentations (piece ids), best first; fewer when fewer exist."""
    tops: list[list[tuple[float, tuple[int, ...]]]] = [[] for _ in range(n + 1)]
    tops[0] = [(0.0, ())]
    by_end: list[list[Edge]] = [[] for _ in range(n + 1)]
    for edge in edges:
        by_end[edge[1]].append(edge)
    for pos in range(1, n + 1):
        cands = [(score + s, path + (pid,)) for b, _, pid, s in by_end[pos] for score, path in tops[b]]
        cands.sort(key=lambda c: -c[0])  # stable: earlier (longer, then lower-begin) nodes win ties
        tops[pos] = cands[:2]
    return [list(path) for _, path in tops[n]]


@dataclass
class UnigramTrainer:
    """Trains a Unigram model; arguments and defaults as the reference's ``tokenizers.trainers.UnigramTrainer``."""

    vocab_size: int = 8000
    show_progress: bool = True
    special_tokens: list[Any] = field(default_factory=list)
    initial_alphabet: list[str] = field(default_factory=list)
    shrinking_factor: float = 0.75
    unk_token: str | None = None
    max_piece_length: int = 16
    n_sub_iterations: int = 2
    seed_size: int = 1_000_000

    model_type = "Unigram"

    def train_words(self, word_counts: Mapping[str, int], base_model: dict[str, Any] | None = None) -> TrainResult:
        """Learns scored pieces from ``{word: count}``; returns the tokenizer.json model section.

        The trained model replaces the base model entirely (as in the reference; ``byte_fallback`` is reset).
        """
        if base_model is not None and base_model.get("type", "Unigram") != "Unigram":
            raise TrainerError(f"UnigramTrainer trains a Unigram model, the tokenizer has a {base_model.get('type')} model")
        if not 0.0 < self.shrinking_factor < 1.0:
            raise TrainerError(f"shrinking_factor must be in (0, 1), got {self.shrinking_factor}")
        specials = [entry["content"] for entry in special_token_entries(self.special_tokens)]
        n_reserved = len(specials) + (1 if self.unk_token is not None and self.unk_token not in specials else 0)
        if self.vocab_size <= n_reserved:
            raise TrainerError(f"vocab_size={self.vocab_size} leaves no room after {n_reserved} special tokens")
        sentences = [(w, int(c)) for w, c in check_word_counts(word_counts).items()]
        pieces, unk_id = self.learn(sentences)
        model = {"type": "Unigram", "unk_id": unk_id, "vocab": [[p, s] for p, s in pieces], "byte_fallback": False}
        return TrainResult(model, special_token_entries(self.special_tokens))

    def learn(self, sentences: list[tuple[str, int]]) -> tuple[list[Piece], int | None]:
        """Returns ``(final pieces with scores, unk id)``."""
        pieces: list[Piece] = [(_TRAIN_UNK, math.nan), *self._seed_pieces(sentences)]
        self._prepare_lattice(pieces, sentences)
        required = self._required_chars(sentences)
        if len(required) > self.vocab_size:
            raise TrainerError(
                f"vocab_size={self.vocab_size} cannot hold the {len(required)} distinct characters of the corpus; "
                "raise vocab_size"
            )
        desired = self.vocab_size * 11 // 10
        expected_loops = int((math.log(desired) - math.log(len(pieces))) / math.log(self.shrinking_factor)) + 1
        progress = Progress(self.show_progress, max(expected_loops, 1) * self.n_sub_iterations, "EM training")
        model = _Model(pieces)
        try:
            while True:
                for _ in range(self.n_sub_iterations):
                    expected = self._e_step(model, sentences)
                    pieces = self._m_step(pieces, expected)
                    model = _Model(pieces)
                    progress.update()
                if len(pieces) <= desired:
                    break
                pieces = self._prune(model, pieces, sentences)
                model = _Model(pieces)
        finally:
            progress.close()
        return self._finalize(model, required)

    # -- steps -----------------------------------------------------------------------------------------------

    def _prepare_lattice(self, seeds: list[Piece], sentences: list[tuple[str, int]]) -> None:
        """Builds the seed lattice of all words, which every later E step and Viterbi pass filters."""
        from embrace.tokenizers.trainers._unigram_lattice import SeedLattice  # numpy, loaded when training

        self._seed_index = {piece: i for i, (piece, _) in enumerate(seeds)}
        nonempty = [(w, c) for w, c in sentences if w]
        self._lattice = SeedLattice([w for w, _ in nonempty], [float(c) for _, c in nonempty], self._seed_index,
                                    max(len(p) for p, _ in seeds))

    def _seed_pieces(self, sentences: list[tuple[str, int]]) -> list[Piece]:
        char_counts: dict[str, int] = {}
        occurrences: dict[str, int] = {}
        first_next: dict[str, str] = {}
        branching: set[str] = set()
        max_len = self.max_piece_length
        for word, count in sentences:
            if not word:
                continue
            n = len(word)
            for ch in word:
                if ch != "\0":
                    char_counts[ch] = char_counts.get(ch, 0) + count
            for i in range(n - 1):
                for j in range(i + 2, min(n, i + max_len) + 1):
                    sub = word[i:j]
                    nxt = word[j] if j < n else "\0"
                    seen = occurrences.get(sub)
                    if seen is None:
                        occurrences[sub] = 1
                        first_next[sub] = nxt
                    else:
                        occurrences[sub] = seen + 1
                        if nxt != first_next[sub]:
                            branching.add(sub)
        seeds: list[tuple[str, float]] = [
            (ch, float(c)) for c, ch in sorted(((c, ch) for ch, c in char_counts.items()), reverse=True)
        ]
        scored = sorted(((occurrences[s] * len(s), s) for s in branching if "\0" not in s), reverse=True)
        for score, sub in scored:
            if len(seeds) >= self.seed_size:
                break
            seeds.append((sub, float(score)))
        total = 0.0
        for _, s in seeds:
            total += s
        log_total = math.log(total) if total > 0 else 0.0
        return [(p, math.log(s) - log_total) for p, s in seeds]

    def _required_chars(self, sentences: list[tuple[str, int]]) -> list[str]:
        chars = {ch for word, _ in sentences for ch in word}
        chars.update(alphabet_chars(self.initial_alphabet))
        return sorted(chars)

    def _e_step(self, model: _Model, sentences: list[tuple[str, int]]) -> list[float]:
        """Expected piece counts over all words (vectorized: ``SeedLattice``)."""
        import numpy as np

        scores = np.asarray(model.scores, dtype=np.float64)
        expected = self._lattice.expected_counts(self._seed_to_id(model), scores, model.unk_score, len(model.pieces))
        if np.isnan(expected).any():
            raise TrainerError("likelihood is NaN; a training word may be too long")
        return [float(x) for x in expected]

    def _seed_to_id(self, model: _Model) -> Any:
        import numpy as np

        seed_to_id = np.full(len(self._seed_index), -1, dtype=np.int64)
        for i, (piece, _) in enumerate(model.pieces):
            sid = self._seed_index.get(piece)
            if sid is not None:
                seed_to_id[sid] = i
        return seed_to_id

    def _viterbi_counts(self, model: _Model) -> list[float]:
        """Frequency-weighted counts of the pieces on every word's best segmentation (vectorized)."""
        import numpy as np

        scores = np.asarray(model.scores, dtype=np.float64)
        counts = self._lattice.viterbi_counts(self._seed_to_id(model), scores, model.unk_score, len(model.pieces))
        return [float(x) for x in counts]

    def _viterbi_counts_reference(self, model: _Model, sentences: list[tuple[str, int]]) -> list[float]:
        """The per-word loop ``_viterbi_counts`` replaces; kept to test it against."""
        freq = [0.0] * len(model.pieces)
        for word, count in sentences:
            for pid in _viterbi(model.edges(word), len(word)) if word else []:
                freq[pid] += count
        return freq

    def _e_step_reference(self, model: _Model, sentences: list[tuple[str, int]]) -> list[float]:
        """The per-word sequential E step (the reference's loop); kept to test the vectorized one against."""
        expected = [0.0] * len(model.pieces)
        for word, freq in sentences:
            if not word:
                continue
            z = _forward_backward(model.edges(word), len(word), float(freq), expected)
            if z != z:
                raise TrainerError(f"likelihood is NaN for word {word[:50]!r}; the input may be too long")
        return expected

    def _m_step(self, pieces: list[Piece], expected: list[float]) -> list[Piece]:
        kept: list[Piece] = [(pieces[0][0], math.nan)]
        total = 0.0
        for (piece, _), freq in zip(pieces[1:], expected[1:]):
            if freq < 0.5:
                continue
            kept.append((piece, freq))
            total += freq
        log_total = digamma(total)
        return [(p, digamma(c) - log_total) for p, c in kept]

    def _prune(self, model: _Model, pieces: list[Piece], sentences: list[tuple[str, int]]) -> list[Piece]:
        n_pieces = len(pieces)
        always_keep = [True] * n_pieces
        alternatives: list[list[int]] = [[] for _ in range(n_pieces)]
        always_keep[0] = False
        for pid in range(1, n_pieces):
            token = pieces[pid][0]
            nbests = _two_best(model.edges(token), len(token))
            if len(nbests) == 1:
                always_keep[pid] = True
            elif len(nbests[0]) >= 2:
                always_keep[pid] = False
            elif len(nbests[0]) == 1:
                always_keep[pid] = True
                alternatives[pid] = nbests[1]

        vsum = float(sum(count for _, count in sentences))
        freq = self._viterbi_counts(model)

        total = 0.0
        for f in freq:
            total += f
        log_total = math.log(total)
        new_pieces: list[Piece] = [pieces[0]]
        candidates: list[tuple[int, float]] = []
        for pid in range(1, n_pieces):
            if freq[pid] == 0.0 and not always_keep[pid]:
                continue
            if not alternatives[pid]:
                new_pieces.append(pieces[pid])
                continue
            # The reference sums the counts of the words each occurrence is in: that is freq[pid] again.
            f = freq[pid]
            if f == 0.0 or f != f:
                continue
            f /= vsum
            logprob_sp = math.log(freq[pid]) - log_total
            # The reference multiplies by (number of pieces - 1), not (number of alternatives - 1); kept as is.
            logsum_alt = math.log(total + freq[pid] * (n_pieces - 1))
            logprob_alt = 0.0
            for alt in alternatives[pid]:
                logprob_alt += math.log(freq[alt] + freq[pid]) - logsum_alt
            candidates.append((pid, f * (logprob_sp - logprob_alt)))
        desired = self.vocab_size * 11 // 10
        pruned_size = max(desired, int(n_pieces * self.shrinking_factor))
        candidates.sort(key=lambda c: -c[1])
        for pid, _ in candidates:
            if len(new_pieces) == pruned_size:
                break
            new_pieces.append(pieces[pid])
        return new_pieces

    def _finalize(self, model: _Model, required: list[str]) -> tuple[list[Piece], int | None]:
        existing = dict(model.pieces)
        inserted = {_TRAIN_UNK}
        final: list[Piece] = []
        penalty = 0.0
        for ch in required:
            if ch in existing:
                final.append((ch, existing[ch]))
            else:
                final.append((ch, model.min_score + penalty))
                penalty += 0.0001
            inserted.add(ch)
        specials = [entry["content"] for entry in special_token_entries(self.special_tokens)]
        unk_id: int | None = None
        need_unk = False
        if self.unk_token is not None:
            if self.unk_token in specials:
                unk_id = specials.index(self.unk_token)
            else:
                unk_id, need_unk = 0, True
        budget = self.vocab_size - len(specials) - (1 if need_unk else 0)
        for piece, score in model.pieces:
            if piece in inserted:
                continue
            inserted.add(piece)
            final.append((piece, 0.0 if score != score else score))
            if len(final) == budget:
                break
        final.sort(key=lambda p: -p[1])
        head = ([(self.unk_token, 0.0)] if need_unk and self.unk_token is not None else []) + [(s, 0.0) for s in specials]
        return head + final, unk_id
