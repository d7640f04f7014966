"""BART-family bad input and the mBART label shift: clear typed errors instead of deep torch failures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.models.bart_family import load_ours, save_reference

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def bart(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = tmp_path_factory.mktemp("bart")
    save_reference("bart", folder)
    return load_ours("bart", folder)


def test_ids_beyond_the_vocabulary_name_the_tokenizer_mismatch(bart: object) -> None:
    from embrace.models.bart import VocabularyMismatchError

    ids = torch.tensor([[0, 5, 150, 2]])  # e.g. a tokenizer with a larger vocabulary than config.vocab_size (99)
    with pytest.raises(VocabularyMismatchError, match="vocabulary of 99"):
        bart(input_ids=ids, decoder_input_ids=torch.tensor([[2]]))  # type: ignore[operator]
    with pytest.raises(VocabularyMismatchError, match="-100"):
        bart(input_ids=torch.tensor([[0, 5, -100]]))  # type: ignore[operator]
    with pytest.raises(VocabularyMismatchError):
        bart.generate(input_ids=ids, max_new_tokens=2)  # type: ignore[attr-defined]


def test_missing_decoder_start_token_is_a_clear_error(tmp_path: Path) -> None:
    from embrace.models.bart import BartForConditionalGeneration
    from embrace.models.seq2seq import MissingDecoderStartError

    save_reference("bart", tmp_path, decoder_start_token_id=None)
    model = BartForConditionalGeneration.from_pretrained(tmp_path)
    ids = torch.tensor([[0, 5, 6, 2]])
    with pytest.raises(MissingDecoderStartError, match="decoder_start_token_id"):
        model(input_ids=ids, labels=torch.tensor([[5, 6, 2]]))
    with pytest.raises(MissingDecoderStartError, match="decoder_start_token_id"):
        model(input_ids=ids)  # BART's denoising default shifts input_ids


def test_shape_and_argument_errors(bart: object) -> None:
    with pytest.raises(ValueError, match=r"\(batch, seq_len\)"):
        bart(input_ids=torch.tensor([0, 5, 2]))  # type: ignore[operator]
    with pytest.raises(ValueError, match="exactly one"):
        bart(input_ids=torch.tensor([[0, 5, 2]]), inputs_embeds=torch.zeros(1, 3, 32))  # type: ignore[operator]
    with pytest.raises(ValueError, match="decoder_input_ids"):
        bart(encoder_outputs=(torch.zeros(1, 3, 32),))  # type: ignore[operator]


def test_marian_and_pegasus_need_decoder_inputs(tmp_path: Path) -> None:
    from embrace.models.bart import MarianModel

    model = MarianModel.from_config(load_ours("marian", _saved(tmp_path, "marian")).config)
    with pytest.raises(ValueError, match="Marian needs decoder_input_ids"):
        model(input_ids=torch.tensor([[5, 6, 0]]))


def _saved(tmp_path: Path, family: str) -> Path:
    save_reference(family, tmp_path)
    return tmp_path


def test_invalid_config_is_rejected() -> None:
    from embrace.errors import InvalidConfigError
    from embrace.models.bart import BartConfig

    with pytest.raises(InvalidConfigError, match="multiple of encoder_attention_heads"):
        BartConfig(d_model=30, encoder_attention_heads=4)


def test_mbart_label_shift_matches_reference() -> None:
    from transformers.models.mbart.modeling_mbart import shift_tokens_right as reference_shift

    from embrace.models.bart import mbart_shift_tokens_right

    labels = torch.tensor([[5, 6, 7, 2, 250004], [8, 9, 2, 250020, -100], [4, 2, 250001, -100, -100]])
    assert torch.equal(mbart_shift_tokens_right(labels, 1), reference_shift(labels.clone(), 1))
    with pytest.raises(ValueError, match="pad_token_id"):
        mbart_shift_tokens_right(labels, None)


def test_too_long_inputs_name_the_position_limit(bart: object) -> None:
    from embrace.models.bart import SequenceTooLongError

    with pytest.raises(SequenceTooLongError, match="max_position_embeddings \\(80\\)"):
        bart(input_ids=torch.full((1, 81), 5), decoder_input_ids=torch.tensor([[2]]))  # type: ignore[operator]
    with pytest.raises(SequenceTooLongError):
        bart.generate(input_ids=torch.tensor([[0, 5, 2]]), max_new_tokens=90, min_new_tokens=90)  # type: ignore[attr-defined]
