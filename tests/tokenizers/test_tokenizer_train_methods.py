"""``Tokenizer.train_from_iterator`` / ``Tokenizer.train`` (the methods of ``tokenizers.Tokenizer``) vs the reference."""

from __future__ import annotations

import json

import pytest
from _trainer_helpers import sotu_texts

tokenizers = pytest.importorskip("tokenizers")

from embrace.tokenizers import Tokenizer, trainers  # noqa: E402
from embrace.tokenizers.pre_tokenizers import BYTE_TO_CHAR  # noqa: E402


def _model(tok) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(tok.to_str())["model"]


def test_train_from_iterator_trains_in_place_like_the_reference() -> None:
    texts = sotu_texts(3)
    ref = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="[UNK]"))
    ref.normalizer = tokenizers.normalizers.Lowercase()
    ref.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    ours = Tokenizer.from_str(ref.to_str())  # an untrained model: empty vocabulary, unk token not in it yet
    ref.train_from_iterator(texts, trainer=tokenizers.trainers.BpeTrainer(vocab_size=600, special_tokens=["[UNK]"]))
    ours.train_from_iterator(texts, trainer=trainers.BpeTrainer(vocab_size=600, special_tokens=["[UNK]"]))
    assert _model(ours)["vocab"] == _model(ref)["vocab"]
    assert _model(ours)["merges"] == _model(ref)["merges"]
    assert ours.token_to_id("[UNK]") == ref.token_to_id("[UNK]") == 0
    for text in ["The Congress of the United States", "zzz unknown ☃"]:
        assert ours.encode(text).ids == ref.encode(text).ids
        assert ours.encode(text).offsets == ref.encode(text).offsets


def test_train_on_files_with_the_default_trainer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(sotu_texts(2)), encoding="utf-8")
    ref = tokenizers.Tokenizer(tokenizers.models.BPE())
    ref.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    ours = Tokenizer.from_str(ref.to_str())
    ref.train([str(path)])
    ours.train(path)  # a single path, no trainer: the model's default trainer, like the reference
    assert _model(ours)["vocab"] == _model(ref)["vocab"]
    assert _model(ours)["merges"] == _model(ref)["merges"]
    text = "The State of the Union is strong."
    assert ours.encode(text).ids == ref.encode(text).ids


def test_byte_level_alphabet_and_length_argument() -> None:
    texts = sotu_texts(1)
    ref = tokenizers.Tokenizer(tokenizers.models.BPE())
    ref.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    ours = Tokenizer.from_str(ref.to_str())
    ref.train_from_iterator(texts, tokenizers.trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()), length=len(texts))
    ours.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=sorted(BYTE_TO_CHAR.values())), length=len(texts))
    assert _model(ours)["vocab"] == _model(ref)["vocab"]


def test_wordpiece_default_trainer_and_mismatched_trainer_error() -> None:
    texts = sotu_texts(2)
    ref = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    ref.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    ours = Tokenizer.from_str(ref.to_str())
    ref.train_from_iterator(texts)
    ours.train_from_iterator(texts)
    # the reference's WordPiece trainer is order-unstable between runs (see docs/tokenizers.md): same size and
    # nearly the same tokens (tests/tokenizers/test_trainers_pipeline.py checks the trainer itself)
    ref_vocab, our_vocab = set(ref.get_vocab()), set(ours.get_vocab())
    assert abs(len(our_vocab) - len(ref_vocab)) <= 0.005 * len(ref_vocab)
    assert len(our_vocab & ref_vocab) >= 0.97 * len(ref_vocab)
    with pytest.raises(trainers.TrainerError, match="WordPiece"):
        ours.train_from_iterator(texts, trainer=trainers.BpeTrainer(vocab_size=100))
