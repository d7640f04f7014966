"""The Unigram trainer's E step for all words at once, on numpy arrays.

Pieces are only ever removed during training, so every lattice node of a later model is a node of the seed
model (plus unk nodes where a word position lost its single-character piece). The seed lattice of every word
is built once; each E step maps seed pieces to the current ids, drops removed ones, adds unk nodes, and runs
forward-backward position by position over all words together. Log-sums are grouped max-shifted sums, so
the results equal the per-word sequential ones up to floating-point rounding (the reference's own results
vary in the last bits from run to run, see unigram.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = Any  # numpy arrays; typed loosely to keep numpy's stubs out of the public signatures


class SeedLattice:
    """Every (word, begin, end, seed piece) node of the seed vocabulary, flattened over all words.

    ``offsets[w]`` is the index of word ``w``'s position 0 in the per-position arrays; a word of ``n``
    characters owns positions ``offsets[w] .. offsets[w] + n``.
    """

    def __init__(self, words: list[str], freqs: list[float], seed_index: dict[str, int], max_len: int) -> None:
        node_word: list[int] = []
        node_begin: list[int] = []
        node_end: list[int] = []
        node_piece: list[int] = []
        prefixes: set[str] = set()
        for piece in seed_index:
            for k in range(1, len(piece) + 1):
                prefixes.add(piece[:k])
        for w, word in enumerate(words):
            n = len(word)
            for begin in range(n):
                for end in range(begin + 1, min(n, begin + max_len) + 1):
                    sub = word[begin:end]
                    if sub not in prefixes:
                        break
                    sid = seed_index.get(sub)
                    if sid is not None:
                        node_word.append(w)
                        node_begin.append(begin)
                        node_end.append(end)
                        node_piece.append(sid)
        self.lengths = np.array([len(w) for w in words], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths + 1)[:-1]]).astype(np.int64)
        self.n_positions = int((self.lengths + 1).sum())
        self.freqs = np.asarray(freqs, dtype=np.float64)
        self.word = np.array(node_word, dtype=np.int64)
        self.begin = np.array(node_begin, dtype=np.int64)
        self.end = np.array(node_end, dtype=np.int64)
        self.seed_piece = np.array(node_piece, dtype=np.int64)
        # every word position, for finding positions without a single-character piece
        self.pos_word = np.repeat(np.arange(len(words)), self.lengths)
        self.pos_local = np.arange(int(self.lengths.sum())) - np.repeat(np.cumsum(self.lengths) - self.lengths, self.lengths)

    def _nodes(self, seed_to_id: Array, scores: Array, unk_score: float) -> tuple[Array, ...]:
        """The current model's nodes: (word, begin, end, piece id, score, global begin, global end)."""
        pid = seed_to_id[self.seed_piece]
        keep = pid > 0
        word, begin, end, pid = self.word[keep], self.begin[keep], self.end[keep], pid[keep]
        score = scores[pid]
        single = end - begin == 1
        covered = np.zeros(len(self.pos_word), dtype=bool)
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        covered[starts[word[single]] + begin[single]] = True
        missing = ~covered
        if missing.any():
            word = np.concatenate([word, self.pos_word[missing]])
            begin = np.concatenate([begin, self.pos_local[missing]])
            end = np.concatenate([end, self.pos_local[missing] + 1])
            pid = np.concatenate([pid, np.zeros(int(missing.sum()), dtype=np.int64)])
            score = np.concatenate([score, np.full(int(missing.sum()), unk_score)])
        return word, begin, end, pid, score, self.offsets[word] + begin, self.offsets[word] + end

    def expected_counts(self, seed_to_id: Array, scores: Array, unk_score: float, n_pieces: int) -> Array:
        """Expected count of every current piece (the E step); ``seed_to_id[s]`` is -1 for removed pieces."""
        word, begin, end, pid, score, g_begin, g_end = self._nodes(seed_to_id, scores, unk_score)
        alpha = _sweep(g_begin, g_end, end, score, self.n_positions, forward=True)
        beta = _sweep(g_begin, g_end, begin, score, self.n_positions, forward=False)
        z = alpha[self.offsets + self.lengths]
        weights = self.freqs[word] * np.exp(alpha[g_begin] + score + beta[g_end] - z[word])
        return np.bincount(pid, weights=weights, minlength=n_pieces)

    def viterbi_counts(self, seed_to_id: Array, scores: Array, unk_score: float, n_pieces: int) -> Array:
        """Frequency-weighted count of every piece on the words' best segmentations.

        At equal scores the node that begins first (the longest) wins, as in the reference's Viterbi.
        """
        word, begin, end, pid, score, g_begin, g_end = self._nodes(seed_to_id, scores, unk_score)
        best = np.zeros(self.n_positions, dtype=np.float64)
        back = np.full(self.n_positions, -1, dtype=np.int64)
        order = np.lexsort((g_begin, g_end, end))
        bounds = np.flatnonzero(np.diff(end[order])) + 1
        for chunk in np.split(order, bounds):
            tgt = g_end[chunk]
            vals = score[chunk] + best[g_begin[chunk]]
            starts = np.flatnonzero(np.concatenate([[True], tgt[1:] != tgt[:-1]]))
            peak = np.maximum.reduceat(vals, starts)
            sizes = np.diff(np.concatenate([starts, [len(vals)]]))
            index = np.arange(len(vals))
            first = np.minimum.reduceat(np.where(vals == np.repeat(peak, sizes), index, len(vals)), starts)
            best[tgt[starts]] = peak
            back[tgt[starts]] = chunk[first]
        counts = np.zeros(n_pieces, dtype=np.float64)
        cursor = self.offsets + self.lengths
        active = np.flatnonzero(self.lengths > 0)
        while active.size:
            node = back[cursor[active]]
            np.add.at(counts, pid[node], self.freqs[active])
            cursor[active] = g_begin[node]
            active = active[begin[node] > 0]
        return counts


def _sweep(g_begin: Array, g_end: Array, local: Array, score: Array, n_positions: int, forward: bool) -> Array:
    """Forward (alpha at node ends) or backward (beta at node begins) log-sums, one local position at a time."""
    acc = np.zeros(n_positions, dtype=np.float64)
    source, target = (g_begin, g_end) if forward else (g_end, g_begin)
    order = np.lexsort((target, local))
    if not forward:
        order = order[::-1]
    local_sorted = local[order]
    bounds = np.flatnonzero(np.diff(local_sorted)) + 1
    for chunk in np.split(order, bounds):
        if not forward:
            chunk = chunk[::-1]  # back to ascending targets within this position
        tgt = target[chunk]
        vals = score[chunk] + acc[source[chunk]]
        starts = np.flatnonzero(np.concatenate([[True], tgt[1:] != tgt[:-1]]))
        peak = np.maximum.reduceat(vals, starts)
        sizes = np.diff(np.concatenate([starts, [len(vals)]]))
        total = np.add.reduceat(np.exp(vals - np.repeat(peak, sizes)), starts)
        acc[tgt[starts]] = peak + np.log(total)
    return acc
