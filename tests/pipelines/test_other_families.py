"""Pipelines on other encoder families: a tiny RoBERTa with the GPT-2 byte-level BPE vocabulary (no subword marker:
the token-classification word heuristic, ``<mask>``) and a tiny DistilBERT (no token_type_ids), vs transformers 5.23."""

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


def test_distilbert_sentiment_and_pairs(tmp_path):
    """DistilBERT (the default sentiment and QA family) takes no token_type_ids."""
    import shutil

    import torch
    from tests.conftest import asset
    from tests.pipelines.conftest import TOKENIZER_FILES
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(21)
    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=37,
                              id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    DistilBertForSequenceClassification(config).eval().save_pretrained(tmp_path)
    for name in TOKENIZER_FILES:
        if (asset("minilm") / name).exists():
            shutil.copy(asset("minilm") / name, tmp_path / name)
    ref = reference_pipeline("sentiment-analysis", tmp_path)
    mine = ours("sentiment-analysis", tmp_path, batch_size=2)
    texts = ["I love it.", "This is a much longer sentence that I do not like at all.", "Meh"]
    assert_close(mine(texts, top_k=None), ref(texts, top_k=None))
    assert_close(mine({"text": "A", "text_pair": "B b"}), ref({"text": "A", "text_pair": "B b"}))


def test_bart_mnli_zero_shot(tmp_path):
    """The reference's default zero-shot model is BART-MNLI: BartForSequenceClassification pools at the last eos."""
    import shutil

    import torch
    from tests.conftest import asset
    from tests.pipelines.conftest import TOKENIZER_FILES
    from transformers import BartConfig, BartForSequenceClassification

    torch.manual_seed(22)
    labels = {0: "contradiction", 1: "neutral", 2: "entailment"}
    config = BartConfig(vocab_size=30522, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=128,
                        pad_token_id=0, bos_token_id=101, eos_token_id=102, decoder_start_token_id=102,
                        id2label=labels, label2id={v: k for k, v in labels.items()})
    BartForSequenceClassification(config).eval().save_pretrained(tmp_path)
    for name in TOKENIZER_FILES:
        if (asset("minilm") / name).exists():
            shutil.copy(asset("minilm") / name, tmp_path / name)
    ref = reference_pipeline("zero-shot-classification", tmp_path)
    mine = ours("zero-shot-classification", tmp_path, batch_size=2)
    text = "I have a problem with my iphone that needs to be resolved asap!!"
    candidate_labels = ["urgent", "not urgent", "phone"]
    assert_close(mine(text, candidate_labels=candidate_labels), ref(text, candidate_labels=candidate_labels))
    assert_close(mine([text, "Short."], candidate_labels, multi_label=True),
                 ref([text, "Short."], candidate_labels, multi_label=True))
