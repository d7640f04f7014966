"""``fill-mask``: the most likely tokens for each mask token of a masked-language model.

>>> unmasker = pipeline("fill-mask", model="distilbert/distilroberta-base")
>>> unmasker("Paris is the <mask> of France.", top_k=2)
[{'score': 0.7, 'token': 812, 'token_str': ' capital', 'sequence': 'Paris is the capital of France.'}, ...]

With one mask: a list of ``top_k`` predictions; with several masks: one such list per mask (each sequence then
keeps its special tokens, as in the reference). ``targets`` restricts the candidates to the given words.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from embrace.pipelines.base import Pipeline, check_text, check_top_k
from embrace.pipelines.errors import PipelineInputError, PipelineModelError

logger = logging.getLogger("embrace.pipelines")


class FillMaskPipeline(Pipeline):
    task = "fill-mask"
    sequence_outputs = ("logits",)

    def _sanitize_parameters(self, top_k: int | None = None, targets: str | list[str] | None = None,
                             tokenizer_kwargs: dict[str, Any] | None = None,
                             ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        if getattr(self.tokenizer, "mask_token_id", None) is None:
            raise PipelineModelError("fill-mask needs a tokenizer with a mask token; this one defines none")
        post: dict[str, Any] = {}
        if top_k is not None:
            post["top_k"] = check_top_k(top_k, self.task)
        if targets is not None:
            post["target_ids"] = self.target_ids(targets)
        return ({"tokenizer_kwargs": tokenizer_kwargs} if tokenizer_kwargs else {}), {}, post

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        outputs = super().__call__(inputs, **kwargs)
        if isinstance(inputs, list) and len(inputs) == 1:
            return outputs[0]
        return outputs

    def target_ids(self, targets: str | list[str]) -> list[int]:
        """Vocabulary ids of the target words; a word not in the vocabulary is replaced by its first token."""
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list | tuple) or not all(isinstance(t, str) for t in targets):
            raise PipelineInputError("targets must be a string or a list of strings")
        vocab = self.tokenizer.get_vocab()
        ids: list[int] = []
        for target in targets:
            id_ = vocab.get(target)
            if id_ is None:
                pieces = self.tokenizer(target, add_special_tokens=False, return_attention_mask=False,
                                        return_token_type_ids=False, max_length=1, truncation=True)["input_ids"]
                if not pieces:
                    logger.warning("target %r is not in the vocabulary and has no tokens; ignoring it", target)
                    continue
                id_ = pieces[0]
                logger.warning("target %r is not in the vocabulary; using %r instead", target,
                               self.tokenizer.convert_ids_to_tokens(id_))
            ids.append(int(id_))
        ids = sorted(set(ids))
        if not ids:
            raise PipelineInputError("fill-mask: none of the targets maps to a token; pass words from the vocabulary")
        return ids

    def preprocess(self, item: Any, tokenizer_kwargs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        text = check_text(item, self.task)
        encoded = self.tokenize(text, **(tokenizer_kwargs or {}))
        if not bool((encoded["input_ids"] == self.tokenizer.mask_token_id).any()):
            raise PipelineInputError(
                f"fill-mask: no mask token ({self.tokenizer.mask_token}) in the input {text[:60]!r}; put one where "
                "the word to predict goes")
        return [encoded]

    def postprocess(self, chunk_outputs: list[dict[str, Any]], top_k: int = 5,
                    target_ids: list[int] | None = None) -> Any:
        out = chunk_outputs[0]
        input_ids = out["input_ids"]
        if target_ids is not None:
            top_k = min(top_k, len(target_ids))
        masked = torch.nonzero(input_ids == self.tokenizer.mask_token_id).squeeze(-1)
        probs = out["logits"][masked].float().softmax(dim=-1)
        if target_ids is not None:
            probs = probs[..., torch.tensor(target_ids)]
        values, predictions = probs.topk(top_k)
        single = values.shape[0] == 1
        pad_id = self.tokenizer.pad_token_id
        rows = []
        for i, (row_values, row_predictions) in enumerate(zip(values.tolist(), predictions.tolist())):
            row = []
            for score, p in zip(row_values, row_predictions):
                token = target_ids[p] if target_ids is not None else p
                tokens = input_ids.clone()
                tokens[masked[i]] = token
                tokens = tokens[tokens != pad_id] if pad_id is not None else tokens
                row.append({"score": score, "token": token, "token_str": self.tokenizer.decode([token]),
                            "sequence": self.tokenizer.decode(tokens.tolist(), skip_special_tokens=single)})
            rows.append(row)
        return rows[0] if single else rows
