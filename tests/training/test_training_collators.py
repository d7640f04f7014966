"""Collators: same output tensors as the reference collators given the same features and tokenizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import asset

from embrace.training.collators import (
    CollatorError,
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    default_data_collator,
)


@pytest.fixture(scope="module")
def tokenizer():
    """Our tokenizer for our collators (the reference's until ours exists): they only use the HF interface."""
    try:
        from embrace.tokenization import AutoTokenizer
    except ImportError:
        from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(asset("minilm")))


@pytest.fixture(scope="module")
def ref_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(asset("minilm")))


def _features(tokenizer, texts, **extra):
    feats = []
    for i, text in enumerate(texts):
        enc = tokenizer(text)
        feat = {k: list(v) for k, v in enc.items()}
        for key, values in extra.items():
            feat[key] = values[i]
        feats.append(feat)
    return feats


TEXTS = ["a short one", "this sentence is a good deal longer than the first", "mid length text here"]


def _assert_same(ours: dict, ref) -> None:
    ref = dict(ref)
    assert sorted(ours) == sorted(ref)
    for key in ref:
        if ref[key] is None:
            assert ours[key] is None
            continue
        assert torch.equal(torch.as_tensor(ours[key]), torch.as_tensor(ref[key])), key
        assert torch.as_tensor(ours[key]).dtype == torch.as_tensor(ref[key]).dtype, key


@pytest.mark.parametrize("kwargs", [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 16}])
def test_with_padding_matches_reference(tokenizer, ref_tokenizer, kwargs):
    import transformers

    feats = _features(ref_tokenizer, TEXTS, label=[0, 2, 1])
    ours = DataCollatorWithPadding(tokenizer, **kwargs)([dict(f) for f in feats])
    ref = transformers.DataCollatorWithPadding(ref_tokenizer, **kwargs)([dict(f) for f in feats])
    _assert_same(ours, ref)
    assert ours["labels"].tolist() == [0, 2, 1]


@pytest.mark.parametrize("side", ["right", "left"])
def test_token_classification_matches_reference(tokenizer, ref_tokenizer, side):
    import transformers

    tokenizer.padding_side = ref_tokenizer.padding_side = side
    try:
        feats = _features(ref_tokenizer, TEXTS)
        for f in feats:
            f["labels"] = [i % 3 for i in range(len(f["input_ids"]))]
        ours = DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=4)([dict(f) for f in feats])
        ref = transformers.DataCollatorForTokenClassification(ref_tokenizer, pad_to_multiple_of=4)([dict(f) for f in feats])
        _assert_same(ours, ref)
    finally:
        tokenizer.padding_side = ref_tokenizer.padding_side = "right"


@pytest.mark.parametrize("kwargs", [{}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 20}])
def test_seq2seq_matches_reference(tokenizer, ref_tokenizer, kwargs):
    import transformers

    feats = _features(ref_tokenizer, TEXTS)
    for i, f in enumerate(feats):
        f["labels"] = list(range(5, 5 + 3 * (i + 1)))
    ours = DataCollatorForSeq2Seq(tokenizer, **kwargs)([dict(f) for f in feats])
    ref = transformers.DataCollatorForSeq2Seq(ref_tokenizer, **kwargs)([dict(f) for f in feats])
    _assert_same(ours, ref)


@pytest.mark.parametrize("as_dicts", [True, False])
@pytest.mark.parametrize("mlm", [True, False])
def test_language_modeling_matches_reference_seeded(tokenizer, ref_tokenizer, mlm, as_dicts):
    import transformers

    texts = TEXTS * 6
    feats = _features(ref_tokenizer, texts) if as_dicts else [ref_tokenizer(t)["input_ids"] for t in texts]
    kwargs = {"mlm": mlm, "seed": 7, "mlm_probability": 0.3, "pad_to_multiple_of": 4}
    ours_c = DataCollatorForLanguageModeling(tokenizer, **kwargs)
    ref_c = transformers.DataCollatorForLanguageModeling(ref_tokenizer, **kwargs)
    for _ in range(3):  # successive batches draw from the same private generator
        batch = [dict(f) for f in feats] if as_dicts else [list(f) for f in feats]
        ref_batch = [dict(f) for f in feats] if as_dicts else [list(f) for f in feats]
        _assert_same(ours_c(batch), ref_c(ref_batch))


def test_mlm_masks_only_non_special_tokens(tokenizer):
    feats = _features(tokenizer, TEXTS * 20)
    batch = DataCollatorForLanguageModeling(tokenizer, seed=0, mlm_probability=0.5)(feats)
    labels = batch["labels"]
    special = torch.isin(labels, torch.tensor(tokenizer.all_special_ids))
    assert not special.any()
    masked = labels != -100
    assert 0.35 < masked.sum() / (batch["attention_mask"].sum() - 2 * len(feats)) < 0.65
    assert (batch["input_ids"][masked] == tokenizer.mask_token_id).float().mean() > 0.6


def test_default_data_collator_matches_reference():
    from transformers import default_data_collator as ref

    cases = [
        [{"input_ids": [1, 2, 3], "label": 1, "text": "x"}, {"input_ids": [4, 5, 6], "label": 0, "text": "y"}],
        [{"x": np.ones(3, dtype=np.float32), "label": 0.5}, {"x": np.zeros(3, dtype=np.float32), "label": 1.5}],
        [{"x": torch.arange(2), "label_ids": [1, 2]}, {"x": torch.arange(2), "label_ids": [3, 4]}],
        [{"x": torch.arange(2), "label_ids": torch.tensor([1.0])}, {"x": torch.arange(2), "label_ids": torch.tensor([2.0])}],
    ]
    for feats in cases:
        _assert_same(default_data_collator(feats), ref(feats))


def test_collator_errors(tokenizer):
    class NoMask:
        mask_token_id = None
        pad_token_id = 0

    with pytest.raises(CollatorError, match="mlm=False"):
        DataCollatorForLanguageModeling(NoMask())
    with pytest.raises(CollatorError, match="must not exceed 1"):
        DataCollatorForLanguageModeling(tokenizer, mask_replace_prob=0.7, random_replace_prob=0.5)

    class NoPad:
        pad_token_id = None
        padding_side = "right"

    with pytest.raises(CollatorError, match="no pad token"):
        DataCollatorForLanguageModeling(NoPad(), mlm=False)([[1, 2], [3]])
