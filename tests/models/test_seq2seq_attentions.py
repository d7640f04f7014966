"""``output_attentions`` / ``output_hidden_states`` of the encoder-decoder families against transformers 5 (eager
attention, which is the reference implementation that returns weights): per layer, the softmax weights
(batch, heads, q, k) of the encoder, the decoder's self-attention and its cross-attention, within 1e-4; with a
KV cache too; and the fast path (no weights) gives the same logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tests.models import bart_family
from tests.models.t5_parity import one_torch_thread, padded_sources, save_reference  # noqa: F401

pytest.importorskip("transformers")

TOL = 1e-4
SIDES = ("encoder_attentions", "decoder_attentions", "cross_attentions", "encoder_hidden_states",
         "decoder_hidden_states")
FAMILIES = ["t5", "mt5", "bart", "mbart", "marian", "pegasus"]


@pytest.fixture(scope="module", params=FAMILIES)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, Any]:
    from embrace.models.auto import AutoModelForSeq2SeqLM

    family = request.param
    folder = tmp_path_factory.mktemp(family)
    if family == "t5":
        reference = save_reference(folder, {"feed_forward_proj": "relu"})
    elif family == "mt5":
        reference = save_reference(folder, {}, own_head=True, config_class="MT5Config",
                                   model_class="MT5ForConditionalGeneration")
    else:
        reference = bart_family.save_reference(family, folder)
    reference.set_attn_implementation("eager")  # sdpa returns no weights in the reference
    return family, reference, AutoModelForSeq2SeqLM.from_pretrained(folder)


def batch(family: str, reference: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded sources and decoder ids (batch of 2 or 3)."""
    if family in ("t5", "mt5"):
        ids, mask = padded_sources()
        return ids, mask, torch.randint(2, 99, (3, 6), generator=torch.Generator().manual_seed(5))
    config = reference.config
    ids, mask = bart_family.padded_source(config.pad_token_id, config.eos_token_id)
    return ids, mask, bart_family.decoder_ids(config.decoder_start_token_id)


def assert_same(got: Any, expected: Any, sides: tuple[str, ...] = SIDES) -> None:
    for side in sides:
        mine, theirs = getattr(got, side), getattr(expected, side)
        assert mine is not None and len(mine) == len(theirs) > 0, side
        for a, b in zip(mine, theirs):
            assert a.shape == b.shape, side
            assert (a - b).abs().max().item() < TOL, side


def test_attentions_and_hidden_states_match(pair: tuple[str, Any, Any]) -> None:
    family, reference, ours = pair
    ids, mask, dec = batch(family, reference)
    kwargs = dict(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, output_attentions=True,
                  output_hidden_states=True)
    with torch.no_grad():
        expected = reference(**kwargs)
        got = ours(**kwargs)
        fast = ours(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
    assert_same(got, expected)
    heads = got.encoder_attentions[0].shape[1]
    assert got.encoder_attentions[0].shape == (ids.shape[0], heads, ids.shape[1], ids.shape[1])
    assert got.cross_attentions[0].shape == (ids.shape[0], heads, dec.shape[1], ids.shape[1])
    # rows are distributions; padded keys get no weight
    assert torch.allclose(got.cross_attentions[-1].sum(-1), torch.ones(()), atol=1e-5)
    padded = (mask == 0)[:, None, None, :].expand_as(got.cross_attentions[0])
    assert got.cross_attentions[0][padded].abs().max().item() < 1e-6
    # the explicit-softmax path and the fast SDPA path agree, and the fast one returns no weights
    assert (got.logits - fast.logits).abs().max().item() < 1e-5
    assert fast.encoder_attentions is None and fast.decoder_attentions is None and fast.cross_attentions is None


def test_attentions_with_a_kv_cache(pair: tuple[str, Any, Any]) -> None:
    """A prefix then one token at a time: each step's weights cover every cached key, as the reference's do."""
    family, reference, ours = pair
    ids, mask, dec = batch(family, reference)
    with torch.no_grad():
        encoded = ours.get_encoder()(input_ids=ids, attention_mask=mask)
        ref_encoded = reference.get_encoder()(input_ids=ids, attention_mask=mask)
        cache = ref_cache = None
        for start, end in ((0, 3), (3, 4), (4, 5)):
            step = ours(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=dec[:, start:end],
                        past_key_values=cache, use_cache=True, output_attentions=True)
            ref_step = reference(encoder_outputs=ref_encoded, attention_mask=mask,
                                 decoder_input_ids=dec[:, start:end], past_key_values=ref_cache, use_cache=True,
                                 output_attentions=True)
            cache, ref_cache = step.past_key_values, ref_step.past_key_values
            assert_same(step, ref_step, ("decoder_attentions", "cross_attentions"))
            assert step.decoder_attentions[0].shape[-2:] == (end - start, end)


def test_config_flags_turn_outputs_on(pair: tuple[str, Any, Any]) -> None:
    family, reference, ours = pair
    ids, mask, dec = batch(family, reference)
    ours.config.output_attentions = True
    ours.config.output_hidden_states = True
    try:
        with torch.no_grad():
            got = ours(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
            off = ours(input_ids=ids, attention_mask=mask, decoder_input_ids=dec, output_attentions=False,
                       output_hidden_states=False)
    finally:
        ours.config.output_attentions = False
        ours.config.output_hidden_states = False
    assert got.encoder_attentions is not None and got.decoder_hidden_states is not None
    assert off.cross_attentions is None and off.encoder_hidden_states is None


def test_t5_beam_rows_sharing_an_encoder_row_give_per_row_weights(tmp_path: Path) -> None:
    """T5's decoder accepts one encoder row per group of decoder rows (generate()'s beams); the weights it returns
    are per decoder row and equal those of an explicitly repeated encoder output."""
    from embrace.models.auto import AutoModelForSeq2SeqLM

    save_reference(tmp_path, {})
    ours = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    ids, mask = padded_sources(batch=2)
    dec = torch.randint(2, 99, (4, 3), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        encoded = ours.get_encoder()(input_ids=ids, attention_mask=mask)
        shared = ours(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=dec, output_attentions=True)
        repeated = ours(encoder_outputs=(encoded.last_hidden_state.repeat_interleave(2, 0),),
                        attention_mask=mask.repeat_interleave(2, 0), decoder_input_ids=dec, output_attentions=True)
    for a, b in zip(shared.cross_attentions, repeated.cross_attentions):
        assert a.shape == b.shape == (4, ours.config.num_heads, 3, ids.shape[1])
        assert (a - b).abs().max().item() < 1e-6
