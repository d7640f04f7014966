"""Pipelines on a tiny RoBERTa with the GPT-2 byte-level BPE vocabulary (no subword marker: the token-classification
word heuristic, ``<mask>``, ``Ġ``-prefixed tokens), against transformers 5.23."""

from __future__ import annotations

import pytest
from tests.pipelines.conftest import NER_LABELS, assert_close, build_tiny_roberta, ours, reference_pipeline


@pytest.fixture(scope="module")
def roberta_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_roberta")
    return {
        "token": build_tiny_roberta(root / "tok", "RobertaForTokenClassification", 11,
                                    id2label=dict(enumerate(NER_LABELS)),
                                    label2id={n: i for i, n in enumerate(NER_LABELS)}),
        "mlm": build_tiny_roberta(root / "mlm", "RobertaForMaskedLM", 12),
    }


def test_roberta_ner_and_fill_mask(roberta_paths):
    text = "Angela Merkel visited Washingtonville yesterday, unbelievably."
    ref = reference_pipeline("ner", roberta_paths["token"])
    mine = ours("ner", roberta_paths["token"], batch_size=2)
    for strategy in ("none", "simple", "first", "average", "max"):
        expected = ref([text, "Hi"], aggregation_strategy=strategy, ignore_labels=[])
        assert len(expected[0]) >= (8 if strategy == "none" else 1)  # real tokens, not one unknown token
        assert_close(mine([text, "Hi"], aggregation_strategy=strategy, ignore_labels=[]), expected, where=strategy)
    ref_mlm = reference_pipeline("fill-mask", roberta_paths["mlm"])
    mine_mlm = ours("fill-mask", roberta_paths["mlm"])
    masked = "Paris is the <mask> of France."
    assert_close(mine_mlm(masked, top_k=3), ref_mlm(masked, top_k=3))
    assert_close(mine_mlm(masked, targets=[" capital", "city"]), ref_mlm(masked, targets=[" capital", "city"]))
