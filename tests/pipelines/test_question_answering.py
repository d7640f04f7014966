"""question-answering. transformers 5 removed this pipeline, so the oracle here is a brute-force re-derivation of
transformers 4.57's algorithm written independently of ours: the reference model's logits for every window the
reference tokenizer makes, softmax over context tokens + CLS, every (start, end) pair scored by p(start) * p(end)
with end - start < max_answer_len, spans widened to whole words."""

from __future__ import annotations

import pytest
import torch
from tests.pipelines.conftest import cached, load_tokenizer, ours, span_candidates

from embrace.pipelines import PipelineInputError

QUESTION = "Where does Wolfgang live?"
CONTEXT = "My name is Wolfgang and I live in Berlin. Berlin is a big city with many museums and unbelievably good food."


def brute_force(path, question, context, *, max_seq_len=384, doc_stride=128, max_answer_len=15, top_k=1):
    from transformers import AutoTokenizer, BertForQuestionAnswering

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = BertForQuestionAnswering.from_pretrained(str(path)).eval()
    enc = tokenizer(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True)
    candidates = []
    for w in range(len(enc["input_ids"])):
        ids = enc["input_ids"][w]
        seq_ids, word_ids, offsets = enc.sequence_ids(w), enc.word_ids(w), enc["offset_mapping"][w]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([enc["token_type_ids"][w]]))
        allowed = [i for i, s in enumerate(seq_ids) if s == 1 or ids[i] == tokenizer.cls_token_id]

        context_tokens = [i for i in allowed if seq_ids[i] == 1]
        candidates += span_candidates(out.start_logits[0], out.end_logits[0], allowed, context_tokens, word_ids,
                                      offsets, context, max_answer_len)
    candidates.sort(key=lambda c: -c["score"])
    return candidates[:top_k], len(enc["input_ids"])


def close(mine, expected):
    assert mine["answer"] == expected["answer"] and (mine["start"], mine["end"]) == (expected["start"], expected["end"])
    assert abs(mine["score"] - expected["score"]) < 1e-4


def test_single_window(tiny_models):
    path = tiny_models["qa"]
    qa = ours("question-answering", path)
    expected, windows = brute_force(path, QUESTION, CONTEXT, top_k=3)
    assert windows == 1
    close(qa(question=QUESTION, context=CONTEXT), expected[0])
    for mine, exp in zip(qa(question=QUESTION, context=CONTEXT, top_k=3), expected):
        close(mine, exp)
    same = qa({"question": QUESTION, "context": CONTEXT})
    close(same, expected[0])
    short, _ = brute_force(path, QUESTION, CONTEXT, max_answer_len=2)
    close(qa(question=QUESTION, context=CONTEXT, max_answer_len=2), short[0])


def test_long_context_doc_stride(tiny_models):
    path = tiny_models["qa"]
    long_context = " ".join([CONTEXT] * 6)
    expected, windows = brute_force(path, QUESTION, long_context, max_seq_len=48, doc_stride=16, top_k=2)
    assert windows > 3
    qa = ours("question-answering", path, batch_size=4)
    got = qa(question=QUESTION, context=long_context, max_seq_len=48, doc_stride=16, top_k=2)
    for mine, exp in zip(got, expected):
        close(mine, exp)


def test_impossible_answer_and_lists(tiny_models):
    path = tiny_models["qa"]
    qa = ours("question-answering", path, batch_size=2)
    result = qa(question=QUESTION, context=CONTEXT, handle_impossible_answer=True, top_k=1000)
    assert any(r["answer"] == "" and r["start"] == r["end"] == 0 for r in result)
    assert [r["score"] for r in result] == sorted((r["score"] for r in result), reverse=True)
    many = qa(question=[QUESTION, "What is Berlin?"], context=CONTEXT)
    assert isinstance(many, list) and len(many) == 2 and all(isinstance(r, dict) for r in many)
    close(many[0], qa(question=QUESTION, context=CONTEXT))


@pytest.mark.parametrize("kwargs", [{"question": "", "context": CONTEXT}, {"question": "Who?", "context": " "},
                                    {"question": 3, "context": CONTEXT}, {"question": "Who?"},
                                    {"question": "Who?", "context": CONTEXT, "top_k": 0},
                                    {"question": "Who?", "context": CONTEXT, "max_answer_len": 0},
                                    {"question": "Who?", "context": CONTEXT, "doc_stride": 500}])
def test_bad_input(tiny_models, kwargs):
    qa = cached("question-answering", tiny_models["qa"])
    with pytest.raises(PipelineInputError):
        qa(**kwargs)


def test_tokenizer_loaded_helper(tiny_models):
    assert load_tokenizer(tiny_models["qa"]).cls_token_id is not None
