"""Pegasus: its tokenizer (Unigram with the 103 reserved ids) saved by the reference loads with identical ids and
decoding, and the summarization pipeline on a tiny Pegasus equals the reference's tokenizer + generate + decode."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.models.bart_family import COMMON, perturb

pytest.importorskip("transformers")
spm = pytest.importorskip("sentencepiece")

CORPUS = ["The quick brown fox jumps over the lazy dog.", "Summaries are shorter than articles, usually!",
          "Numbers 42 and 1999 appear in the news."] * 30
TEXTS = ["The quick  brown fox!\nNew line", "Numbers 42 <mask_1> and", "unknown ☃ glyph", "short"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    import transformers

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=out, vocab_size=80,
                                   hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
                                   minloglevel=3)
    model = spm.SentencePieceProcessor(model_proto=out.getvalue())
    vocab = ([("<pad>", 0.0), ("</s>", 0.0), ("<mask_1>", 0.0), ("<mask_2>", 0.0)]
             + [(f"<unk_{i}>", -100.0) for i in range(2, 103)]
             + [(model.id_to_piece(i), model.get_score(i)) for i in range(3, model.get_piece_size())]
             + [("<unk>", 0.0)])
    path = tmp_path_factory.mktemp("pegasus")
    transformers.PegasusTokenizer(vocab=vocab).save_pretrained(path)
    return path, transformers.AutoTokenizer.from_pretrained(path)


def test_ids_and_decoding_match(folder: tuple[Path, Any]) -> None:
    from embrace.tokenization import AutoTokenizer

    path, reference = folder
    ours = AutoTokenizer.from_pretrained(path)
    expected = reference(TEXTS, text_target=TEXTS[::-1], padding=True)
    got = ours(TEXTS, text_target=TEXTS[::-1], padding=True)
    assert got["input_ids"] == expected["input_ids"]
    assert got["labels"] == expected["labels"]
    for skip in (False, True):
        assert ours.batch_decode(got["input_ids"], skip_special_tokens=skip) == \
            reference.batch_decode(expected["input_ids"], skip_special_tokens=skip)


def test_summarization_pipeline_with_a_pegasus_model(folder: tuple[Path, Any], tmp_path: Path) -> None:
    import shutil

    import transformers

    from embrace.pipelines import pipeline

    path, tokenizer = folder
    shutil.copytree(path, tmp_path, dirs_exist_ok=True)
    config = transformers.PegasusConfig(**{**COMMON, "vocab_size": len(tokenizer)}, scale_embedding=True,
                                        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                        decoder_start_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    reference = transformers.PegasusForConditionalGeneration(config).eval()
    perturb(reference)
    reference.save_pretrained(tmp_path)
    inputs = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        ids = reference.generate(**inputs, num_beams=3, max_new_tokens=10, min_length=0)
    expected = tokenizer.batch_decode(ids, skip_special_tokens=True)
    summarizer = pipeline("summarization", model=str(tmp_path))
    got = summarizer(TEXTS, num_beams=3, max_new_tokens=10, min_length=0)
    assert [r["summary_text"] for r in got] == expected


def test_spiece_only_folder_reserves_the_first_103_ids(tmp_path: Path) -> None:
    """A folder with only spiece.model (+ tokenizer_config.json): same vocabulary, ids and decoding as the
    reference's conversion (piece i of the SentencePiece model gets id i + 103)."""
    import json

    import transformers

    from embrace.tokenization import AutoTokenizer

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=out, vocab_size=90,
                                   hard_vocab_limit=False, model_type="unigram", minloglevel=3, pad_id=0, eos_id=1,
                                   unk_id=2, bos_id=-1)
    (tmp_path / "spiece.model").write_bytes(out.getvalue())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PegasusTokenizer"}))
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ours = AutoTokenizer.from_pretrained(tmp_path)
    assert ours.get_vocab() == reference.get_vocab()
    texts = [*TEXTS, "Numbers 42 <unk_5> and", "  spaces  ", ""]
    expected, got = reference(texts)["input_ids"], ours(texts)["input_ids"]
    assert got == expected
    model = spm.SentencePieceProcessor(model_proto=out.getvalue())
    assert got[3][:-1] == [i + 103 for i in model.encode(texts[3])]
    for skip in (False, True):
        assert ours.batch_decode(got, skip_special_tokens=skip) == reference.batch_decode(expected,
                                                                                          skip_special_tokens=skip)
