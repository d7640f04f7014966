"""The SentencePiece .model reader against sentencepiece's own protobuf classes."""

from __future__ import annotations

import io

import pytest
from _trainer_helpers import sotu_texts

from embrace.errors import EmbraceFileNotFoundError
from embrace.tokenizers.sentencepiece_model import (
    BYTE,
    CONTROL,
    SentencePieceModelError,
    load_sentencepiece_model,
    parse_sentencepiece_model,
)

spm = pytest.importorskip("sentencepiece")


def _train(**kwargs) -> bytes:
    lines = [line for text in sotu_texts(3) for line in text.replace(". ", ".\n").splitlines() if line.strip()]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, minloglevel=2, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize(
    "options",
    [
        {"model_type": "unigram", "vocab_size": 400},
        {"model_type": "bpe", "vocab_size": 500, "byte_fallback": True, "normalization_rule_name": "identity",
         "split_digits": True, "user_defined_symbols": ["<tool>"], "control_symbols": ["<ctl>"]},
        {"model_type": "unigram", "vocab_size": 300, "pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1,
         "add_dummy_prefix": False, "treat_whitespace_as_suffix": True},
    ],
    ids=["unigram", "bpe_byte_fallback", "t5_layout"],
)
def test_parse_matches_protobuf(options):
    from sentencepiece import sentencepiece_model_pb2 as pb

    data = _train(**options)
    proto = pb.ModelProto()
    proto.ParseFromString(data)
    ours = parse_sentencepiece_model(data)
    assert [(p.piece, p.score, p.type) for p in ours.pieces] == [(p.piece, p.score, p.type) for p in proto.pieces]
    ts = proto.trainer_spec
    for name in ("model_type", "vocab_size", "byte_fallback", "unk_id", "bos_id", "eos_id", "pad_id", "unk_piece",
                 "bos_piece", "eos_piece", "pad_piece", "unk_surface", "treat_whitespace_as_suffix", "split_digits",
                 "max_sentencepiece_length"):
        assert getattr(ours.trainer_spec, name) == getattr(ts, name), name
    assert ours.trainer_spec.control_symbols == list(ts.control_symbols)
    assert ours.trainer_spec.user_defined_symbols == list(ts.user_defined_symbols)
    ns = proto.normalizer_spec
    for name in ("name", "precompiled_charsmap", "add_dummy_prefix", "remove_extra_whitespaces", "escape_whitespaces"):
        assert getattr(ours.normalizer_spec, name) == getattr(ns, name), name
    assert ours.model_type == options["model_type"]
    if options.get("byte_fallback"):
        assert sum(p.type == BYTE for p in ours.pieces) == 256
        assert ours.pieces[ours.vocab_scores().index(("<ctl>", 0.0))].type == CONTROL


def test_bad_model_files(tmp_path):
    data = _train(model_type="unigram", vocab_size=300)
    with pytest.raises(SentencePieceModelError):
        parse_sentencepiece_model(data[: len(data) // 2])
    with pytest.raises(SentencePieceModelError, match="not a SentencePiece"):
        parse_sentencepiece_model(b"")
    bad = tmp_path / "tokenizer.model"
    bad.write_bytes(b"\x0f\xff\xff")
    with pytest.raises(SentencePieceModelError, match="tokenizer.model"):
        load_sentencepiece_model(bad)
    with pytest.raises(EmbraceFileNotFoundError):
        load_sentencepiece_model(tmp_path / "missing.model")
