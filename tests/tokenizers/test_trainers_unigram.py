"""Unigram trainer against the reference ``tokenizers`` UnigramTrainer."""

from __future__ import annotations

import json
import math

import pytest
from _trainer_helpers import reference_with_model, reference_word_counts, sotu_texts, total_length

from embrace.tokenizers.trainers import TrainerError, UnigramTrainer

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402


def _reference(texts, **kwargs):
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(texts, trainers.UnigramTrainer(show_progress=False, **kwargs))
    return tok, json.loads(tok.to_str())


@pytest.mark.parametrize(
    ("n_files", "options"),
    [
        (2, {"vocab_size": 500, "special_tokens": ["<unk>", "<s>"], "unk_token": "<unk>"}),
        (5, {"vocab_size": 1200, "special_tokens": ["<s>", "</s>"], "unk_token": "<unk>", "max_piece_length": 8}),
        (2, {"vocab_size": 400, "shrinking_factor": 0.5, "n_sub_iterations": 3, "initial_alphabet": ["$", "€"]}),
    ],
    ids=["unk_in_specials", "unk_added", "options_no_unk"],
)
def test_same_pieces_as_reference(n_files, options):
    # The reference sums expected counts in hash-map/thread order, so scores agree to ~1e-12 rather than
    # bit for bit, and pieces with (numerically) equal scores may be listed in another order.
    texts = sotu_texts(n_files)
    ref_tok, ref = _reference(texts, **options)
    ours = UnigramTrainer(show_progress=False, **options).train_words(
        reference_word_counts(texts, pre_tokenizers.Metaspace())
    )
    assert ours.model["unk_id"] == ref["model"]["unk_id"]
    assert ours.model["byte_fallback"] is False
    ref_scores = dict(map(tuple, ref["model"]["vocab"]))
    our_scores = dict(map(tuple, ours.model["vocab"]))
    assert our_scores.keys() == ref_scores.keys()
    for piece, score in ref_scores.items():
        if len(piece) == 1 and not math.isclose(our_scores[piece], score, rel_tol=1e-9):
            # A required character the model dropped gets min_score + 0.0001 * (its rank among such characters),
            # ranked in the reference's random hash-set order (here: code point order).
            assert abs(our_scores[piece] - score) < 0.0001 * len(ref_scores), piece
            continue
        assert math.isclose(our_scores[piece], score, rel_tol=1e-9, abs_tol=1e-9), piece
    n_special = len(ref["added_tokens"]) + (1 if ref["model"]["unk_id"] == 0 and "<unk>" not in options.get("special_tokens", []) and options.get("unk_token") else 0)
    assert [p for p, _ in ours.model["vocab"][:n_special]] == [p for p, _ in ref["model"]["vocab"][:n_special]]
    # Held-out text may hold characters outside the alphabet, which a model without unk cannot encode.
    check = texts + (sotu_texts(n_files + 2)[n_files:] if options.get("unk_token") else [])
    ours_tok = reference_with_model(ref_tok, ours.model, ref["added_tokens"])
    assert total_length(ours_tok, check) == total_length(ref_tok, check)


def test_seed_pieces_match_reference_unit_test():
    # The reference crate's own example: characters by count, then suffix-tree substrings by freq * length.
    trainer = UnigramTrainer(show_progress=False)
    seeds = trainer._seed_pieces([("This is a", 1), ("こんにちは友達", 1)])
    assert [p for p, _ in seeds] == ["s", "i", " ", "達", "友", "ん", "は", "に", "ち", "こ", "h", "a", "T", "is ", "s "]
    assert math.isclose(seeds[0][1], math.log(2) - math.log(sum([2, 2, 2] + [1] * 10 + [6, 4])))


def test_unk_token_placement():
    words = {"The": 12, "are": 11}
    first = UnigramTrainer(show_progress=False, special_tokens=["[SEP]", "[CLS]"], unk_token="[UNK]").train_words(words)
    assert [p for p, _ in first.model["vocab"][:3]] == ["[UNK]", "[SEP]", "[CLS]"] and first.model["unk_id"] == 0
    kept = UnigramTrainer(show_progress=False, special_tokens=["[SEP]", "[CLS]", "[UNK]"], unk_token="[UNK]").train_words(words)
    assert [p for p, _ in kept.model["vocab"][:3]] == ["[SEP]", "[CLS]", "[UNK]"] and kept.model["unk_id"] == 2
    none = UnigramTrainer(show_progress=False).train_words(words)
    assert none.model["unk_id"] is None and none.model["vocab"][0][0] == "e"


def test_errors():
    with pytest.raises(TrainerError, match="vocab_size"):
        UnigramTrainer(vocab_size=3, show_progress=False).train_words({"abcdef": 2})
    with pytest.raises(TrainerError, match="Unigram model"):
        UnigramTrainer(show_progress=False).train_words({"a": 1}, {"type": "BPE"})
    with pytest.raises(TrainerError, match="no room"):
        UnigramTrainer(vocab_size=2, special_tokens=["<s>", "</s>"], show_progress=False).train_words({"a": 1})
    with pytest.raises(TrainerError, match="shrinking_factor"):
        UnigramTrainer(shrinking_factor=1.5).train_words({"a": 1})


def test_vectorized_lattice_matches_per_word_loops():
    from embrace.tokenizers.trainers.unigram import _TRAIN_UNK, _Model

    counts = reference_word_counts(sotu_texts(2), pre_tokenizers.Metaspace())
    sentences = list(counts.items())
    trainer = UnigramTrainer(show_progress=False, vocab_size=400)
    pieces = [(_TRAIN_UNK, math.nan), *trainer._seed_pieces(sentences)]
    trainer._prepare_lattice(pieces, sentences)
    first = _Model(pieces)
    pruned = trainer._m_step(pieces, trainer._e_step_reference(first, sentences))
    # dropping characters forces unk nodes into the lattice
    without_chars = _Model([p for p in pruned if p[0] not in ("e", "\u2581")])
    for model in (first, _Model(pruned), without_chars):
        fast, slow = trainer._e_step(model, sentences), trainer._e_step_reference(model, sentences)
        assert all(math.isclose(a, b, rel_tol=1e-10, abs_tol=1e-10) for a, b in zip(fast, slow))
        assert trainer._viterbi_counts(model) == trainer._viterbi_counts_reference(model, sentences)
