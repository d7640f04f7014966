"""``question-answering``: the span of a context that answers a question (extractive QA).

>>> qa = pipeline("question-answering", model="distilbert/distilbert-base-cased-distilled-squad")
>>> qa(question="Where do I live?", context="My name is Wolfgang and I live in Berlin.")
{'score': 0.98, 'start': 34, 'end': 40, 'answer': 'Berlin'}

transformers 5 removed this pipeline; this follows transformers 4.57's algorithm: the context is cut into windows of
``max_seq_len`` tokens overlapping by ``doc_stride``; in each window start/end logits are softmaxed over the
context tokens (CLS kept in the softmax, then excluded); a span's score is p(start) * p(end) with
``end - start < max_answer_len``; span ends snap to word boundaries (``align_to_words``). With
``handle_impossible_answer=True`` the empty answer competes with score p(CLS start) * p(CLS end).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from embrace.pipelines.base import Pipeline, check_text, check_top_k
from embrace.pipelines.errors import PipelineInputError


class QuestionAnsweringPipeline(Pipeline):
    task = "question-answering"
    sequence_outputs = ("start_logits", "end_logits")

    def _sanitize_parameters(self, top_k: int | None = None, doc_stride: int | None = None,
                             max_answer_len: int | None = None, max_seq_len: int | None = None,
                             max_question_len: int | None = None, handle_impossible_answer: bool | None = None,
                             align_to_words: bool | None = None, topk: int | None = None,
                             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pre: dict[str, Any] = {}
        post: dict[str, Any] = {}
        for name, value in (("doc_stride", doc_stride), ("max_seq_len", max_seq_len)):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise PipelineInputError(f"{name} must be a positive integer, got {value!r}")
                pre[name] = value
        if max_question_len is not None:
            pre["max_question_len"] = max_question_len
        top_k = top_k if top_k is not None else topk
        if top_k is not None:
            post["top_k"] = check_top_k(top_k, self.task)
        if max_answer_len is not None:
            if isinstance(max_answer_len, bool) or not isinstance(max_answer_len, int) or max_answer_len < 1:
                raise PipelineInputError(f"max_answer_len must be an integer >= 1, got {max_answer_len!r}")
            post["max_answer_len"] = max_answer_len
        if handle_impossible_answer is not None:
            post["handle_impossible_answer"] = bool(handle_impossible_answer)
        if align_to_words is not None:
            post["align_to_words"] = bool(align_to_words)
        return pre, {}, post

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``qa(question=..., context=...)``, ``qa({"question": ..., "context": ...})``, a list of such dicts, or
        ``question=[...], context=[...]`` (paired, or one context for every question)."""
        question = kwargs.pop("question", None)
        context = kwargs.pop("context", None)
        if args and (question is not None or context is not None):
            raise PipelineInputError("question-answering: pass either an input dict or question=/context=, not both")
        if len(args) == 2:
            question, context = args
        elif len(args) == 1:
            return super().__call__(args[0], **kwargs)
        elif args:
            raise PipelineInputError("question-answering takes question=..., context=... or {'question', 'context'}")
        if question is None or context is None:
            raise PipelineInputError("question-answering needs both question= and context=")
        if isinstance(question, list):
            contexts = context if isinstance(context, list) else [context] * len(question)
            if len(contexts) != len(question):
                raise PipelineInputError(f"got {len(question)} questions but {len(contexts)} contexts")
            return super().__call__([{"question": q, "context": c} for q, c in zip(question, contexts)], **kwargs)
        return super().__call__({"question": question, "context": context}, **kwargs)

    def preprocess(self, item: Any, doc_stride: int | None = None, max_seq_len: int | None = None,
                   max_question_len: int = 64) -> list[dict[str, Any]]:
        if not isinstance(item, dict) or "question" not in item or "context" not in item:
            raise PipelineInputError('question-answering inputs are {"question": "...", "context": "..."} dicts')
        question = check_text(item["question"], self.task, "question")
        context = check_text(item["context"], self.task, "context")
        if max_seq_len is None:
            max_seq_len = min(getattr(self.tokenizer, "model_max_length", 384) or 384, 384)
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise PipelineInputError(f"doc_stride ({doc_stride}) must not exceed max_seq_len ({max_seq_len})")
        question_first = getattr(self.tokenizer, "padding_side", "right") == "right"
        encoded = self.tokenizer(
            text=question if question_first else context, text_pair=context if question_first else question,
            padding="do_not_pad", truncation="only_second" if question_first else "only_first",
            max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True, return_overflowing_tokens=True,
            return_offsets_mapping=True, return_special_tokens_mask=True)
        context_index = 1 if question_first else 0
        cls_id = getattr(self.tokenizer, "cls_token_id", None)
        chunks = []
        for span in range(len(encoded["input_ids"])):
            ids = list(encoded["input_ids"][span])
            sequence_ids = encoded.sequence_ids(span)
            # p_mask: 1 = cannot be part of the answer (question, special tokens); CLS stays 0 for "no answer"
            p_mask = [int(s != context_index) for s in sequence_ids]
            if cls_id is not None:
                for i, token in enumerate(ids):
                    if token == cls_id:
                        p_mask[i] = 0
            chunk: dict[str, Any] = {"input_ids": torch.tensor(ids)}
            for key in ("attention_mask", "token_type_ids"):
                if key in encoded:
                    chunk[key] = torch.tensor(list(encoded[key][span]))
            chunk.update(p_mask=np.array(p_mask), offsets=[tuple(o) for o in encoded["offset_mapping"][span]],
                         sequence_ids=sequence_ids, word_ids=encoded.word_ids(span), context=context,
                         context_index=context_index)
            chunks.append(chunk)
        return chunks

    def postprocess(self, chunk_outputs: list[dict[str, Any]], top_k: int = 1, handle_impossible_answer: bool = False,
                    max_answer_len: int = 15, align_to_words: bool = True) -> Any:
        min_null_score = 1000000.0
        answers = []
        for out in chunk_outputs:
            attention = out["attention_mask"].numpy()[None] if "attention_mask" in out else None
            starts, ends, scores, min_null_score = select_starts_ends(
                out["start_logits"].numpy()[None], out["end_logits"].numpy()[None], out["p_mask"][None], attention,
                min_null_score, top_k, handle_impossible_answer, max_answer_len)
            for s, e, score in zip(starts, ends, scores):
                start_char, end_char = char_span(out, int(s), int(e), align_to_words)
                answers.append({"score": float(score), "start": start_char, "end": end_char,
                                "answer": out["context"][start_char:end_char]})
        if handle_impossible_answer:
            answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers


def select_starts_ends(start: np.ndarray, end: np.ndarray, p_mask: np.ndarray, attention_mask: np.ndarray | None,
                       min_null_score: float, top_k: int, handle_impossible_answer: bool, max_answer_len: int,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Best spans of one window. ``start``/``end`` logits and ``p_mask`` are (1, seq)."""
    allowed = np.abs(np.asarray(p_mask) - 1)
    if attention_mask is not None:
        allowed = allowed & attention_mask
    masked = allowed == 0
    start = np.where(masked, -10000.0, start)
    end = np.where(masked, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    if handle_impossible_answer:
        min_null_score = min(min_null_score, float(start[0, 0] * end[0, 0]))
    start[0, 0] = end[0, 0] = 0.0  # the CLS position is the "no answer" slot, never a span
    starts, ends, scores = decode_spans(start, end, top_k, max_answer_len, allowed)
    return starts, ends, scores, min_null_score


def decode_spans(start: np.ndarray, end: np.ndarray, top_k: int, max_answer_len: int, allowed: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``top_k`` (start, end) pairs by p(start) * p(end), with start <= end < start + max_answer_len."""
    outer = np.matmul(start[:, :, None], end[:, None, :])
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    flat = candidates.flatten()
    if top_k == 1:
        order = np.array([np.argmax(flat)])
    elif len(flat) < top_k:
        order = np.argsort(-flat)
    else:
        best = np.argpartition(-flat, top_k)[0:top_k]
        order = best[np.argsort(-flat[best])]
    starts, ends = np.unravel_index(order, candidates.shape)[1:]
    # as in the reference, positions come from allowed.nonzero() of the (1, seq) array: its row indices (all 0)
    # are in the set too, so position 0 always passes this filter
    positions = np.concatenate(allowed.nonzero())
    keep = np.isin(starts, positions) & np.isin(ends, positions)
    starts, ends = starts[keep], ends[keep]
    return starts, ends, candidates[0, starts, ends]


def char_span(chunk: dict[str, Any], s: int, e: int, align_to_words: bool) -> tuple[int, int]:
    """Character span in the context of tokens ``s..e``; widened to whole words when ``align_to_words``."""
    offsets = chunk["offsets"]
    if align_to_words:
        word_ids, sequence_ids = chunk["word_ids"], chunk["sequence_ids"]
        start_word, end_word = word_ids[s], word_ids[e]
        if start_word is not None and end_word is not None:
            seq = chunk["context_index"]
            start_chars = [offsets[i][0] for i, (w, q) in enumerate(zip(word_ids, sequence_ids))
                           if w == start_word and q == seq]
            end_chars = [offsets[i][1] for i, (w, q) in enumerate(zip(word_ids, sequence_ids))
                         if w == end_word and q == seq]
            if start_chars and end_chars:
                return int(start_chars[0]), int(end_chars[-1])
    return int(offsets[s][0]), int(offsets[e][1])
