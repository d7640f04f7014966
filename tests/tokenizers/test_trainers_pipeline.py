"""train_from_iterator / train_from_files through embrace's own normalizers and pre-tokenizers, vs the reference."""

from __future__ import annotations

import json

import pytest
from _trainer_helpers import sotu_texts, total_length

from embrace.tokenizers import Tokenizer
from embrace.tokenizers.trainers import (
    BpeTrainer,
    TrainerError,
    UnigramTrainer,
    WordPieceTrainer,
    train_from_files,
    train_from_iterator,
)

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import Tokenizer as RefTokenizer  # noqa: E402
from tokenizers import models, normalizers, pre_tokenizers, trainers  # noqa: E402


def _untrained(model, normalizer=None, pre_tokenizer=None) -> RefTokenizer:
    tok = RefTokenizer(model)
    if normalizer is not None:
        tok.normalizer = normalizer
    if pre_tokenizer is not None:
        tok.pre_tokenizer = pre_tokenizer
    return tok


def test_byte_level_bpe_whole_tokenizer_identical():
    texts = sotu_texts(10)
    options = {"vocab_size": 3000, "initial_alphabet": pre_tokenizers.ByteLevel.alphabet(),
               "special_tokens": ["<|endoftext|>", "<pad>"]}
    ref = _untrained(models.BPE(), pre_tokenizer=pre_tokenizers.ByteLevel(add_prefix_space=True))
    start = json.loads(ref.to_str())
    ref.train_from_iterator(texts, trainers.BpeTrainer(show_progress=False, **options))
    ours = train_from_iterator(start, texts, BpeTrainer(show_progress=False, **options))
    assert ours == json.loads(ref.to_str())
    embrace_tok = Tokenizer.from_dict(ours)
    for text in [*sotu_texts(12)[10:], "Hello <|endoftext|> world", "emoji 🤗 and CJK 北京"]:
        assert embrace_tok.encode(text).ids == ref.encode(text).ids


def test_train_from_files_keeps_line_endings(tmp_path):
    files = []
    for i, text in enumerate(sotu_texts(4)):
        path = tmp_path / f"speech{i}.txt"
        path.write_text(text.replace(". ", ".\n"), encoding="utf-8")
        files.append(str(path))
    options = {"vocab_size": 1500, "initial_alphabet": pre_tokenizers.ByteLevel.alphabet()}
    ref = _untrained(models.BPE(), pre_tokenizer=pre_tokenizers.ByteLevel(add_prefix_space=False))
    start = json.loads(ref.to_str())
    ref.train(files, trainers.BpeTrainer(show_progress=False, **options))
    ours = train_from_files(start, files, BpeTrainer(show_progress=False, **options))
    assert ours["model"] == json.loads(ref.to_str())["model"]
    assert "\u010a" in ours["model"]["vocab"]  # the newline byte, seen because lines keep their endings


def test_wordpiece_with_bert_pipeline():
    texts, held_out = sotu_texts(8), sotu_texts(10)[8:]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ref = _untrained(models.WordPiece(unk_token="[UNK]"), normalizers.BertNormalizer(), pre_tokenizers.BertPreTokenizer())
    start = json.loads(ref.to_str())
    ref.train_from_iterator([texts[:4], texts[4:]], trainers.WordPieceTrainer(vocab_size=2500, special_tokens=specials,
                                                                              show_progress=False))
    # batches (lists of str) are accepted like the reference's iterator items
    ours = train_from_iterator(start, [texts[:4], texts[4:]],
                               WordPieceTrainer(vocab_size=2500, special_tokens=specials, show_progress=False))
    ref_json = json.loads(ref.to_str())
    assert ours["added_tokens"] == ref_json["added_tokens"]
    assert len(set(ours["model"]["vocab"]) & set(ref_json["model"]["vocab"])) >= 0.99 * 2500
    ours_ref_impl = RefTokenizer.from_str(json.dumps(ours))
    assert abs(total_length(ours_ref_impl, held_out) / total_length(ref, held_out) - 1) < 0.005
    embrace_tok = Tokenizer.from_dict(ours)
    assert [e.ids for e in embrace_tok.encode_batch(held_out)] == [e.ids for e in ours_ref_impl.encode_batch(held_out)]


def test_unigram_with_metaspace_pipeline():
    texts = sotu_texts(2)
    options = {"vocab_size": 500, "special_tokens": ["<unk>"], "unk_token": "<unk>"}
    ref = _untrained(models.Unigram(), pre_tokenizer=pre_tokenizers.Metaspace())
    start = json.loads(ref.to_str())
    ref.train_from_iterator(texts, trainers.UnigramTrainer(show_progress=False, **options))
    ours = train_from_iterator(Tokenizer.from_dict(start), texts, UnigramTrainer(show_progress=False, **options))
    ref_json = json.loads(ref.to_str())
    assert {p for p, _ in ours["model"]["vocab"]} == {p for p, _ in ref_json["model"]["vocab"]}
    assert ours["added_tokens"] == ref_json["added_tokens"]
    embrace_tok = Tokenizer.from_dict(ours)
    held_out = sotu_texts(3)[2:]
    assert total_length(embrace_tok, held_out) == total_length(ref, held_out)


def test_bad_inputs():
    start = json.loads(_untrained(models.BPE()).to_str())
    with pytest.raises(TrainerError, match="str or a list of str"):
        train_from_iterator(start, [1, 2], BpeTrainer(show_progress=False))
    with pytest.raises(TrainerError, match="WordPiece model"):
        train_from_iterator(start, ["a b"], WordPieceTrainer(show_progress=False))
    with pytest.raises(TrainerError, match="tokenizer.json dict"):
        train_from_iterator("not a tokenizer", ["a"], BpeTrainer(show_progress=False))
    with pytest.raises(TrainerError, match="does not exist"):
        train_from_files(start, ["/nonexistent/file.txt"], BpeTrainer(show_progress=False))


@pytest.mark.parametrize("options", [{"vocab_size": 500}, {"vocab_size": 100_000, "min_frequency": 3,
                                                           "special_tokens": ["<unk>", "the"]}])
def test_wordlevel_identical(options):
    from embrace.tokenizers.trainers import WordLevelTrainer

    texts = sotu_texts(4)
    ref = _untrained(models.WordLevel(unk_token="<unk>"), normalizers.Lowercase(), pre_tokenizers.Whitespace())
    start = json.loads(ref.to_str())
    ref.train_from_iterator(texts, trainers.WordLevelTrainer(show_progress=False, **options))
    ours = train_from_iterator(start, texts, WordLevelTrainer(show_progress=False, **options))
    assert ours == json.loads(ref.to_str())


@pytest.mark.slow
def test_byte_level_bpe_32k_on_whole_sotu_identical():
    texts = sotu_texts(1000)  # all 233 speeches, 10.8 MB
    options = {"vocab_size": 32000, "initial_alphabet": pre_tokenizers.ByteLevel.alphabet(),
               "special_tokens": ["<|endoftext|>"]}
    ref = _untrained(models.BPE(), pre_tokenizer=pre_tokenizers.ByteLevel(add_prefix_space=False))
    start = json.loads(ref.to_str())
    ref.train_from_iterator(texts, trainers.BpeTrainer(show_progress=False, **options))
    ours = train_from_iterator(start, texts, BpeTrainer(show_progress=False, **options))
    assert ours == json.loads(ref.to_str())
