"""generate() against the reference on a tiny random Llama: beam search, seeded sampling with every warper,
penalties and bans, eos handling, return_dict outputs, generation_config.json defaults, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from embrace.generation.config import GenerationConfig, GenerationConfigError
from embrace.generation.generate import GenerationInputError
from embrace.generation.logits import LogitsProcessor
from embrace.generation.stopping import StoppingCriteria
from embrace.models.auto import AutoModelForCausalLM

VOCAB = 61


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, torch.Tensor, torch.Tensor]:
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=64, max_position_embeddings=96,
                                      pad_token_id=0, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    reference = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():  # sharper distributions, so sampling tests exercise the warpers
        reference.lm_head.weight.mul_(20)
    folder = tmp_path_factory.mktemp("gen")
    reference.save_pretrained(folder)
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(3, VOCAB, (2, 6), generator=gen)
    mask = torch.ones_like(ids)
    mask[0, :2] = 0
    ids[0, :2] = 0
    return reference, AutoModelForCausalLM.from_pretrained(folder), ids, mask


def _both(pair: tuple[Any, Any, torch.Tensor, torch.Tensor], seed: int = 0, **kwargs: Any
          ) -> tuple[torch.Tensor, torch.Tensor]:
    reference, ours, ids, mask = pair
    torch.manual_seed(seed)
    expected = reference.generate(ids, attention_mask=mask, max_new_tokens=32, **kwargs)
    torch.manual_seed(seed)
    got = ours.generate(ids, attention_mask=mask, max_new_tokens=32, **kwargs)
    return got, expected


def _frequent_token(pair: tuple[Any, Any, torch.Tensor, torch.Tensor]) -> int:
    """A token greedy decoding emits early on, to act as eos so sequences really finish."""
    _, ours, ids, mask = pair
    return int(ours.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=False)[1, -1])


@pytest.mark.parametrize("kwargs", [
    {"num_beams": 4, "num_return_sequences": 3, "length_penalty": 0.3, "early_stopping": True},
    {"num_beams": 3, "early_stopping": "never", "length_penalty": 2.0, "no_repeat_ngram_size": 2,
     "repetition_penalty": 1.3},
], ids=["return3-lp-early", "never-penalties"])
def test_beam_search_matches_reference(pair: Any, kwargs: dict[str, Any]) -> None:
    got, expected = _both(pair, do_sample=False, **kwargs)
    assert torch.equal(got, expected)


def test_beam_search_with_eos_matches_reference(pair: Any) -> None:
    got, expected = _both(pair, do_sample=False, num_beams=3, eos_token_id=_frequent_token(pair))
    assert torch.equal(got, expected)


@pytest.mark.parametrize("kwargs", [
    {"temperature": 0.7, "top_k": 10},
    {"top_p": 0.8, "top_k": 0},
    {"min_p": 0.1, "top_k": 0},
    {"typical_p": 0.7},
    {"repetition_penalty": 1.5, "no_repeat_ngram_size": 3, "bad_words_ids": [[5], [7, 8]]},
    {"num_return_sequences": 3, "temperature": 1.3},
], ids=["temp-topk", "top-p", "min-p", "typical", "penalties-bans", "return3"])
def test_seeded_sampling_matches_reference(pair: Any, kwargs: dict[str, Any]) -> None:
    got, expected = _both(pair, seed=11, do_sample=True, **kwargs)
    assert torch.equal(got, expected)


def test_eos_list_min_new_tokens_and_padding_after_eos(pair: Any) -> None:
    eos = _frequent_token(pair)
    for kwargs in ({"eos_token_id": [eos, 4]}, {"eos_token_id": eos, "min_new_tokens": 10}):
        got, expected = _both(pair, do_sample=False, **kwargs)
        assert torch.equal(got, expected)
    _, ours, ids, mask = pair
    got = ours.generate(ids, attention_mask=mask, max_new_tokens=32, eos_token_id=eos)
    finished_at = int((got[1, 6:] == eos).nonzero()[0, 0]) + 6
    assert (got[1, finished_at + 1:] == 0).all()  # a finished row is filled with pad


def test_return_dict_scores_match_reference(pair: Any) -> None:
    reference, ours, ids, mask = pair
    kwargs = dict(max_new_tokens=8, do_sample=False, return_dict_in_generate=True, output_scores=True,
                  output_logits=True, repetition_penalty=1.2)
    expected = reference.generate(ids, attention_mask=mask, **kwargs)
    got = ours.generate(ids, attention_mask=mask, **kwargs)
    assert torch.equal(got.sequences, expected.sequences)
    assert len(got.scores) == len(expected.scores) == 8
    for a, b in zip(got.scores, expected.scores, strict=True):
        assert torch.allclose(a, b, atol=1e-4)
    for a, b in zip(got.logits, expected.logits, strict=True):
        assert torch.allclose(a, b, atol=1e-4)


def test_generator_reproducible_and_independent_of_global_rng(pair: Any) -> None:
    _, ours, ids, mask = pair
    outs = []
    for noise in (0, 1):
        torch.manual_seed(noise)
        outs.append(ours.generate(ids, attention_mask=mask, max_new_tokens=16, do_sample=True,
                                  generator=torch.Generator().manual_seed(7)))
    assert torch.equal(outs[0], outs[1])


def test_dynamic_cache_and_no_cache_agree_with_static(pair: Any) -> None:
    _, ours, ids, mask = pair
    static = ours.generate(ids, attention_mask=mask, max_new_tokens=12)
    assert torch.equal(ours.generate(ids, attention_mask=mask, max_new_tokens=12, cache_implementation="dynamic"),
                       static)
    assert torch.equal(ours.generate(ids, attention_mask=mask, max_new_tokens=12, use_cache=False), static)


def test_user_processor_and_stopping_criteria(pair: Any) -> None:
    _, ours, ids, mask = pair

    class OnlyToken(LogitsProcessor):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            out = torch.full_like(scores, float("-inf"))
            out[:, 9] = 0
            return out

    class StopAtLength(StoppingCriteria):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            return torch.full((input_ids.shape[0],), input_ids.shape[1] >= 10, dtype=torch.bool)

    out = ours.generate(ids, attention_mask=mask, max_new_tokens=30, logits_processor=[OnlyToken()],
                        stopping_criteria=[StopAtLength()])
    assert out.shape == (2, 10)
    assert (out[:, 6:] == 9).all()


def test_generation_config_json_defaults(pair: Any, tmp_path: Path) -> None:
    _, ours, ids, mask = pair
    ours.save_pretrained(tmp_path)
    (tmp_path / "generation_config.json").write_text(json.dumps({"max_new_tokens": 5, "eos_token_id": 2}))
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.generation_config.max_new_tokens == 5
    assert loaded.generate(ids, attention_mask=mask).shape[1] == 6 + 5
    ref_cfg = transformers.GenerationConfig.from_pretrained(tmp_path)
    assert ref_cfg.max_new_tokens == 5
    assert GenerationConfig().resolved().max_length == 20 == transformers.GenerationConfig()._get_default_generation_params()["max_length"]


@pytest.mark.parametrize("kwargs,match", [
    ({"do_sample": True, "top_p": 1.5}, "top_p"),
    ({"do_sample": True, "temperature": -1.0}, "temperature"),
    ({"num_beams": 2, "num_return_sequences": 3}, "num_return_sequences"),
    ({"num_return_sequences": 2}, "greedy"),
    ({"bogus_arg": 1}, "unknown generate"),
])
def test_invalid_generation_arguments(pair: Any, kwargs: dict[str, Any], match: str) -> None:
    _, ours, ids, mask = pair
    with pytest.raises(GenerationConfigError, match=match):
        ours.generate(ids, attention_mask=mask, max_new_tokens=2, **kwargs)


def test_bad_prompts(pair: Any) -> None:
    _, ours, _, _ = pair
    with pytest.raises(GenerationInputError, match="empty"):
        ours.generate(torch.zeros(1, 0, dtype=torch.long), max_new_tokens=2)
    with pytest.raises(GenerationInputError, match="context is 96"):
        ours.generate(torch.ones(1, 97, dtype=torch.long), max_new_tokens=2)
