"""``feature-extraction`` (the model's last hidden states) and ``sentence-similarity`` (pooled sentence vectors).

>>> extractor = pipeline("feature-extraction", model="sentence-transformers/all-MiniLM-L6-v2")
>>> extractor("Hello world")            # nested lists (1, seq, hidden), as in the reference
>>> similarity = pipeline("sentence-similarity", model="sentence-transformers/all-MiniLM-L6-v2")
>>> similarity({"source_sentence": "A cat sits.", "sentences": ["A cat rests.", "Stocks fell."]})  # [0.8, 0.05]

``sentence-similarity`` pools and normalises as sentence-transformers does, reading the model folder's pooling
config through :class:`embrace.embeddings.SentenceEmbedder` (see ``embed()`` for the vectors themselves).
"""

from __future__ import annotations

from typing import Any

import torch

from embrace.embeddings import PoolingSpec, SentenceEmbedder, cos_sim
from embrace.pipelines.base import Pipeline, check_text
from embrace.pipelines.errors import PipelineInputError


class FeatureExtractionPipeline(Pipeline):
    """Per input: the last hidden state as nested lists ``(1, seq, hidden)``, or a tensor with
    ``return_tensors=True``."""

    task = "feature-extraction"
    sequence_outputs = ("last_hidden_state",)

    def _sanitize_parameters(self, truncation: bool | str | None = None, tokenize_kwargs: dict[str, Any] | None = None,
                             return_tensors: bool | None = None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        tokenize = dict(tokenize_kwargs or {})
        if truncation is not None:
            if "truncation" in tokenize:
                raise PipelineInputError("truncation given twice (as an argument and in tokenize_kwargs)")
            tokenize["truncation"] = truncation
        return tokenize, {}, ({"return_tensors": return_tensors} if return_tensors is not None else {})

    def preprocess(self, item: Any, **tokenize_kwargs: Any) -> list[dict[str, Any]]:
        return [self.tokenize(check_text(item, self.task), **tokenize_kwargs)]

    def preprocess_group(self, items: list[Any], **tokenize_kwargs: Any) -> list[list[dict[str, Any]]]:
        if len(items) > 1 and "return_tensors" not in tokenize_kwargs:
            return self.tokenize_texts([check_text(item, self.task) for item in items], **tokenize_kwargs)
        return super().preprocess_group(items, **tokenize_kwargs)

    def _forward(self, batch: dict[str, torch.Tensor], **params: Any) -> dict[str, torch.Tensor]:
        out = self.model(**batch)
        hidden = out["last_hidden_state"] if "last_hidden_state" in out else out[0]
        return {"last_hidden_state": hidden}

    def postprocess(self, chunk_outputs: list[dict[str, Any]], return_tensors: bool = False) -> Any:
        hidden = chunk_outputs[0]["last_hidden_state"].unsqueeze(0)
        return hidden if return_tensors else hidden.tolist()


class SentenceSimilarityPipeline(Pipeline):
    """``{"source_sentence": str, "sentences": [str, ...]}`` -> cosine similarity of the source to each sentence
    (the Hugging Face inference API's format). ``embed(texts)`` returns the sentence vectors ``(n, dim)``."""

    task = "sentence-similarity"
    sequence_outputs = ("last_hidden_state",)

    def __init__(self, model: Any, tokenizer: Any = None, *, pooling: PoolingSpec | None = None, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.embedder = SentenceEmbedder(self.model, self.tokenizer, pooling)

    def preprocess(self, item: Any, **params: Any) -> list[dict[str, Any]]:
        if not isinstance(item, dict) or set(item) != {"source_sentence", "sentences"}:
            raise PipelineInputError(
                'sentence-similarity takes {"source_sentence": "text", "sentences": ["text", ...]}')
        sentences = item["sentences"]
        if isinstance(sentences, str) or not isinstance(sentences, list | tuple) or not sentences:
            raise PipelineInputError('sentence-similarity: "sentences" must be a non-empty list of strings')
        texts = [check_text(item["source_sentence"], self.task, "source_sentence")]
        texts += [check_text(s, self.task, "sentence") for s in sentences]
        max_length = self.embedder.spec.max_seq_length or getattr(self.tokenizer, "model_max_length", 512)
        return [{**self.tokenize(t, truncation=True, max_length=max_length), "is_source": i == 0}
                for i, t in enumerate(texts)]

    def _forward(self, batch: dict[str, torch.Tensor], **params: Any) -> dict[str, torch.Tensor]:
        return {"sentence_embedding": self.embedder.embed_inputs(batch)}

    def postprocess(self, chunk_outputs: list[dict[str, Any]], **params: Any) -> list[float]:
        vectors = torch.stack([c["sentence_embedding"] for c in chunk_outputs])
        return [float(x) for x in cos_sim(vectors[:1], vectors[1:])[0]]

    def embed(self, texts: str | list[str], *, batch_size: int | None = None,
              normalize_embeddings: bool | None = None) -> torch.Tensor:
        """Sentence vectors: ``(dim,)`` for one string, ``(n, dim)`` for a list, pooled as the model folder says."""
        return self.embedder.encode(texts, batch_size=batch_size or max(self.batch_size, 32),
                                    normalize_embeddings=normalize_embeddings, convert_to_tensor=True)
