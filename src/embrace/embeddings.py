"""Sentence embeddings the way sentence-transformers computes them: a transformer body, a pooling step read from
the model folder (``modules.json`` + ``1_Pooling/config.json``), then optional L2 normalisation.

>>> embedder = SentenceEmbedder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
>>> vectors = embedder.encode(["A cat sits on the mat.", "A dog plays."])      # (2, 384), unit length
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from embrace.errors import InvalidConfigError

POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len", "lasttoken")


@dataclass
class PoolingSpec:
    """How token vectors become one sentence vector. Defaults (no sentence-transformers files): mean + normalise."""

    mode: str = "mean"
    normalize: bool = True
    max_seq_length: int | None = None

    @classmethod
    def from_model_dir(cls, resolve: Any) -> PoolingSpec:
        """Read the sentence-transformers files; ``resolve(name)`` returns a local path or None."""
        modules_path = resolve("modules.json")
        if modules_path is None:
            return cls()
        modules = _read_json(modules_path)
        spec = cls(mode="mean", normalize=any(m.get("type", "").endswith("Normalize") for m in modules))
        for module in modules:
            if module.get("type", "").endswith("Pooling"):
                config_path = resolve(f"{module['path']}/config.json")
                if config_path is not None:
                    spec.mode = _pooling_mode(_read_json(config_path))
        bert_config = resolve("sentence_bert_config.json")
        if bert_config is not None:
            spec.max_seq_length = _read_json(bert_config).get("max_seq_length")
        return spec


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidConfigError(f"{path} is not valid JSON: {exc}") from exc


def _pooling_mode(config: dict[str, Any]) -> str:
    if config.get("pooling_mode"):
        return str(config["pooling_mode"]).replace("mean_tokens", "mean").replace("cls_token", "cls")
    for key, mode in (("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"),
                      ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"), ("pooling_mode_lasttoken", "lasttoken"),
                      ("pooling_mode_mean_tokens", "mean")):
        if config.get(key):
            return mode
    return "mean"


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """``hidden`` (batch, seq, dim), ``attention_mask`` (batch, seq) -> (batch, dim)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    if mode == "lasttoken":
        last = attention_mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    summed = (hidden * mask).sum(dim=1)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    if mode == "mean":
        return summed / counts
    if mode == "mean_sqrt_len":
        return summed / counts.sqrt()
    raise ValueError(f"unknown pooling mode {mode!r}; use one of {POOLING_MODES}")


class SentenceEmbedder:
    """A model + tokenizer + pooling spec that turns sentences into vectors."""

    def __init__(self, model: Any, tokenizer: Any, spec: PoolingSpec | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec or PoolingSpec()

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike[str], **kwargs: Any) -> SentenceEmbedder:
        from embrace.hub.resolve import cached_file
        from embrace.models.auto import AutoModel
        from embrace.tokenization import AutoTokenizer

        model = AutoModel.from_pretrained(path_or_repo_id, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path_or_repo_id)
        spec = PoolingSpec.from_model_dir(lambda name: cached_file(path_or_repo_id, name, missing_ok=True))
        return cls(model, tokenizer, spec)

    @torch.inference_mode()
    def embed_inputs(self, inputs: dict[str, torch.Tensor], normalize: bool | None = None) -> torch.Tensor:
        """Tokenised inputs (``input_ids``, ``attention_mask`` ...) -> (batch, dim) sentence vectors."""
        accepted = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = self.model(**accepted).last_hidden_state
        vectors = pool(hidden, inputs["attention_mask"], self.spec.mode)
        if self.spec.normalize if normalize is None else normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors

    def encode(self, sentences: str | Sequence[str], *, batch_size: int = 32, normalize_embeddings: bool | None = None,
               convert_to_tensor: bool = False) -> Any:
        """Embed one sentence (-> (dim,)) or many (-> (n, dim)); numpy unless ``convert_to_tensor``.
        Sentences are sorted by length for batching (less padding) and returned in input order."""
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("encode() takes a string or a list of strings")
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        max_length = self.spec.max_seq_length or getattr(self.tokenizer, "model_max_length", 512)
        chunks = []
        for start in range(0, len(order), batch_size):
            batch = [texts[i] for i in order[start:start + batch_size]]
            inputs = self.tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            chunks.append(self.embed_inputs(dict(inputs), normalize_embeddings))
        if not chunks:
            dim = self.model.config.hidden_size
            return torch.empty(0, dim) if convert_to_tensor else torch.empty(0, dim).numpy()
        stacked = torch.cat(chunks)
        result = torch.empty_like(stacked)
        result[torch.tensor(order)] = stacked
        out = result[0] if single else result
        return out if convert_to_tensor else out.numpy()


def cos_sim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity matrix between rows of ``a`` (n, dim) and ``b`` (m, dim) -> (n, m)."""
    a = torch.as_tensor(a)
    b = torch.as_tensor(b)
    a = torch.nn.functional.normalize(a.reshape(-1, a.shape[-1]), dim=1)
    b = torch.nn.functional.normalize(b.reshape(-1, b.shape[-1]), dim=1)
    return a @ b.T
