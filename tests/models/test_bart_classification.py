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


def test_zero_shot_pipeline_matches_reference(tmp_path: Path) -> None:
    """bart-large-mnli's use: zero-shot classification through the pipeline, on a tiny BART with the real GPT-2/BART
    byte-level BPE vocabulary; labels and scores equal the reference pipeline's."""
    import json

    import transformers
    from tests.conftest import asset

    from embrace.pipelines import pipeline

    files = asset("gpt2_bpe")
    vocab = json.loads((files / "encoder.json").read_text(encoding="utf-8"))
    merges = [tuple(line.split()) for line in (files / "vocab.bpe").read_text(encoding="utf-8").splitlines()[1:]
              if line.strip()]
    tokenizer = transformers.BartTokenizer(vocab=vocab, merges=merges)
    tokenizer.save_pretrained(tmp_path)
    labels = {"contradiction": 0, "neutral": 1, "entailment": 2}
    config = reference_config("bart", vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                              init_std=0.3, label2id=labels, id2label={v: k for k, v in labels.items()})
    torch.manual_seed(0)
    model = transformers.BartForSequenceClassification(config).eval()
    perturb(model)
    model.save_pretrained(tmp_path)
    texts, candidates = ["The new phone has a great camera", "Stocks fell sharply today"], ["tech", "money", "sport"]
    reference = transformers.pipeline("zero-shot-classification", model=str(tmp_path))
    ours = pipeline("zero-shot-classification", model=str(tmp_path))
    for multi_label in (False, True):
        expected = reference(texts, candidates, multi_label=multi_label)
        got = ours(texts, candidates, multi_label=multi_label)
        for g, e in zip(got, expected):
            assert g["labels"] == e["labels"]
            assert g["scores"] == pytest.approx(e["scores"], abs=1e-5)


def test_mbart_classification_matches_reference(tmp_path: Path) -> None:
    import transformers

    from embrace.models.auto import AutoModelForSequenceClassification

    torch.manual_seed(0)
    reference = transformers.MBartForSequenceClassification(reference_config("mbart", num_labels=2)).eval()
    perturb(reference)
    reference.save_pretrained(tmp_path)
    ours = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    ids, mask = padded_source(reference.config.pad_token_id, reference.config.eos_token_id)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        got = ours(input_ids=ids, attention_mask=mask).logits
    assert type(ours).__name__ == "MBartForSequenceClassification"
    assert (got - expected).abs().max().item() < 1e-4
