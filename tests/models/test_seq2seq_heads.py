"""Task heads on the encoder-decoder families against transformers 5 on tiny random checkpoints:
T5/mT5 ``ForSequenceClassification`` / ``ForTokenClassification`` / ``ForQuestionAnswering`` and BART/mBART
``ForQuestionAnswering`` / ``ForSequenceClassification``. Logits and losses within 1e-4, the Auto classes pick the
class, saves load both ways, a plain seq2seq-LM checkpoint loads with a fresh head."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.models.bart_family import COMMON, perturb
from tests.models.t5_parity import TINY, one_torch_thread  # noqa: F401

pytest.importorskip("transformers")

TOL = 1e-4
VOCAB = 99
# name -> (reference config class, head class (same name in both libraries), Auto class, config overrides)
T5_EXTRA: dict[str, Any] = {"feed_forward_proj": "gated-gelu", "num_labels": 3}
BART_EXTRA: dict[str, Any] = {"num_labels": 3}
MBART_EXTRA: dict[str, Any] = {"num_labels": 3, "scale_embedding": True, "decoder_start_token_id": 2}
HEADS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "t5-seq": ("T5Config", "T5ForSequenceClassification", "AutoModelForSequenceClassification", T5_EXTRA),
    "t5-token": ("T5Config", "T5ForTokenClassification", "AutoModelForTokenClassification", T5_EXTRA),
    "t5-qa": ("T5Config", "T5ForQuestionAnswering", "AutoModelForQuestionAnswering", {"num_labels": 2}),
    "mt5-seq": ("MT5Config", "MT5ForSequenceClassification", "AutoModelForSequenceClassification", T5_EXTRA),
    "mt5-token": ("MT5Config", "MT5ForTokenClassification", "AutoModelForTokenClassification", T5_EXTRA),
    "mt5-qa": ("MT5Config", "MT5ForQuestionAnswering", "AutoModelForQuestionAnswering", {}),
    "bart-qa": ("BartConfig", "BartForQuestionAnswering", "AutoModelForQuestionAnswering", BART_EXTRA),
    "mbart-qa": ("MBartConfig", "MBartForQuestionAnswering", "AutoModelForQuestionAnswering", MBART_EXTRA),
    "mbart-seq": ("MBartConfig", "MBartForSequenceClassification", "AutoModelForSequenceClassification",
                  MBART_EXTRA),
}


def reference_config(name: str) -> Any:
    import transformers

    config_class, _, _, extra = HEADS[name]
    base = TINY if config_class.endswith("T5Config") else COMMON
    return getattr(transformers, config_class)(**{**base, **extra})


def build_reference(name: str, folder: Path, seed: int = 0) -> Any:
    """The reference head model with seeded random weights (non-zero biases, perturbed norms), saved to ``folder``."""
    import transformers

    torch.manual_seed(seed)
    model = getattr(transformers, HEADS[name][1])(reference_config(name)).eval()
    perturb(model)
    model.save_pretrained(folder)
    return model


def inputs(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Two right-padded rows, each with exactly one eos (at its end), and their attention mask."""
    eos, pad = (1, 0) if "t5" in name else (2, 1)
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(3, VOCAB - 2, (2, 10), generator=gen)
    mask = torch.ones_like(ids)
    ids[0, -1] = eos
    ids[1, 6] = eos
    ids[1, 7:] = pad
    mask[1, 7:] = 0
    return ids, mask


def targets(name: str, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    if name.endswith("-seq"):
        return {"labels": torch.tensor([2, 0])}
    if name.endswith("-token"):
        labels = torch.randint(0, 3, ids.shape, generator=torch.Generator().manual_seed(4))
        labels[1, 7:] = -100
        return {"labels": labels}
    return {"start_positions": torch.tensor([2, 4]), "end_positions": torch.tensor([5, 40])}  # 40: out of range


def outputs_of(name: str) -> tuple[str, ...]:
    return ("start_logits", "end_logits") if name.endswith("-qa") else ("logits",)


@pytest.fixture(scope="module", params=sorted(HEADS))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, Any, Path]:
    from embrace.models import auto

    name = request.param
    folder = tmp_path_factory.mktemp(name)
    reference = build_reference(name, folder)
    ours = getattr(auto, HEADS[name][2]).from_pretrained(folder)
    return name, reference, ours, folder


def test_auto_class_loads_the_head_with_every_weight(pair: tuple[str, Any, Any, Path]) -> None:
    name, reference, ours, _ = pair
    assert type(ours).__name__ == HEADS[name][1]
    report = ours.loading_report
    assert report.missing_keys == [] and report.unexpected_keys == []
    assert ours.config.num_labels == reference.config.num_labels
    assert ours.get_input_embeddings().weight.shape == reference.get_input_embeddings().weight.shape


def test_logits_and_loss_match(pair: tuple[str, Any, Any, Path]) -> None:
    name, reference, ours, _ = pair
    ids, mask = inputs(name)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, **targets(name, ids))
        got = ours(input_ids=ids, attention_mask=mask, **targets(name, ids))
        plain = ours(input_ids=ids, attention_mask=mask)
    for field in outputs_of(name):
        assert getattr(got, field).shape == getattr(expected, field).shape
        assert (getattr(got, field) - getattr(expected, field)).abs().max().item() < TOL
        assert torch.equal(getattr(plain, field), getattr(got, field))
    assert abs(got.loss.item() - expected.loss.item()) < TOL
    assert plain.loss is None
    if name.startswith(("t5", "mt5")):
        with torch.no_grad():
            as_tuple = ours(input_ids=ids, attention_mask=mask, return_dict=False)
        assert torch.equal(as_tuple[0], getattr(plain, outputs_of(name)[0]))


def test_seq2seq_heads_return_the_body_outputs_and_attentions(pair: tuple[str, Any, Any, Path]) -> None:
    name, reference, ours, _ = pair
    if name.endswith("-token"):
        pytest.skip("the token head runs the encoder only")
    ids, mask = inputs(name)
    reference.set_attn_implementation("eager")  # the reference returns weights only from eager attention
    try:
        with torch.no_grad():
            expected = reference(input_ids=ids, attention_mask=mask, output_attentions=True,
                                 output_hidden_states=True)
            got = ours(input_ids=ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    finally:
        reference.set_attn_implementation("sdpa")
    assert (got.encoder_last_hidden_state - expected.encoder_last_hidden_state).abs().max().item() < TOL
    for field in ("encoder_attentions", "decoder_attentions", "cross_attentions", "decoder_hidden_states"):
        assert len(getattr(got, field)) == len(getattr(expected, field)) > 0
        for a, b in zip(getattr(got, field), getattr(expected, field)):
            assert (a - b).abs().max().item() < TOL, field


def test_our_save_loads_in_the_reference(pair: tuple[str, Any, Any, Path], tmp_path: Path) -> None:
    import transformers

    name, reference, ours, _ = pair
    ours.save_pretrained(tmp_path)
    reloaded = getattr(transformers, HEADS[name][1]).from_pretrained(tmp_path).eval()
    ids, mask = inputs(name)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask)
        got = reloaded(input_ids=ids, attention_mask=mask)
    for field in outputs_of(name):
        assert (getattr(got, field) - getattr(expected, field)).abs().max().item() < TOL
    from embrace.models import auto

    again = getattr(auto, HEADS[name][2]).from_pretrained(tmp_path)
    assert again.loading_report.missing_keys == [] and again.loading_report.unexpected_keys == []


@pytest.mark.parametrize("name", ["t5-qa", "t5-seq", "t5-token", "bart-qa"])
def test_a_seq2seq_lm_checkpoint_loads_with_a_fresh_head(name: str, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Fine-tuning starts from a ``*ForConditionalGeneration`` checkpoint: the body loads, the head is new (a
    warning names it), and the body equals the LM's."""
    import transformers

    from embrace.models import auto

    lm_class = "T5ForConditionalGeneration" if name.startswith("t5") else "BartForConditionalGeneration"
    torch.manual_seed(0)
    lm = getattr(transformers, lm_class)(reference_config(name)).eval()
    lm.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING):
        ours = getattr(auto, HEADS[name][2]).from_pretrained(tmp_path)
    head = {"t5-qa": "qa_outputs", "bart-qa": "qa_outputs", "t5-seq": "classification_head",
            "t5-token": "classifier"}[name]
    assert ours.loading_report.missing_keys and all(k.startswith(head) for k in ours.loading_report.missing_keys)
    assert head in caplog.text
    ids, mask = inputs(name)
    with torch.no_grad():
        encoder = ours.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        expected = lm.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        out = ours(input_ids=ids, attention_mask=mask)
    assert (encoder - expected).abs().max().item() < TOL
    assert all(torch.isfinite(getattr(out, f)).all() for f in outputs_of(name))


def test_our_head_checkpoint_loads_into_the_lm_body(tmp_path: Path) -> None:
    """A T5ForSequenceClassification save (``transformer.`` prefix) loads into T5Model with every body weight."""
    from embrace.models.t5 import T5ForSequenceClassification, T5Model

    build_reference("t5-seq", tmp_path)
    head = T5ForSequenceClassification.from_pretrained(tmp_path)
    body = T5Model.from_pretrained(tmp_path)
    assert body.loading_report is not None and body.loading_report.missing_keys == []
    assert torch.equal(body.shared.weight, head.transformer.shared.weight)


def test_fresh_models_tie_and_initialise(tmp_path: Path) -> None:
    from embrace.models.bart import BartConfig, BartForQuestionAnswering
    from embrace.models.t5 import (
        T5Config,
        T5ForQuestionAnswering,
        T5ForSequenceClassification,
        T5ForTokenClassification,
    )

    config = T5Config(**tiny_t5(num_labels=4))
    seq = T5ForSequenceClassification(config)
    assert seq.transformer.encoder.embed_tokens.weight is seq.transformer.shared.weight
    assert seq.classification_head.out_proj.weight.shape == (4, 32)
    assert torch.count_nonzero(seq.classification_head.dense.bias) == 0
    token = T5ForTokenClassification(config)
    assert token.transformer.encoder.embed_tokens.weight is token.transformer.shared.weight
    qa = T5ForQuestionAnswering(T5Config(**tiny_t5()))
    assert qa.decoder.embed_tokens.weight is qa.shared.weight and qa.qa_outputs.weight.shape == (2, 32)
    bart = BartForQuestionAnswering(BartConfig(**COMMON))  # BART's default config has 3 labels; QA forces 2
    assert bart.config.num_labels == 2 and bart.qa_outputs.weight.shape == (2, 32)
    seq.save_pretrained(tmp_path)
    assert "transformer.shared.weight" in _keys(tmp_path)
    assert "transformer.encoder.embed_tokens.weight" not in _keys(tmp_path)


def tiny_t5(**overrides: Any) -> dict[str, Any]:
    return {**TINY, **overrides}


def _keys(folder: Path) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return set(f.keys())


def test_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    from embrace.errors import InvalidConfigError
    from embrace.models.seq2seq import EosPoolingError
    from embrace.models.t5 import T5Config, T5ForQuestionAnswering, T5ForSequenceClassification

    seq = T5ForSequenceClassification(T5Config(**tiny_t5(num_labels=3))).eval()
    with pytest.raises(EosPoolingError, match="contain the eos"):
        seq(input_ids=torch.tensor([[5, 6, 7]]))
    with pytest.raises(EosPoolingError, match="same number"):
        seq(input_ids=torch.tensor([[5, 1, 1], [5, 6, 1]]))
    with pytest.raises(ValueError, match="input_ids"):
        seq(inputs_embeds=torch.zeros(1, 3, 32))
    qa = T5ForQuestionAnswering(T5Config(**tiny_t5(num_labels=3))).eval()
    with pytest.raises(InvalidConfigError, match="2 outputs"):
        qa(input_ids=torch.tensor([[5, 6, 1]]))
    with pytest.raises(ValueError, match="decoder_input_ids"):
        T5ForQuestionAnswering(T5Config(**tiny_t5()))(inputs_embeds=torch.zeros(1, 3, 32))
