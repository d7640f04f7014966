"""MarianTokenizer against the reference: tiny SentencePiece models trained in the test plus vocab.json, saved
with the reference's MarianTokenizer and loaded by both."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
spm = pytest.importorskip("sentencepiece")

CORPUS = ["The quick brown fox jumps over the lazy dog.", "Translation models need two vocabularies sometimes!",
          "Le renard brun rapide saute par-dessus le chien paresseux.", "Bonjour le monde, ça va très bien.",
          "Numbers like 42 and 1999 appear in text.", "Hello world, hello tokenizers."] * 20
TEXTS = [">>fra<< Hello world, the fox!", "The  lazy   dog jumps.", "ça va? Très bien 1999", "",
         "unknown ☃ glyphs and </s> inline", ">>deu<<Numbers 42", "  leading and trailing spaces  "]
TARGETS = ["Bonjour le monde", "Le chien paresseux saute.", "très bien"]


def _train(sentences: list[str], size: int) -> bytes:
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=out, vocab_size=size,
                                   hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
                                   pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=3)
    return out.getvalue()


def _vocab(*models: Any) -> dict[str, int]:
    vocab = {"</s>": 0, "<unk>": 1, ">>fra<<": 2, ">>deu<<": 3}
    for model in models:
        for i in range(model.get_piece_size()):
            vocab.setdefault(model.id_to_piece(i), len(vocab))
    vocab.pop("<pad>", None)
    vocab["<pad>"] = len(vocab)
    return vocab


@pytest.fixture(scope="module", params=["shared", "separate"])
def folders(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A Marian tokenizer folder written by the reference, and the reference tokenizer loaded from it."""
    import transformers

    raw = tmp_path_factory.mktemp("marian-raw")
    (raw / "source.spm").write_bytes(_train(CORPUS, 70))
    (raw / "target.spm").write_bytes(_train(CORPUS[::-1][:60], 60))
    source = spm.SentencePieceProcessor(model_file=str(raw / "source.spm"))
    target = spm.SentencePieceProcessor(model_file=str(raw / "target.spm"))
    extra: dict[str, Any] = {}
    if request.param == "shared":
        (raw / "vocab.json").write_text(json.dumps(_vocab(source, target)))
    else:
        (raw / "vocab.json").write_text(json.dumps(_vocab(source)))
        (raw / "target_vocab.json").write_text(json.dumps(_vocab(target)))
        extra = {"target_vocab_file": str(raw / "target_vocab.json"), "separate_vocabs": True}
    reference = transformers.MarianTokenizer(str(raw / "source.spm"), str(raw / "target.spm"), str(raw / "vocab.json"),
                                             source_lang="en", target_lang="fr", **extra)
    saved = tmp_path_factory.mktemp("marian-saved")
    reference.save_pretrained(saved)
    return saved, transformers.MarianTokenizer.from_pretrained(saved)


@pytest.fixture(scope="module")
def ours(folders: tuple[Path, Any]) -> Any:
    from embrace.tokenizers.marian import MarianTokenizer

    return MarianTokenizer.from_pretrained(folders[0])


def test_source_pieces_and_ids_match(folders: tuple[Path, Any], ours: Any) -> None:
    _, reference = folders
    for text in TEXTS:
        assert ours.tokenize(text) == reference.tokenize(text), text
        assert ours(text)["input_ids"] == reference(text)["input_ids"], text


def test_targets_use_the_target_model_and_vocabulary(folders: tuple[Path, Any], ours: Any) -> None:
    _, reference = folders
    expected = reference(TEXTS[:3], text_target=TARGETS)
    got = ours(TEXTS[:3], text_target=TARGETS)
    assert got["labels"] == expected["labels"]
    assert got["input_ids"] == expected["input_ids"]
    assert ours(text_target=TARGETS[0])["input_ids"] == reference(text_target=TARGETS[0])["input_ids"]
    with ours.as_target_tokenizer():  # the transformers 4.x spelling
        assert ours(TARGETS)["input_ids"] == expected["labels"]
    assert ours(TARGETS[0])["input_ids"] == reference(TARGETS[0])["input_ids"]  # back in source mode


def test_padding_truncation_and_tensors_match(folders: tuple[Path, Any], ours: Any) -> None:
    _, reference = folders
    kwargs = dict(padding=True, truncation=True, max_length=9)
    assert dict(ours(TEXTS, **kwargs)) == dict(reference(TEXTS, **kwargs))
    assert dict(ours(TEXTS[:2], padding="max_length", max_length=30)) == \
        dict(reference(TEXTS[:2], padding="max_length", max_length=30))
    extras = dict(padding=True, return_special_tokens_mask=True, return_length=True)
    assert dict(ours(TEXTS, **extras)) == dict(reference(TEXTS, **extras))
    pt = ours(TEXTS[:2], padding=True, return_tensors="pt")
    assert pt["input_ids"].tolist() == reference(TEXTS[:2], padding=True, return_tensors="pt")["input_ids"].tolist()


def test_decoding_matches(folders: tuple[Path, Any], ours: Any) -> None:
    _, reference = folders
    # decoding reads the target vocabulary (the model's outputs); with separate vocabularies, source ids may lie
    # outside it (the reference then fails inside SentencePiece), so decode target-side rows
    rows = reference(text_target=TEXTS + TARGETS, padding=True)["input_ids"]
    rows[0] = rows[0] + [reference.unk_token_id]
    for skip in (False, True):
        assert ours.batch_decode(rows, skip_special_tokens=skip) == reference.batch_decode(rows, skip_special_tokens=skip)
    assert ours.convert_ids_to_tokens(rows[1]) == reference.convert_ids_to_tokens(rows[1])
    assert ours.decode(rows[2]) == reference.decode(rows[2])


def test_special_tokens_and_sizes_match(folders: tuple[Path, Any], ours: Any) -> None:
    _, reference = folders
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id", "vocab_size", "model_max_length"):
        assert getattr(ours, attr) == getattr(reference, attr), attr
    assert len(ours) == len(reference)
    assert ours.supported_language_codes == reference.supported_language_codes


def test_our_save_loads_in_reference(folders: tuple[Path, Any], ours: Any, tmp_path: Path) -> None:
    import transformers

    from embrace.tokenization import AutoTokenizer

    _, reference = folders
    ours.save_pretrained(tmp_path)
    again = transformers.MarianTokenizer.from_pretrained(tmp_path)
    assert again(TEXTS, text_target=TARGETS[:1] * len(TEXTS))["labels"] == \
        reference(TEXTS, text_target=TARGETS[:1] * len(TEXTS))["labels"]
    assert again(TEXTS)["input_ids"] == reference(TEXTS)["input_ids"]
    auto = AutoTokenizer.from_pretrained(tmp_path)
    assert type(auto).__name__ == "MarianTokenizer"
    assert auto(TEXTS)["input_ids"] == reference(TEXTS)["input_ids"]


def test_bad_folders_give_clear_errors(folders: tuple[Path, Any], tmp_path: Path) -> None:
    from embrace.tokenizers.errors import InvalidTokenizerFileError, TokenizerError
    from embrace.tokenizers.marian import MarianTokenizer

    saved, _ = folders
    with pytest.raises(TokenizerError, match="vocab.json"):
        (tmp_path / "source.spm").write_bytes((saved / "source.spm").read_bytes())
        (tmp_path / "target.spm").write_bytes((saved / "target.spm").read_bytes())
        MarianTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0}))
    with pytest.raises(InvalidTokenizerFileError, match="unk_token"):
        MarianTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text("{not json")
    with pytest.raises(InvalidTokenizerFileError, match="JSON"):
        MarianTokenizer.from_pretrained(tmp_path)
    ours = MarianTokenizer.from_pretrained(saved)
    with pytest.raises(TokenizerError):
        ours(123)


def test_translation_pipeline_with_a_marian_model(folders: tuple[Path, Any], tmp_path: Path) -> None:
    """tokenizer + MarianMTModel + generate + decode end to end, against the same steps in the reference."""
    import shutil

    import torch
    import transformers
    from tests.models.bart_family import COMMON, perturb

    from embrace.pipelines import pipeline

    saved, reference_tokenizer = folders
    shutil.copytree(saved, tmp_path, dirs_exist_ok=True)
    pad, eos = reference_tokenizer.pad_token_id, reference_tokenizer.eos_token_id
    separate = reference_tokenizer.separate_vocabs
    config = transformers.MarianConfig(**{**COMMON, "vocab_size": reference_tokenizer.vocab_size}, pad_token_id=pad,
                                       eos_token_id=eos, forced_eos_token_id=eos, decoder_start_token_id=pad,
                                       share_encoder_decoder_embeddings=not separate,
                                       decoder_vocab_size=(max(len(reference_tokenizer.target_encoder), pad + 1)
                                                           if separate else None))
    torch.manual_seed(0)
    reference = transformers.MarianMTModel(config).eval()
    perturb(reference)
    reference.save_pretrained(tmp_path)
    texts = ["Hello world, the fox!", "Numbers like 42 appear."]
    inputs = reference_tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        ids = reference.generate(**inputs, num_beams=2, max_new_tokens=12)
    expected = reference_tokenizer.batch_decode(ids, skip_special_tokens=True)
    translator = pipeline("translation", model=str(tmp_path))
    got = translator(texts, num_beams=2, max_new_tokens=12)
    assert [r["translation_text"] for r in got] == expected


def test_seq2seq_collator_pads_like_the_reference(folders: tuple[Path, Any], ours: Any) -> None:
    import transformers

    from embrace.training.collators import DataCollatorForSeq2Seq

    _, reference = folders
    features = [dict(ours(t, text_target=g)) for t, g in zip(TEXTS[:3], TARGETS)]
    expected = transformers.DataCollatorForSeq2Seq(reference, pad_to_multiple_of=4)(
        [dict(reference(t, text_target=g)) for t, g in zip(TEXTS[:3], TARGETS)])
    got = DataCollatorForSeq2Seq(ours, pad_to_multiple_of=4)(features)
    for key in ("input_ids", "attention_mask", "labels"):
        assert got[key].tolist() == expected[key].tolist(), key
