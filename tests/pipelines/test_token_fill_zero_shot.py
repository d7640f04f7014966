"""token-classification, fill-mask and zero-shot-classification against transformers 5.23's pipelines."""

from __future__ import annotations

import pytest
from tests.pipelines.conftest import assert_close, cached, ours, reference_pipeline

from embrace.pipelines import PipelineInputError

NER_TEXTS = ["My name is Wolfgang and I live in Berlin with Huggingface engineers.",
             "Angela Merkel visited Washingtonville yesterday, unbelievably.", "Hi"]


def test_token_classification_strategies(tiny_models):
    ref = reference_pipeline("ner", tiny_models["token"])
    mine = ours("ner", tiny_models["token"], batch_size=2)
    for strategy in ("none", "simple", "first", "average", "max"):
        expected = ref(NER_TEXTS, aggregation_strategy=strategy, ignore_labels=[])
        assert expected[0], "the random model should predict some entities"
        assert_close(mine(NER_TEXTS, aggregation_strategy=strategy, ignore_labels=[]), expected, where=strategy)
    assert_close(mine(NER_TEXTS[0]), ref(NER_TEXTS[0]), where="default")
    assert_close(mine(NER_TEXTS[1], ignore_labels=["O", "I-PER"]), ref(NER_TEXTS[1], ignore_labels=["O", "I-PER"]))


def test_token_classification_stride(tiny_models):
    ref = reference_pipeline("token-classification", tiny_models["token"], aggregation_strategy="first")
    mine = ours("token-classification", tiny_models["token"], aggregation_strategy="first", batch_size=4)
    ref.tokenizer.model_max_length = mine.tokenizer.model_max_length = 16
    long_text = " ".join(NER_TEXTS[:2] * 2)
    expected = ref(long_text, stride=4, ignore_labels=[])
    assert_close(mine(long_text, stride=4, ignore_labels=[]), expected)


def test_token_classification_errors(tiny_models):
    mine = cached("token-classification", tiny_models["token"])
    with pytest.raises(PipelineInputError):
        mine("x", aggregation_strategy="loudest")
    with pytest.raises(PipelineInputError, match="stride"):
        mine("x", stride=2)  # aggregation none cannot merge windows
    with pytest.raises(PipelineInputError):
        mine("")
    with pytest.raises(PipelineInputError):
        mine(["ok", 5])


def test_fill_mask(tiny_models):
    ref = reference_pipeline("fill-mask", tiny_models["mlm"])
    mine = ours("fill-mask", tiny_models["mlm"], batch_size=2)
    one = "Paris is the [MASK] of France."
    two = "The [MASK] sat on the [MASK] all day."
    assert_close(mine(one), ref(one), where="one mask")
    assert_close(mine(two, top_k=3), ref(two, top_k=3), where="two masks")
    assert_close(mine([one, two, one]), ref([one, two, one]), where="batch")
    assert_close(mine([one]), ref([one]), where="list of one")
    targets = ["capital", "city", "zzzqqq"]
    assert_close(mine(one, targets=targets), ref(one, targets=targets), where="targets")
    assert_close(mine(one, targets="city", top_k=4), ref(one, targets="city", top_k=4), where="one target")


def test_fill_mask_errors(tiny_models):
    mine = cached("fill-mask", tiny_models["mlm"])
    with pytest.raises(PipelineInputError, match="mask"):
        mine("no mask here")
    for bad in ({"top_k": 0}, {"targets": 3}):
        with pytest.raises(PipelineInputError):
            mine("a [MASK].", **bad)


def test_zero_shot(tiny_models):
    ref = reference_pipeline("zero-shot-classification", tiny_models["nli"])
    mine = ours("zero-shot-classification", tiny_models["nli"], batch_size=3)
    text = "I have a problem with my iphone that needs to be resolved asap!!"
    labels = ["urgent", "not urgent", "phone", "tablet", "computer"]
    assert_close(mine(text, candidate_labels=labels), ref(text, candidate_labels=labels))
    assert_close(mine(text, labels, multi_label=True), ref(text, labels, multi_label=True))
    assert_close(mine([text, "Short one."], candidate_labels="sports, politics"),
                 ref([text, "Short one."], candidate_labels="sports, politics"))
    template = "The topic is {}."
    assert_close(mine(text, candidate_labels=["phone"], hypothesis_template=template),
                 ref(text, candidate_labels=["phone"], hypothesis_template=template))


def test_zero_shot_errors(tiny_models):
    mine = cached("zero-shot-classification", tiny_models["nli"])
    with pytest.raises(PipelineInputError, match="candidate_labels"):
        mine("text")
    with pytest.raises(PipelineInputError):
        mine("text", candidate_labels=[])
    with pytest.raises(PipelineInputError, match="hypothesis_template"):
        mine("text", candidate_labels=["a"], hypothesis_template="no slot")
