"""``token-classification`` (alias ``ner``): a label per token, optionally grouped into entities.

>>> ner = pipeline("ner", model="dbmdz/bert-large-cased-finetuned-conll03-english", aggregation_strategy="simple")
>>> ner("My name is Wolfgang and I live in Berlin")
[{'entity_group': 'PER', 'score': 0.99, 'word': 'Wolfgang', 'start': 11, 'end': 19}, {'entity_group': 'LOC', ...}]

``aggregation_strategy``: ``none`` (one dict per token, with ``entity`` and ``index``), ``simple`` (adjacent tokens
with the same B-/I- tag grouped), or, for fast tokenizers with word information, ``first`` / ``average`` / ``max``
(all tokens of a word get one label: the first token's, the average scores' best, or the most confident token's).
``ignore_labels`` (default ``["O"]``) drops those labels. ``stride`` splits long texts into overlapping windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from embrace.pipelines.base import Pipeline, check_text
from embrace.pipelines.errors import PipelineInputError

STRATEGIES = ("none", "simple", "first", "average", "max")


class TokenClassificationPipeline(Pipeline):
    task = "token-classification"
    sequence_outputs = ("logits",)

    def _sanitize_parameters(self, ignore_labels: list[str] | None = None, aggregation_strategy: str | None = None,
                             stride: int | None = None, offset_mapping: Any = None,
                             grouped_entities: Any = None, ignore_subwords: Any = None,
                             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        pre: dict[str, Any] = {}
        post: dict[str, Any] = {}
        if grouped_entities is not None or ignore_subwords is not None:
            raise PipelineInputError('grouped_entities/ignore_subwords were removed; use aggregation_strategy="simple" '
                                     'or "first"')
        if offset_mapping is not None:
            pre["offset_mapping"] = offset_mapping
        if aggregation_strategy is not None:
            name = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
            if name not in STRATEGIES:
                raise PipelineInputError(f"aggregation_strategy must be one of {STRATEGIES}, got {aggregation_strategy!r}")
            post["aggregation_strategy"] = name
        if ignore_labels is not None:
            if isinstance(ignore_labels, str) or not all(isinstance(x, str) for x in ignore_labels):
                raise PipelineInputError("ignore_labels must be a list of label names, e.g. ['O']")
            post["ignore_labels"] = list(ignore_labels)
        if stride is not None:
            max_length = getattr(self.tokenizer, "model_max_length", None) or 512
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0 or stride >= max_length:
                raise PipelineInputError(f"stride must be an integer in [0, model_max_length={max_length}), got {stride!r}")
            if post.get("aggregation_strategy", self._default_strategy()) == "none":
                raise PipelineInputError('stride needs an aggregation_strategy other than "none" to merge the windows')
            pre["stride"] = stride
        return pre, {}, post

    def _default_strategy(self) -> str:
        defaults: tuple[dict[str, Any], ...] = getattr(self, "_default_params", ({}, {}, {}))
        return str(defaults[2].get("aggregation_strategy", "none"))

    def preprocess(self, item: Any, offset_mapping: Any = None, stride: int | None = None) -> list[dict[str, Any]]:
        sentence = check_text(item, self.task)
        max_length = getattr(self.tokenizer, "model_max_length", None)
        kwargs: dict[str, Any] = {"truncation": bool(max_length and max_length > 0), "return_special_tokens_mask": True,
                                  "return_offsets_mapping": bool(getattr(self.tokenizer, "is_fast", True))}
        if stride is not None:
            kwargs.update(return_overflowing_tokens=True, padding=True, stride=stride)
        encoded = self.tokenizer(sentence, return_tensors="pt", **kwargs)
        chunks = []
        for i in range(len(encoded["input_ids"])):
            chunk = {k: encoded[k][i] for k in list(encoded.keys()) if k != "overflow_to_sample_mapping"}
            if offset_mapping is not None:
                chunk["offset_mapping"] = torch.as_tensor(offset_mapping)
            if stride is not None:  # windows were padded to one length: keep only real tokens
                keep = int(chunk["attention_mask"].sum())
                chunk = {k: v[:keep] for k, v in chunk.items()}
            chunk["sentence"] = sentence
            chunks.append(chunk)
        return chunks

    def postprocess(self, chunk_outputs: list[dict[str, Any]], aggregation_strategy: str = "none",
                    ignore_labels: list[str] | None = None) -> list[dict[str, Any]]:
        ignore = ["O"] if ignore_labels is None else ignore_labels
        entities: list[dict[str, Any]] = []
        for out in chunk_outputs:
            scores = torch.softmax(out["logits"].float(), dim=-1).numpy()
            pre = self.gather_pre_entities(out["sentence"], out["input_ids"], scores, out.get("offset_mapping"),
                                           out["special_tokens_mask"], aggregation_strategy)
            for entity in self.aggregate(pre, aggregation_strategy):
                if entity.get("entity") not in ignore and entity.get("entity_group") not in ignore:
                    entities.append(entity)
        if len(chunk_outputs) > 1:
            entities = merge_overlapping(entities)
        for entity in entities:
            entity["score"] = float(entity["score"])
        return entities

    # ---- the reference's algorithm, step by step ------------------------------------------------------------------
    def gather_pre_entities(self, sentence: str, input_ids: torch.Tensor, scores: np.ndarray, offsets: Any,
                            special_tokens_mask: torch.Tensor, strategy: str) -> list[dict[str, Any]]:
        """One record per non-special token: its text, scores, character span and whether it continues a word."""
        prefix = _subword_prefix(self.tokenizer)
        unk_id = getattr(self.tokenizer, "unk_token_id", None)
        pre = []
        for idx, token_scores in enumerate(scores):
            if int(special_tokens_mask[idx]):
                continue
            token_id = int(input_ids[idx])
            word = self.tokenizer.convert_ids_to_tokens(token_id)
            start: int | None = None
            end: int | None = None
            is_subword = False
            if offsets is not None:
                start, end = (int(x) for x in offsets[idx])
                word_ref = sentence[start:end]
                if prefix:
                    is_subword = len(word) != len(word_ref)
                else:
                    # no subword marker (byte-level BPE, SentencePiece): a token glued to the previous text continues it
                    is_subword = start > 0 and " " not in sentence[start - 1:start + 1]
                if token_id == unk_id:
                    word = word_ref
                    is_subword = False
            pre.append({"word": word, "scores": token_scores, "start": start, "end": end, "index": idx,
                        "is_subword": is_subword})
        return pre

    def aggregate(self, pre: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        id2label = self.model.config.id2label
        if strategy in ("none", "simple"):
            entities = []
            for p in pre:
                best = int(p["scores"].argmax())
                entities.append({"entity": id2label[best], "score": p["scores"][best], "index": p["index"],
                                 "word": p["word"], "start": p["start"], "end": p["end"]})
        else:
            entities = self.aggregate_words(pre, strategy)
        if strategy == "none":
            return entities
        return self.group_entities(entities)

    def aggregate_words(self, pre: list[dict[str, Any]], strategy: str) -> list[dict[str, Any]]:
        """Force one label per word: subword tokens join the word that precedes them."""
        words: list[list[dict[str, Any]]] = []
        for p in pre:
            if words and p["is_subword"]:
                words[-1].append(p)
            else:
                words.append([p])
        return [self.aggregate_word(group, strategy) for group in words]

    def aggregate_word(self, tokens: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
        id2label = self.model.config.id2label
        if strategy == "first":
            scores = tokens[0]["scores"]
        elif strategy == "max":
            scores = max(tokens, key=lambda t: t["scores"].max())["scores"]
        else:  # average
            scores = np.nanmean(np.stack([t["scores"] for t in tokens]), axis=0)
        best = int(scores.argmax())
        return {"entity": id2label[best], "score": scores[best],
                "word": self.tokenizer.convert_tokens_to_string([t["word"] for t in tokens]),
                "start": tokens[0]["start"], "end": tokens[-1]["end"]}

    def group_entities(self, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Adjacent entities with the same tag join unless the next one starts a new entity (``B-``)."""
        groups: list[list[dict[str, Any]]] = []
        for entity in entities:
            if groups:
                bi, tag = split_tag(entity["entity"])
                _, last_tag = split_tag(groups[-1][-1]["entity"])
                if tag == last_tag and bi != "B":
                    groups[-1].append(entity)
                    continue
            groups.append([entity])
        return [self.group_sub_entities(group) for group in groups]

    def group_sub_entities(self, entities: list[dict[str, Any]]) -> dict[str, Any]:
        return {"entity_group": entities[0]["entity"].split("-", 1)[-1],
                "score": float(np.nanmean([e["score"] for e in entities])),
                "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in entities]),
                "start": entities[0]["start"], "end": entities[-1]["end"]}


def split_tag(name: str) -> tuple[str, str]:
    """``B-PER`` -> (B, PER); ``I-PER`` -> (I, PER); a label without prefix counts as inside: (I, label)."""
    if name.startswith(("B-", "I-")):
        return name[0], name[2:]
    return "I", name


def merge_overlapping(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Windows overlap: among entities whose spans overlap keep the longest (then the most confident)."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda e: e["start"])
    merged = []
    previous = entities[0]
    for entity in entities:
        if previous["start"] <= entity["start"] < previous["end"]:
            length, previous_length = entity["end"] - entity["start"], previous["end"] - previous["start"]
            if length > previous_length or (length == previous_length and entity["score"] > previous["score"]):
                previous = entity
        else:
            merged.append(previous)
            previous = entity
    merged.append(previous)
    return merged


def _subword_prefix(tokenizer: Any) -> str | None:
    """The tokenizer model's continuing-subword marker (``##`` for WordPiece), or None if it has none."""
    backend = getattr(tokenizer, "_tokenizer", None) or getattr(tokenizer, "backend_tokenizer", None)
    model = getattr(backend, "model", None)
    if model is None:
        return None
    prefix = getattr(model, "continuing_subword_prefix", None)
    if prefix is None and not hasattr(model, "continuing_subword_prefix"):
        prefix = getattr(model, "prefix", None)
    return prefix or None
