"""Bad input to the tokenizer pipeline gives clear typed errors."""

from __future__ import annotations

import json

import pytest
from tests.conftest import asset

from embrace.errors import EmbraceFileNotFoundError
from embrace.tokenizers import Tokenizer
from embrace.tokenizers.errors import (
    InvalidTokenizerFileError,
    TokenIdError,
    TokenizerInputError,
    TruncationError,
    UnknownComponentError,
)


@pytest.fixture(scope="module")
def minilm_json() -> dict:
    return json.loads((asset("minilm") / "tokenizer.json").read_text(encoding="utf-8"))


def test_invalid_json_and_missing_fields(tmp_path, minilm_json: dict) -> None:
    with pytest.raises(InvalidTokenizerFileError, match="not valid JSON"):
        Tokenizer.from_str("{not json")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InvalidTokenizerFileError, match="tokenizer.json"):
        Tokenizer.from_file(bad)
    with pytest.raises(InvalidTokenizerFileError, match="missing field 'model'"):
        Tokenizer.from_dict({k: v for k, v in minilm_json.items() if k != "model"})
    with pytest.raises(EmbraceFileNotFoundError):
        Tokenizer.from_file(tmp_path / "nope.json")
    broken = json.loads(json.dumps(minilm_json))
    broken["model"] = {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b"]]}
    with pytest.raises(InvalidTokenizerFileError, match="not in the vocabulary"):
        Tokenizer.from_dict(broken)


@pytest.mark.parametrize("section", ["normalizer", "pre_tokenizer", "post_processor", "decoder", "model"])
def test_unknown_component_type_names_supported_ones(minilm_json: dict, section: str) -> None:
    data = json.loads(json.dumps(minilm_json))
    data[section] = {"type": "Quantum"}
    with pytest.raises(UnknownComponentError, match="Quantum.*supports"):
        Tokenizer.from_dict(data)


def test_bad_encode_and_decode_inputs(minilm_json: dict) -> None:
    tok = Tokenizer.from_dict(minilm_json)
    with pytest.raises(TokenizerInputError, match="must be a str"):
        tok.encode(None)  # type: ignore[arg-type]
    with pytest.raises(TokenizerInputError):
        tok.encode_batch(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(TokenizerInputError):
        tok.encode_batch("not a list")  # type: ignore[arg-type]
    with pytest.raises(TokenizerInputError):
        tok.encode_batch_ids([b"bytes"])  # type: ignore[list-item]
    with pytest.raises(TokenIdError, match="outside the vocabulary"):
        tok.decode([101, 30522 + 5])
    with pytest.raises(TokenizerInputError):
        tok.decode(["101"])  # type: ignore[list-item]
    tok.enable_truncation(4, stride=3)
    with pytest.raises(TruncationError, match="stride"):
        tok.encode("one two three four five six seven")
    tok.enable_truncation(6, strategy="only_second")
    with pytest.raises(TruncationError, match="pair"):
        tok.encode("one two three four five six seven")
