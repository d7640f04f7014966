"""T5 tokenizer parity: a SentencePiece Unigram model trained here (T5 layout: pad 0, eos 1, unk 2, no bos) with
sentinel tokens, from spiece.model and from tokenizer.json, against transformers; then tokenizer + model end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from tests.models.t5_parity import one_torch_thread, save_reference  # noqa: F401
from tests.tokenizers._trainer_helpers import sotu_texts

from embrace.models.auto import AutoModelForSeq2SeqLM
from embrace.tokenization import AutoTokenizer

transformers = pytest.importorskip("transformers")
spm = pytest.importorskip("sentencepiece")

TEXTS = ["The <extra_id_0> walks in <extra_id_1> park", "summarize: the house is wonderful.",
         "translate English to German: That is good.", "  leading, inner   and trailing spaces  ",
         "tabs\tand\nnew lines", "Café naïve résumé — ÅNGSTRÖM", "unknown: 北京 🤗", "<extra_id_9>end</s>", "",
         "numbers 3.14159 and 2026-11-23"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = [line for text in sotu_texts(2) for line in text.replace(". ", ".\n").splitlines() if line.strip()]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, minloglevel=2, vocab_size=400,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    out = tmp_path_factory.mktemp("t5-tokenizer")
    (out / "spiece.model").write_bytes(buf.getvalue())
    # minimal config: the special-token roles come from the T5 class defaults
    (out / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer", "extra_ids": 10}))
    return out


def _assert_same(ours: object, ref: object) -> None:
    for text in TEXTS:
        expected = ref(text)["input_ids"]  # type: ignore[operator]
        assert ours(text)["input_ids"] == expected, text  # type: ignore[operator]
        assert ours.decode(expected, skip_special_tokens=True) == ref.decode(expected, skip_special_tokens=True)  # type: ignore[attr-defined]
        assert ours.decode(expected) == ref.decode(expected)  # type: ignore[attr-defined]
    batch_ours = ours(TEXTS, padding=True, return_tensors="pt")  # type: ignore[operator]
    batch_ref = ref(TEXTS, padding=True, return_tensors="pt")  # type: ignore[operator]
    assert torch.equal(batch_ours["input_ids"], batch_ref["input_ids"])
    assert torch.equal(batch_ours["attention_mask"], batch_ref["attention_mask"])
    pair_ours = ours("question: who?", "context: nobody.")["input_ids"]  # type: ignore[operator]
    assert pair_ours == ref("question: who?", "context: nobody.")["input_ids"]  # type: ignore[operator]


def test_spiece_model_matches_transformers(folder: Path) -> None:
    ref = transformers.AutoTokenizer.from_pretrained(folder)
    ours = AutoTokenizer.from_pretrained(folder)
    assert len(ours) == len(ref) == 410
    for role in ("pad_token", "eos_token", "unk_token"):
        assert getattr(ours, role) == getattr(ref, role)
        assert getattr(ours, role + "_id") == getattr(ref, role + "_id")
    assert ours.convert_tokens_to_ids("<extra_id_0>") == ref.convert_tokens_to_ids("<extra_id_0>") == 409
    assert ours("<extra_id_3>")["input_ids"] == [ref.convert_tokens_to_ids("<extra_id_3>"), 1]
    _assert_same(ours, ref)


def test_tokenizer_json_both_ways(folder: Path, tmp_path: Path) -> None:
    ref = transformers.AutoTokenizer.from_pretrained(folder)
    ref.save_pretrained(tmp_path / "ref")
    ours = AutoTokenizer.from_pretrained(tmp_path / "ref")
    _assert_same(ours, ref)
    ours.save_pretrained(tmp_path / "ours")
    back = transformers.AutoTokenizer.from_pretrained(tmp_path / "ours")
    _assert_same(AutoTokenizer.from_pretrained(tmp_path / "ours"), back)
    assert [back(t)["input_ids"] for t in TEXTS] == [ref(t)["input_ids"] for t in TEXTS]


def test_special_roles_from_model_type_without_tokenizer_class(folder: Path, tmp_path: Path) -> None:
    target = tmp_path / "no-class"
    target.mkdir()
    (target / "spiece.model").write_bytes((folder / "spiece.model").read_bytes())
    (target / "config.json").write_text(json.dumps({"model_type": "t5"}))
    ours = AutoTokenizer.from_pretrained(target)
    assert (ours.pad_token, ours.eos_token, ours.pad_token_id) == ("<pad>", "</s>", 0)
    assert ours("a b")["input_ids"][-1] == 1


def test_tokenizer_and_model_end_to_end(folder: Path, tmp_path: Path) -> None:
    ours_tok = AutoTokenizer.from_pretrained(folder)
    ref_tok = transformers.AutoTokenizer.from_pretrained(folder)
    reference = save_reference(tmp_path, {"feed_forward_proj": "gated-gelu", "vocab_size": 416})
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    texts = TEXTS[:3]
    batch = ours_tok(texts, padding=True, return_tensors="pt")
    out = model.generate(**batch, num_beams=2, max_new_tokens=12)
    with torch.no_grad():
        expected = reference.generate(**ref_tok(texts, padding=True, return_tensors="pt"), num_beams=2,
                                      max_new_tokens=12)
    assert torch.equal(out, expected)
    assert ours_tok.batch_decode(out, skip_special_tokens=True) == ref_tok.batch_decode(expected,
                                                                                       skip_special_tokens=True)
    small = save_reference(tmp_path / "small", {"vocab_size": 64})
    del small
    with pytest.raises(ValueError, match="tokenizer does not match the model"):
        AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "small").generate(**batch, max_new_tokens=2)
