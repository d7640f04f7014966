"""mBART and mBART-50 language codes against the reference: src_lang/tgt_lang placement, text_target labels,
switching languages, forced_bos_token_id for translation, save/load both ways."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
spm = pytest.importorskip("sentencepiece")

CORPUS = ["UN Chief Says There Is No Military Solution in Syria", "Şeful ONU declară că nu există o soluţie",
          "The quick brown fox jumps over the lazy dog.", "Translation needs language codes."] * 25
TEXTS = ["UN Chief Says There Is No Military Solution", "the lazy fox", "Şeful ONU declară"]


def _vocab() -> list[tuple[str, float]]:
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=out, vocab_size=90,
                                   hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
                                   minloglevel=3)
    model = spm.SentencePieceProcessor(model_proto=out.getvalue())
    pieces = [(model.id_to_piece(i), model.get_score(i)) for i in range(3, model.get_piece_size())]
    return [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *pieces]


@pytest.fixture(scope="module", params=["MBartTokenizer", "MBart50Tokenizer"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    import transformers

    from embrace.tokenization import AutoTokenizer

    reference = getattr(transformers, request.param)(vocab=_vocab(), src_lang="en_XX", tgt_lang="ro_RO")
    folder = tmp_path_factory.mktemp(request.param)
    reference.save_pretrained(folder)
    reference = getattr(transformers, request.param).from_pretrained(folder)
    return reference, AutoTokenizer.from_pretrained(folder), folder


def test_class_and_language_codes(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    assert type(ours).__name__ == type(reference).__name__
    assert ours.src_lang == reference.src_lang == "en_XX"
    assert ours.lang_code_to_id["ro_RO"] == reference.convert_tokens_to_ids("ro_RO")


def test_source_and_target_rows_carry_their_codes(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    expected = reference(TEXTS, text_target=TEXTS[::-1], padding=True)
    got = ours(TEXTS, text_target=TEXTS[::-1], padding=True)
    assert got["input_ids"] == expected["input_ids"]
    assert got["labels"] == expected["labels"]
    assert ours(text_target=TEXTS[0])["input_ids"] == reference(text_target=TEXTS[0])["input_ids"]
    assert ours(TEXTS[0])["input_ids"] == reference(TEXTS[0])["input_ids"]  # back to the source code
    ro, en = ours.lang_code_to_id["ro_RO"], ours.lang_code_to_id["en_XX"]
    assert en in got["input_ids"][0] and ro in got["labels"][0]
    with ours.as_target_tokenizer():
        assert ours(TEXTS[1])["input_ids"] == reference(text_target=TEXTS[1])["input_ids"]


def test_switching_src_lang_and_translation_inputs(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    reference.src_lang = ours.src_lang = "de_DE"
    try:
        assert ours(TEXTS)["input_ids"] == reference(TEXTS)["input_ids"]
        inputs = ours.translation_inputs(TEXTS[:1], src_lang="fr_XX", tgt_lang="ro_RO", return_tensors=None)
        expected = reference._build_translation_inputs(TEXTS[:1], return_tensors=None, src_lang="fr_XX",
                                                       tgt_lang="ro_RO")
        assert inputs["input_ids"] == expected["input_ids"]
        assert inputs["forced_bos_token_id"] == expected["forced_bos_token_id"] == ours.lang_code_to_id["ro_RO"]
    finally:
        reference.src_lang = ours.src_lang = "en_XX"


def test_unknown_language_code_is_a_clear_error(pair: tuple[Any, Any, Path]) -> None:
    from embrace.tokenizers.errors import TokenizerError

    _, ours, _ = pair
    with pytest.raises(TokenizerError, match="unknown language code 'xx_YY'"):
        ours.src_lang = "xx_YY"
    assert ours.src_lang == "en_XX"


def test_our_save_loads_in_reference(pair: tuple[Any, Any, Path], tmp_path: Path) -> None:
    import transformers

    reference, ours, _ = pair
    ours.save_pretrained(tmp_path)
    again = getattr(transformers, type(reference).__name__).from_pretrained(tmp_path)
    assert again.src_lang == "en_XX" and again.tgt_lang == "ro_RO"
    assert again(TEXTS, text_target=TEXTS)["labels"] == reference(TEXTS, text_target=TEXTS)["labels"]
    assert again(TEXTS)["input_ids"] == reference(TEXTS)["input_ids"]


def test_translation_pipeline_forces_the_target_language(pair: tuple[Any, Any, Path], tmp_path: Path) -> None:
    """tokenizer (src_lang) + MBartForConditionalGeneration + generate(forced_bos_token_id=tgt code) end to end."""
    import shutil

    import torch
    import transformers
    from tests.models.bart_family import COMMON, perturb

    from embrace.pipelines import pipeline

    reference_tokenizer, _, folder = pair
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    config = transformers.MBartConfig(**{**COMMON, "vocab_size": len(reference_tokenizer)}, scale_embedding=True,
                                      pad_token_id=reference_tokenizer.pad_token_id,
                                      eos_token_id=reference_tokenizer.eos_token_id, decoder_start_token_id=2)
    torch.manual_seed(0)
    reference = transformers.MBartForConditionalGeneration(config).eval()
    perturb(reference)
    reference.save_pretrained(tmp_path)
    reference_tokenizer.src_lang = "en_XX"
    inputs = reference_tokenizer(TEXTS, padding=True, return_tensors="pt")
    ro = reference_tokenizer.convert_tokens_to_ids("ro_RO")
    with torch.no_grad():
        ids = reference.generate(**inputs, forced_bos_token_id=ro, num_beams=2, max_new_tokens=10)
    expected = reference_tokenizer.batch_decode(ids, skip_special_tokens=True)
    translator = pipeline("translation", model=str(tmp_path), src_lang="en_XX", tgt_lang="ro_RO")
    got = translator(TEXTS, num_beams=2, max_new_tokens=10)
    assert [r["translation_text"] for r in got] == expected
    assert (ids[:, 1] == ro).all()


@pytest.mark.parametrize("class_name", ["MBartTokenizer", "MBart50Tokenizer"])
def test_sentencepiece_only_folder_uses_fairseq_ids(class_name: str, tmp_path: Path) -> None:
    """A folder with only sentencepiece.bpe.model: ids are SentencePiece's + 1 (fairseq layout), codes appended."""
    import json

    import transformers

    from embrace.tokenization import AutoTokenizer

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS * 4), model_writer=out, vocab_size=120,
                                   hard_vocab_limit=False, model_type="unigram", minloglevel=3)
    (tmp_path / "sentencepiece.bpe.model").write_bytes(out.getvalue())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": class_name, "src_lang": "en_XX", "tgt_lang": "ro_RO"}))
    reference = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ours = AutoTokenizer.from_pretrained(tmp_path)
    assert type(ours).__name__ == class_name and len(ours) == len(reference)
    expected = reference(TEXTS, text_target=TEXTS[::-1])
    got = ours(TEXTS, text_target=TEXTS[::-1])
    assert got["input_ids"] == expected["input_ids"] and got["labels"] == expected["labels"]
    model = spm.SentencePieceProcessor(model_proto=out.getvalue())
    pieces = [model.piece_to_id(p) + 1 for p in model.encode(TEXTS[0], out_type=str)]
    code = ours.lang_code_to_id["en_XX"]
    row = [code, *pieces, 2] if class_name == "MBart50Tokenizer" else [*pieces, 2, code]
    assert got["input_ids"][0] == row
