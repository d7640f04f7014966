"""T5 / mT5 parity with the reference: encoder outputs, decoder logits with and without cache, loss from labels,
greedy and beam generation, save/load both ways, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from embrace.errors import VocabularyMismatchError
from embrace.models.auto import AutoConfig, AutoModel, AutoModelForSeq2SeqLM
from embrace.models.cache import DynamicCache, EncoderDecoderCache
from embrace.models.seq2seq import MissingDecoderStartError, shift_tokens_right
from embrace.models.t5 import MT5ForConditionalGeneration, T5Config, T5EncoderModel, T5ForConditionalGeneration, T5Model

from .t5_parity import PEAKY, VARIANTS, VOCAB, one_torch_thread, padded_sources, save_reference  # noqa: F401

TOL = 1e-4


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    overrides, own_head = VARIANTS[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    reference = save_reference(folder, overrides, own_head)
    ours = AutoModelForSeq2SeqLM.from_pretrained(folder)
    return reference, ours, folder


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def gen_pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    overrides, own_head = VARIANTS[request.param]
    folder = tmp_path_factory.mktemp(request.param + "-peaky")
    reference = save_reference(folder, {**overrides, **PEAKY}, own_head)
    return reference, AutoModelForSeq2SeqLM.from_pretrained(folder)


def _targets(seed: int = 2, batch: int = 3, length: int = 7) -> torch.Tensor:
    return torch.randint(2, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_loads_as_t5_with_the_right_head_tying(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, folder = pair
    assert isinstance(ours, T5ForConditionalGeneration)
    assert ours.loading_report is not None and not ours.loading_report.missing_keys
    ref_tied = reference.lm_head.weight.data_ptr() == reference.shared.weight.data_ptr()
    assert (ours.lm_head.weight is ours.shared.weight) == ref_tied
    assert ours.encoder.embed_tokens.weight is ours.shared.weight
    assert ours.decoder.embed_tokens.weight is ours.shared.weight
    assert ours.config.scale_decoder_outputs == reference.config.scale_decoder_outputs


def test_encoder_and_decoder_logits_match(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    ids, mask = padded_sources()
    targets = _targets()
    with torch.no_grad():
        ref = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=targets)
        out = ours(input_ids=ids, attention_mask=mask, decoder_input_ids=targets)
    real = mask.bool()
    assert (ref.encoder_last_hidden_state - out.encoder_last_hidden_state)[real].abs().max() < TOL
    assert (ref.logits - out.logits).abs().max() < TOL


def test_cached_decoding_matches_full_forward(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    ids, mask = padded_sources()
    targets = _targets(length=9)
    with torch.no_grad():
        full = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits
        encoder_outputs = ours.get_encoder()(input_ids=ids, attention_mask=mask)
        cache, steps = None, []
        for t in range(targets.shape[1]):
            out = ours(encoder_outputs=encoder_outputs, attention_mask=mask, decoder_input_ids=targets[:, t:t + 1],
                       past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            steps.append(out.logits)
    assert isinstance(cache, EncoderDecoderCache)
    assert cache.get_seq_length() == targets.shape[1]
    assert cache.is_updated == set(range(ours.config.num_decoder_layers))
    assert (torch.cat(steps, dim=1) - full).abs().max() < TOL


def test_loss_from_labels_with_ignore_index(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    ids, mask = padded_sources()
    labels = _targets()
    labels[1, 4:] = -100
    labels[2, 2:] = -100
    with torch.no_grad():
        ref = reference(input_ids=ids, attention_mask=mask, labels=labels)
        out = ours(input_ids=ids, attention_mask=mask, labels=labels)
    assert abs(ref.loss.item() - out.loss.item()) < TOL
    assert (ref.logits - out.logits).abs().max() < TOL
    loss, logits = ours(input_ids=ids, attention_mask=mask, labels=labels, return_dict=False)[:2]
    assert torch.allclose(loss, out.loss, atol=TOL) and torch.allclose(logits, out.logits, atol=TOL)


def test_loss_backpropagates_into_every_weight(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    ids, mask = padded_sources()
    ours.train()
    try:
        ours(input_ids=ids, attention_mask=mask, labels=_targets()).loss.backward()
        missing = [name for name, p in ours.named_parameters() if p.grad is None]
    finally:
        ours.zero_grad(set_to_none=True)
        ours.eval()
    assert missing == []


@pytest.mark.parametrize("options", [
    {"max_new_tokens": 34, "min_new_tokens": 34},
    {"num_beams": 4, "max_new_tokens": 34, "min_new_tokens": 32},
    {"num_beams": 4, "max_new_tokens": 33, "num_return_sequences": 3, "length_penalty": 0.5, "early_stopping": True},
], ids=["greedy", "beam4", "beam4-return3-length-penalty"])
def test_generate_token_identical_batched_with_padding(gen_pair: tuple[Any, Any], options: dict[str, Any]) -> None:
    reference, ours = gen_pair
    ids, mask = padded_sources()
    with torch.no_grad():
        ref = reference.generate(input_ids=ids, attention_mask=mask, **options)
    out = ours.generate(input_ids=ids, attention_mask=mask, **options)
    assert out.shape[1] >= 33
    assert torch.equal(out, ref)


def test_save_load_round_trip_both_ways(pair: tuple[Any, Any, Path], tmp_path: Path) -> None:
    reference, ours, _ = pair
    ours.save_pretrained(tmp_path / "ours")
    saved = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert saved["model_type"] == "t5" and saved["architectures"] == ["T5ForConditionalGeneration"]
    back = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path / "ours").eval()
    again = T5ForConditionalGeneration.from_pretrained(tmp_path / "ours")
    ids, mask = padded_sources()
    targets = _targets()
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits
        for model in (back, again):
            got = model(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits
            assert (got - expected).abs().max() < TOL
    assert back.config.scale_decoder_outputs == reference.config.scale_decoder_outputs


def test_base_model_and_encoder_model_match(tmp_path: Path) -> None:
    reference = save_reference(tmp_path / "full", {"feed_forward_proj": "gated-gelu"})
    ids, mask = padded_sources()
    targets = _targets()
    base = AutoModel.from_pretrained(tmp_path / "full")
    assert isinstance(base, T5Model)
    ref_base = transformers.T5Model.from_pretrained(tmp_path / "full").eval()
    encoder = T5EncoderModel.from_pretrained(tmp_path / "full")  # decoder weights are expected and skipped
    assert encoder.loading_report is not None and not encoder.loading_report.unexpected_keys
    with torch.no_grad():
        ref_out = ref_base(input_ids=ids, attention_mask=mask, decoder_input_ids=targets)
        out = base(input_ids=ids, attention_mask=mask, decoder_input_ids=targets)
        enc = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        ref_enc = reference.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    assert (ref_out.last_hidden_state - out.last_hidden_state).abs().max() < TOL
    assert (enc - ref_enc)[mask.bool()].abs().max() < TOL


def test_encoder_model_saves_for_the_reference(tmp_path: Path) -> None:
    config = T5Config(vocab_size=VOCAB, d_model=16, d_kv=4, d_ff=24, num_layers=2, num_heads=4)
    torch.manual_seed(0)
    ours = T5EncoderModel.from_config(config).eval()
    ours.save_pretrained(tmp_path)
    ref = transformers.T5EncoderModel.from_pretrained(tmp_path).eval()
    ids, mask = padded_sources()
    with torch.no_grad():
        diff = (ours(input_ids=ids, attention_mask=mask).last_hidden_state
                - ref(input_ids=ids, attention_mask=mask).last_hidden_state)
    assert diff[mask.bool()].abs().max() < TOL


def test_mt5_matches_and_never_scales(tmp_path: Path) -> None:
    reference = save_reference(tmp_path, {"feed_forward_proj": "gated-gelu"}, own_head=True, config_class="MT5Config",
                               model_class="MT5ForConditionalGeneration")
    ours = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert isinstance(ours, MT5ForConditionalGeneration)
    assert ours.config.model_type == "mt5" and ours.config.scale_decoder_outputs is False
    ids, mask = padded_sources()
    with torch.no_grad():
        ref = reference.generate(input_ids=ids, attention_mask=mask, num_beams=2, max_new_tokens=32, min_new_tokens=32)
    assert torch.equal(ours.generate(input_ids=ids, attention_mask=mask, num_beams=2, max_new_tokens=32,
                                     min_new_tokens=32), ref)


def test_config_round_trip_and_derived_fields(tmp_path: Path) -> None:
    ref = transformers.T5Config(feed_forward_proj="gated-gelu", num_layers=3, vocab_size=50)
    ref.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, T5Config)
    assert (config.num_decoder_layers, config.dense_act_fn, config.is_gated_act) == (3, "gelu_new", True)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (512, 8, 3)
    assert config.is_encoder_decoder
    data = config.to_dict()
    assert "dense_act_fn" not in data and data["feed_forward_proj"] == "gated-gelu"
    with pytest.raises(ValueError, match="feed_forward_proj"):
        T5Config(feed_forward_proj="gated-gelu-x")
    with pytest.raises(ValueError, match="unknown activation"):
        T5Config(feed_forward_proj="gated-nonsense")


def test_shift_tokens_right_matches_the_reference() -> None:
    from transformers.models.bart.modeling_bart import shift_tokens_right as reference

    labels = torch.tensor([[5, 6, 7, -100], [8, -100, -100, -100]])
    assert torch.equal(shift_tokens_right(labels, 0, 0), reference(labels, 0, 0))
    assert torch.equal(shift_tokens_right(labels, 1, 2), reference(labels, 1, 2))
    with pytest.raises(MissingDecoderStartError, match="decoder_start_token_id"):
        shift_tokens_right(labels, 0, None)


def test_missing_decoder_start_token_is_a_clear_error(tmp_path: Path) -> None:
    config = T5Config(vocab_size=VOCAB, d_model=16, d_kv=4, d_ff=24, num_layers=1, num_heads=4,
                      decoder_start_token_id=None, bos_token_id=None)
    model = T5ForConditionalGeneration.from_config(config).eval()
    ids, mask = padded_sources()
    with pytest.raises(MissingDecoderStartError, match="decoder_start_token_id"):
        model(input_ids=ids, attention_mask=mask, labels=_targets())
    with pytest.raises(MissingDecoderStartError, match="decoder_start_token_id"):
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=3)
    assert model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=3, decoder_start_token_id=0).shape == (3, 4)


def test_ids_outside_the_vocabulary_name_the_tokenizer(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    ids, mask = padded_sources()
    ids[0, 0] = VOCAB + 5  # e.g. a tokenizer with a larger vocabulary than the model
    with pytest.raises(VocabularyMismatchError, match="tokenizer does not match the model"):
        ours.generate(input_ids=ids, attention_mask=mask, max_new_tokens=2)


def test_decoder_needs_inputs() -> None:
    model = T5ForConditionalGeneration.from_config(T5Config(vocab_size=VOCAB, d_model=16, d_kv=4, d_ff=24,
                                                            num_layers=1, num_heads=4)).eval()
    with pytest.raises(ValueError, match="decoder_input_ids"):
        model(input_ids=padded_sources()[0])


def test_encoder_decoder_cache_reorders_grouped_cross_rows() -> None:
    cross = DynamicCache()
    keys = torch.arange(2.0).view(2, 1, 1, 1).expand(2, 1, 3, 2)
    cross.update(0, keys, keys)
    cache = EncoderDecoderCache(DynamicCache(), cross)
    cache.update(0, torch.arange(4.0).view(4, 1, 1, 1), torch.arange(4.0).view(4, 1, 1, 1))
    cache.reorder(torch.tensor([1, 1, 2, 3]))  # beams of prompt 0 are rows 0-1, of prompt 1 rows 2-3
    assert cache.self_attention_cache.keys[0].flatten().tolist() == [1.0, 1.0, 2.0, 3.0]
    assert cache.cross_attention_cache.keys[0][:, 0, 0, 0].tolist() == [0.0, 1.0]
    calls = []
    assert cache.cross_attention(0, lambda: calls.append(1) or (keys, keys))[0].shape == (2, 1, 3, 2)
    assert calls == []
