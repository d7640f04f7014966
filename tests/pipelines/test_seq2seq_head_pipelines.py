"""The text-classification, token-classification and question-answering pipelines on encoder-decoder heads (T5,
BART): tiny random reference checkpoints with the MiniLM tokenizer copied in ([SEP] is the eos the classifiers
pool). text-/token-classification compare with transformers 5's pipelines; question-answering (removed in
transformers 5) with a brute-force search over the reference model's start/end logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tests.pipelines.conftest import (
    NER_LABELS,
    assert_close,
    copy_minilm_tokenizer,
    ours,
    reference_pipeline,
    span_candidates,
)

pytest.importorskip("transformers")

SPECIAL = dict(pad_token_id=0, eos_token_id=102, decoder_start_token_id=0)  # MiniLM's [PAD] / [SEP]
T5 = dict(vocab_size=30522, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
          dropout_rate=0.0, **SPECIAL)
BART = dict(vocab_size=30522, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=128,
            dropout=0.0, bos_token_id=101, forced_eos_token_id=102, **SPECIAL)
SENTIMENT = {"id2label": {0: "NEGATIVE", 1: "POSITIVE", 2: "NEUTRAL"}}
NER = {"id2label": dict(enumerate(NER_LABELS))}
TEXTS = ["I love this movie, it is wonderful!", "Terrible.", "Angela Merkel met Emmanuel Macron in Paris last week."]
QUESTION = "Where does Wolfgang live?"
CONTEXT = "My name is Wolfgang and I live in Berlin. Berlin is a big city with many museums and unbelievably good food."


def build(folder: Path, config_class: str, model_class: str, **config: Any) -> Path:
    import transformers

    torch.manual_seed(0)
    model = getattr(transformers, model_class)(getattr(transformers, config_class)(**config)).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a wrong wiring shows in the scores
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(folder)
    copy_minilm_tokenizer(folder)
    return folder


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_text_classification_matches_reference(family: str, tmp_path: Path) -> None:
    config_class, config = ("T5Config", T5) if family == "t5" else ("BartConfig", BART)
    path = build(tmp_path, config_class, f"{config_class[:-6]}ForSequenceClassification", **config, **SENTIMENT)
    mine = ours("text-classification", path)
    assert type(mine.model).__name__ == f"{config_class[:-6]}ForSequenceClassification"
    ref = reference_pipeline("text-classification", path)
    for kwargs in ({}, {"top_k": None}):
        assert_close(mine(TEXTS, batch_size=2, **kwargs), ref(TEXTS, **kwargs))


def test_token_classification_matches_reference(tmp_path: Path) -> None:
    path = build(tmp_path, "T5Config", "T5ForTokenClassification", **T5, **NER)
    mine = ours("token-classification", path)
    assert type(mine.model).__name__ == "T5ForTokenClassification"
    for strategy in ("none", "simple", "first"):
        ref = reference_pipeline("token-classification", path, aggregation_strategy=strategy)
        assert_close(mine(TEXTS, aggregation_strategy=strategy, batch_size=2), ref(TEXTS))


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_question_answering_matches_brute_force(family: str, tmp_path: Path) -> None:
    """The best spans equal an exhaustive search over the reference model's softmaxed start/end logits; the
    decoder reads the source shifted right, so there is one logit per source token."""
    config_class, config = ("T5Config", T5) if family == "t5" else ("BartConfig", BART)
    model_class = f"{config_class[:-6]}ForQuestionAnswering"
    path = build(tmp_path, config_class, model_class, **config)
    qa = ours("question-answering", path)
    assert type(qa.model).__name__ == model_class
    expected = brute_force(path, model_class, QUESTION, CONTEXT, top_k=3)
    got = qa(question=QUESTION, context=CONTEXT, top_k=3)
    for mine, exp in zip(got, expected):
        assert (mine["start"], mine["end"], mine["answer"]) == (exp["start"], exp["end"], exp["answer"])
        assert abs(mine["score"] - exp["score"]) < 1e-4
    batched = qa([{"question": QUESTION, "context": CONTEXT}, {"question": "Who?", "context": CONTEXT}], batch_size=2)
    assert (batched[0]["start"], batched[0]["end"]) == (expected[0]["start"], expected[0]["end"])


def brute_force(path: Path, model_class: str, question: str, context: str, top_k: int, max_answer_len: int = 15
                ) -> list[dict[str, Any]]:
    """transformers 4.57's question-answering algorithm, written out for one window: softmax over context tokens
    and [CLS], p(start) * p(end) for every span up to ``max_answer_len`` tokens, widened to whole words."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    model = getattr(transformers, model_class).from_pretrained(str(path)).eval()
    enc = tokenizer(question, context, return_offsets_mapping=True)
    ids, seq_ids, word_ids, offsets = enc["input_ids"], enc.sequence_ids(), enc.word_ids(), enc["offset_mapping"]
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([enc["attention_mask"]]))
    allowed = [i for i, s in enumerate(seq_ids) if s == 1 or ids[i] == tokenizer.cls_token_id]
    context_tokens = [i for i in allowed if seq_ids[i] == 1]
    candidates = span_candidates(out.start_logits[0], out.end_logits[0], allowed, context_tokens, word_ids, offsets,
                                 context, max_answer_len)
    return sorted(candidates, key=lambda c: -c["score"])[:top_k]
