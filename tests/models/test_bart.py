"""BART, mBART, Marian and Pegasus against the reference on tiny random checkpoints: encoder states, logits with
and without the cache, losses, tied weights and save/load both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tests.models.bart_family import FAMILIES, decoder_ids, load_ours, padded_source, save_reference

pytest.importorskip("transformers")
ATOL = 1e-4


@pytest.fixture(scope="module", params=list(FAMILIES))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, Any, Path]:
    folder = tmp_path_factory.mktemp(request.param)
    reference = save_reference(request.param, folder)
    return request.param, reference, load_ours(request.param, folder), folder


def _inputs(reference: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    config = reference.config
    ids, mask = padded_source(config.pad_token_id, config.eos_token_id)
    return ids, mask, decoder_ids(config.decoder_start_token_id)


def test_checkpoint_loads_without_missing_or_unexpected_keys(pair: tuple[str, Any, Any, Path]) -> None:
    _, _, ours, _ = pair
    report = ours.loading_report
    assert report.missing_keys == [] and report.unexpected_keys == []


def test_encoder_states_match(pair: tuple[str, Any, Any, Path]) -> None:
    _, reference, ours, _ = pair
    ids, mask, _ = _inputs(reference)
    with torch.no_grad():
        expected = reference.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    assert got.shape == expected.shape
    assert (got - expected)[mask.bool()].abs().max().item() < ATOL


def test_decoder_logits_match_without_cache(pair: tuple[str, Any, Any, Path]) -> None:
    _, reference, ours, _ = pair
    ids, mask, dec = _inputs(reference)
    dec_mask = torch.ones_like(dec)
    dec_mask[1, -2:] = 0  # right-padded decoder rows
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
                             decoder_attention_mask=dec_mask, use_cache=False).logits
        got = ours(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask,
                   use_cache=False).logits
    assert got.shape == expected.shape
    assert (got - expected)[dec_mask.bool()].abs().max().item() < ATOL


def test_cached_decoding_matches_reference_and_full_forward(pair: tuple[str, Any, Any, Path]) -> None:
    _, reference, ours, _ = pair
    ids, mask, dec = _inputs(reference)
    with torch.no_grad():
        full = ours(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        encoded = ours.get_encoder()(input_ids=ids, attention_mask=mask)
        ref_encoded = reference.get_encoder()(input_ids=ids, attention_mask=mask)
        # prefix of 3 tokens, then one token at a time
        step = ours(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=dec[:, :3], use_cache=True)
        ref_step = reference(encoder_outputs=ref_encoded, attention_mask=mask, decoder_input_ids=dec[:, :3],
                             use_cache=True)
        cache, ref_cache = step.past_key_values, ref_step.past_key_values
        pieces, ref_pieces = [step.logits], [ref_step.logits]
        for t in range(3, dec.shape[1]):
            step = ours(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=dec[:, t:t + 1],
                        past_key_values=cache, use_cache=True)
            ref_step = reference(encoder_outputs=ref_encoded, attention_mask=mask,
                                 decoder_input_ids=dec[:, t:t + 1], past_key_values=ref_cache, use_cache=True)
            pieces.append(step.logits)
            ref_pieces.append(ref_step.logits)
    cached, ref_cached = torch.cat(pieces, dim=1), torch.cat(ref_pieces, dim=1)
    assert (cached - full).abs().max().item() < ATOL
    assert (cached - ref_cached).abs().max().item() < ATOL
    assert cache.get_seq_length() == dec.shape[1]
    assert cache.cross_attention_cache.get_seq_length(0) == ids.shape[1]  # projected once, reused


def test_loss_from_labels_with_ignored_positions(pair: tuple[str, Any, Any, Path]) -> None:
    _, reference, ours, _ = pair
    ids, mask, dec = _inputs(reference)
    labels = dec.clone()
    labels[0, -3:] = -100
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels)
        got = ours(input_ids=ids, attention_mask=mask, labels=labels)
    assert abs(got.loss.item() - expected.loss.item()) < ATOL
    assert (got.logits - expected.logits).abs().max().item() < ATOL
    assert got.past_key_values is None


def test_tied_embeddings_share_storage(pair: tuple[str, Any, Any, Path]) -> None:
    family, _, ours, _ = pair
    head = ours.lm_head.weight
    decoder_embeddings = ours.model.decoder.embed_tokens.weight
    assert head.data_ptr() == decoder_embeddings.data_ptr()
    shared = family != "marian-separate-vocab"
    assert (ours.model.encoder.embed_tokens.weight.data_ptr() == decoder_embeddings.data_ptr()) is shared


def test_our_save_loads_in_reference(pair: tuple[str, Any, Any, Path], tmp_path: Path) -> None:
    import transformers

    family, reference, ours, _ = pair
    ours.save_pretrained(tmp_path)
    reloaded = getattr(transformers, FAMILIES[family][1]).from_pretrained(tmp_path).eval()
    ids, mask, dec = _inputs(reference)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        got = reloaded(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
    assert (got - expected).abs().max().item() < ATOL
    # and ours reads its own save back with every key
    again = load_ours(family, tmp_path)
    assert again.loading_report.missing_keys == [] and again.loading_report.unexpected_keys == []


def test_auto_classes_pick_the_family(pair: tuple[str, Any, Any, Path]) -> None:
    from embrace.models.auto import AutoModel, AutoModelForSeq2SeqLM

    family, _, ours, folder = pair
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    assert type(model) is type(ours)
    base = AutoModel.from_pretrained(folder)  # the body alone, from the LM checkpoint
    assert base.loading_report.missing_keys == []
    assert type(base).__name__.endswith("Model") and not type(base).__name__.endswith("MTModel")


def test_base_model_matches_reference_body(pair: tuple[str, Any, Any, Path]) -> None:
    from embrace.models.auto import AutoModel

    _, reference, _, folder = pair
    ids, mask, dec = _inputs(reference)
    base = AutoModel.from_pretrained(folder)
    with torch.no_grad():
        expected = reference.model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).last_hidden_state
        got = base(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).last_hidden_state
    assert (got - expected).abs().max().item() < ATOL


def test_hidden_states_match(pair: tuple[str, Any, Any, Path]) -> None:
    """``output_hidden_states``: each layer's input and the final output, for encoder and decoder."""
    _, reference, ours, _ = pair
    ids, mask, dec = _inputs(reference)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, output_hidden_states=True)
        got = ours(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, output_hidden_states=True)
    for side in ("encoder_hidden_states", "decoder_hidden_states"):
        assert len(getattr(got, side)) == len(getattr(expected, side))
        for a, b in zip(getattr(got, side), getattr(expected, side)):
            assert (a - b).abs().max().item() < ATOL
    assert ours(input_ids=ids, decoder_input_ids=dec).decoder_hidden_states is None
