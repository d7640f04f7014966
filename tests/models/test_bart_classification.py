"""BartForSequenceClassification (the bart-large-mnli / zero-shot head) against the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tests.models.bart_family import padded_source, perturb, reference_config

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    import transformers

    from embrace.models.auto import AutoModelForSequenceClassification

    folder = tmp_path_factory.mktemp("bart-cls")
    torch.manual_seed(0)
    config = reference_config("bart", id2label={0: "contradiction", 1: "neutral", 2: "entailment"})
    reference = transformers.BartForSequenceClassification(config).eval()
    perturb(reference)
    reference.save_pretrained(folder)
    return reference, AutoModelForSequenceClassification.from_pretrained(folder), folder


def test_logits_and_loss_match(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    ids, mask = padded_source(reference.config.pad_token_id, reference.config.eos_token_id)
    ids[1, -5] = 7  # one eos per row (the padded row ends earlier)
    ids[1, -6] = reference.config.eos_token_id
    ids[1, -5:] = reference.config.pad_token_id
    mask[1, -5:] = 0
    labels = torch.tensor([2, 0])
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels)
        got = ours(input_ids=ids, attention_mask=mask, labels=labels)
    assert type(ours).__name__ == "BartForSequenceClassification"
    assert ours.config.id2label[2] == "entailment"
    assert got.logits.shape == (2, 3)
    assert (got.logits - expected.logits).abs().max().item() < 1e-4
    assert abs(got.loss.item() - expected.loss.item()) < 1e-4


def test_round_trip_into_reference(pair: tuple[Any, Any, Path], tmp_path: Path) -> None:
    import transformers

    reference, ours, _ = pair
    ours.save_pretrained(tmp_path)
    reloaded = transformers.BartForSequenceClassification.from_pretrained(tmp_path).eval()
    ids, mask = padded_source(reference.config.pad_token_id, reference.config.eos_token_id)
    ids[1, -5] = 5  # move row 1's eos one step left: pooling must follow it
    ids[1, -6] = reference.config.eos_token_id
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-5)


def test_rows_without_eos_or_with_different_counts_are_rejected(pair: tuple[Any, Any, Path]) -> None:
    from embrace.models.bart import EosPoolingError

    _, ours, _ = pair
    with pytest.raises(EosPoolingError, match="contain the eos"):
        ours(input_ids=torch.tensor([[0, 5, 6, 7]]))
    with pytest.raises(EosPoolingError, match="same number"):
        ours(input_ids=torch.tensor([[0, 5, 2, 2], [0, 5, 6, 2]]))
    with pytest.raises(ValueError, match="input_ids"):
        ours(inputs_embeds=torch.zeros(1, 4, 32))
