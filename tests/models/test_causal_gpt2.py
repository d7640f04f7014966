"""GPT-2 parity with the reference: Conv1D layout, learned positions, tied head, generate, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from embrace.generation.generate import GenerationInputError
from embrace.models.auto import AutoModelForCausalLM

from .causal_parity import VOCAB, max_logit_diff, padded_batch, save_reference


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    config = transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=48,
                                     pad_token_id=0, bos_token_id=1, eos_token_id=2)
    folder = tmp_path_factory.mktemp("gpt2")
    reference = save_reference(config, folder)
    return reference, AutoModelForCausalLM.from_pretrained(folder), folder


def test_logits_match_reference_with_left_padding(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    ids, mask = padded_batch()
    assert max_logit_diff(reference, ours, ids, mask) < 1e-4


def test_greedy_and_beam_match_reference(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    ids, mask = padded_batch(length=8)
    for kwargs in ({}, {"num_beams": 3}):
        expected = reference.generate(ids, attention_mask=mask, max_new_tokens=32, do_sample=False, **kwargs)
        assert torch.equal(ours.generate(ids, attention_mask=mask, max_new_tokens=32, **kwargs), expected)


def test_save_load_round_trip_both_ways(pair: tuple[Any, Any, Path], tmp_path: Path) -> None:
    reference, ours, _ = pair
    ours.save_pretrained(tmp_path)
    assert "lm_head.weight" not in ours.checkpoint_state_dict()  # tied: saved once, as the reference does
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids, mask = padded_batch()
    assert max_logit_diff(reference, back, ids, mask) == 0.0
    assert max_logit_diff(reference, AutoModelForCausalLM.from_pretrained(tmp_path), ids, mask) < 1e-5


def test_learned_positions_bound_the_generation(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    with pytest.raises(GenerationInputError, match="learned positions"):
        ours.generate(torch.ones(1, 40, dtype=torch.long), max_new_tokens=20)
    with pytest.raises(GenerationInputError, match="context is 48"):
        ours.generate(torch.ones(1, 49, dtype=torch.long), max_new_tokens=1)
