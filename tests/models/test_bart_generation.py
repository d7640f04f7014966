"""generate() on BART, mBART, Marian and Pegasus: greedy and beam search token-identical to the reference for 32+
new tokens on a padded batch (encoder run once, cross-attention cached, forced BOS/EOS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tests.models.bart_family import load_ours, padded_source, save_reference

pytest.importorskip("transformers")
GENERATION_FAMILIES = ["bart", "mbart", "marian-separate-vocab", "pegasus"]


@pytest.fixture(scope="module", params=GENERATION_FAMILIES)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, Any]:
    folder: Path = tmp_path_factory.mktemp(request.param)
    reference = save_reference(request.param, folder, seed=3)
    return request.param, reference, load_ours(request.param, folder)


def _generate_both(reference: Any, ours: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    config = reference.config
    ids, mask = padded_source(config.pad_token_id, config.eos_token_id, seed=5)
    with torch.no_grad():
        expected = reference.generate(input_ids=ids, attention_mask=mask, **kwargs)
        got = ours.generate(input_ids=ids, attention_mask=mask, **kwargs)
    return expected, got


@pytest.mark.parametrize("num_beams", [1, 4])
def test_generation_matches_reference(pair: tuple[str, Any, Any], num_beams: int) -> None:
    _, reference, ours = pair
    expected, got = _generate_both(reference, ours, max_new_tokens=40, min_new_tokens=32, num_beams=num_beams,
                                   do_sample=False)
    assert expected.shape[1] >= 33
    assert got.tolist() == expected.tolist()
    assert (got[:, 0] == reference.config.decoder_start_token_id).all()


def test_beam_search_with_length_penalty_and_several_returns(pair: tuple[str, Any, Any]) -> None:
    _, reference, ours = pair
    expected, got = _generate_both(reference, ours, max_new_tokens=34, num_beams=3, num_return_sequences=2,
                                   length_penalty=0.6, do_sample=False)
    assert got.tolist() == expected.tolist()


def test_forced_bos_token_is_the_first_generated_token(tmp_path: Path) -> None:
    """mBART-50 starts translations with the target language code through forced_bos_token_id."""
    reference = save_reference("mbart", tmp_path, seed=3)
    expected, got = _generate_both(reference, load_ours("mbart", tmp_path), max_new_tokens=33,
                                   forced_bos_token_id=7, num_beams=2)
    assert (got[:, 1] == 7).all()
    assert got.tolist() == expected.tolist()


def test_missing_decoder_start_token_is_a_clear_error(tmp_path: Path) -> None:
    from embrace.models.bart import MBartForConditionalGeneration
    from embrace.models.seq2seq import MissingDecoderStartError

    save_reference("mbart", tmp_path, decoder_start_token_id=None, bos_token_id=None)
    model = MBartForConditionalGeneration.from_pretrained(tmp_path)
    ids = torch.tensor([[5, 6, 2]])
    with pytest.raises(MissingDecoderStartError):
        model.generate(input_ids=ids, max_new_tokens=3)
