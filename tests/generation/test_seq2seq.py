"""Encoder-decoder generate() against the reference on a tiny T5: sampling, processors, forced tokens, early eos,
decoder prefixes, precomputed encoder outputs, generation_config.json defaults, dict outputs and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tests.models.t5_parity import one_torch_thread, padded_sources, save_reference  # noqa: F401

from embrace.generation.config import GenerationConfig, GenerationConfigError
from embrace.models.auto import AutoModelForSeq2SeqLM


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    folder = tmp_path_factory.mktemp("t5-gen")
    reference = save_reference(folder, {"feed_forward_proj": "gated-gelu"}, own_head=True)
    return reference, AutoModelForSeq2SeqLM.from_pretrained(folder), folder


def _both(pair: tuple[Any, Any, Path], seed: int | None = None, **options: Any) -> tuple[Any, Any]:
    reference, ours, _ = pair
    ids, mask = padded_sources()
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        ref = reference.generate(input_ids=ids, attention_mask=mask, **options)
    if seed is not None:
        torch.manual_seed(seed)
    return ref, ours.generate(input_ids=ids, attention_mask=mask, **options)


@pytest.mark.parametrize("options", [
    {"do_sample": True, "max_new_tokens": 24, "top_k": 20, "top_p": 0.9, "temperature": 0.8},
    {"do_sample": True, "max_new_tokens": 16, "num_return_sequences": 2},
    {"do_sample": True, "num_beams": 3, "max_new_tokens": 16},
], ids=["top-k-top-p", "return-2", "beam-sample"])
def test_seeded_sampling_matches(pair: tuple[Any, Any, Path], options: dict[str, Any]) -> None:
    ref, out = _both(pair, seed=7, **options)
    assert torch.equal(out, ref)


@pytest.mark.parametrize("options", [
    {"max_new_tokens": 12, "forced_bos_token_id": 5, "forced_eos_token_id": 1},
    {"num_beams": 3, "max_new_tokens": 10, "forced_bos_token_id": 7, "forced_eos_token_id": [1, 3]},
    {"max_new_tokens": 30, "no_repeat_ngram_size": 2, "repetition_penalty": 1.3},
    {"num_beams": 2, "max_length": 25, "min_length": 25, "length_penalty": 2.0},
    {"num_beams": 4, "max_new_tokens": 20, "early_stopping": "never", "length_penalty": -0.5},
    {"max_new_tokens": 20, "bad_words_ids": [[4], [10, 11]]},
], ids=["forced-bos-eos", "beam-forced-eos-list", "ngram-repetition", "min-length", "never-stop", "bad-words"])
def test_processors_match(pair: tuple[Any, Any, Path], options: dict[str, Any]) -> None:
    ref, out = _both(pair, **options)
    assert torch.equal(out, ref)


def _frequent_token(pair: tuple[Any, Any, Path]) -> int:
    """A token greedy decoding emits early in one row but not others: used as eos so rows finish apart."""
    _, ours, _ = pair
    ids, mask = padded_sources()
    greedy = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=30, eos_token_id=None)
    for token in greedy[0, 3:12].tolist():
        if token not in greedy[1, 1:6].tolist():
            return int(token)
    return int(greedy[0, 5])


@pytest.mark.parametrize("beams", [1, 3])
def test_rows_finishing_at_different_steps_match(pair: tuple[Any, Any, Path], beams: int) -> None:
    eos = _frequent_token(pair)
    ref, out = _both(pair, num_beams=beams, max_new_tokens=30, eos_token_id=eos)
    assert torch.equal(out, ref)
    assert (out == eos).any()


def test_dict_output_scores_match(pair: tuple[Any, Any, Path]) -> None:
    ref, out = _both(pair, max_new_tokens=8, return_dict_in_generate=True, output_scores=True, output_logits=True)
    assert torch.equal(out.sequences, ref.sequences)
    assert len(out.scores) == len(ref.scores) == 8
    for a, b in zip(out.scores, ref.scores):
        assert (a - b).abs().max() < 1e-4
    for a, b in zip(out.logits, ref.logits):
        assert (a - b).abs().max() < 1e-4


def test_beam_dict_output_matches(pair: tuple[Any, Any, Path]) -> None:
    ref, out = _both(pair, num_beams=3, num_return_sequences=2, max_new_tokens=9, return_dict_in_generate=True,
                     output_scores=True)
    assert torch.equal(out.sequences, ref.sequences)
    assert (out.sequences_scores - ref.sequences_scores).abs().max() < 1e-4


def test_decoder_prefix_and_precomputed_encoder_outputs(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    ids, mask = padded_sources()
    prefix = torch.tensor([[0, 5, 6]] * ids.shape[0])
    with torch.no_grad():
        ref = reference.generate(input_ids=ids, attention_mask=mask, decoder_input_ids=prefix, max_new_tokens=10)
    out = ours.generate(input_ids=ids, attention_mask=mask, decoder_input_ids=prefix, max_new_tokens=10)
    assert torch.equal(out, ref) and torch.equal(out[:, :3], prefix)
    # without the start token the prefix gets it prepended, as in the reference
    assert torch.equal(ours.generate(input_ids=ids, attention_mask=mask, decoder_input_ids=prefix[:, 1:],
                                     max_new_tokens=10), ref)
    encoder_outputs = ours.get_encoder()(input_ids=ids, attention_mask=mask)
    greedy = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10)
    assert torch.equal(ours.generate(encoder_outputs=encoder_outputs, attention_mask=mask, max_new_tokens=10), greedy)


def test_without_cache_equals_cached(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    ids, mask = padded_sources()
    for beams in (1, 2):
        cached = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, num_beams=beams)
        if beams == 1:
            uncached = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, use_cache=False)
            assert torch.equal(cached, uncached)
        dynamic = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, num_beams=beams,
                                cache_implementation="dynamic")
        assert torch.equal(cached, dynamic)


def test_mask_inferred_from_pad_tokens(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    ids, mask = padded_sources()
    assert torch.equal(ours.generate(input_ids=ids, max_new_tokens=10),
                       ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=10))


def test_generation_config_json_defaults(pair: tuple[Any, Any, Path], tmp_path: Path) -> None:
    import transformers

    reference, ours, folder = pair
    ours.save_pretrained(tmp_path)
    GenerationConfig(num_beams=3, max_new_tokens=11, length_penalty=0.7, decoder_start_token_id=0, eos_token_id=1,
                     pad_token_id=0).save_pretrained(tmp_path)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert loaded.generation_config.num_beams == 3
    ref = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    ids, mask = padded_sources()
    with torch.no_grad():
        expected = ref.generate(input_ids=ids, attention_mask=mask)
    got = loaded.generate(input_ids=ids, attention_mask=mask)
    assert got.shape[1] == 12 and torch.equal(got, expected)
    # without generation_config.json the model config supplies the token ids
    assert ours.generation_config.decoder_start_token_id == 0 and ours.generation_config.eos_token_id == 1


def test_streamer_receives_start_then_each_token(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    ids, mask = padded_sources(batch=1)

    class Collect:
        def __init__(self) -> None:
            self.parts: list[list[int]] = []
            self.ended = False

        def put(self, value: torch.Tensor) -> None:
            self.parts.append(value.flatten().tolist())

        def end(self) -> None:
            self.ended = True

    streamer = Collect()
    out = ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, streamer=streamer)
    assert streamer.ended and streamer.parts[0] == [0]
    assert sum(streamer.parts, []) == out[0].tolist()


def test_bad_arguments_are_clear_errors(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    ids, mask = padded_sources()
    with pytest.raises(GenerationConfigError, match="unknown generate"):
        ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=2, not_an_option=1)
    with pytest.raises(GenerationConfigError, match="num_return_sequences"):
        ours.generate(input_ids=ids, attention_mask=mask, num_beams=2, num_return_sequences=3)
    with pytest.raises(GenerationConfigError, match="beam"):
        ours.generate(input_ids=ids[:1], num_beams=2, streamer=object())
    with pytest.raises(ValueError, match="input_ids"):
        ours.generate(max_new_tokens=2)
    with pytest.raises(ValueError, match="attention_mask"):
        ours.generate(input_ids=ids, attention_mask=mask[:, :3], max_new_tokens=2)
