"""Tiny random checkpoints built with the reference (transformers) config classes, with the real MiniLM tokenizer
files copied in, so both libraries tokenise identically and load the same weights."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import asset

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def copy_minilm_tokenizer(folder: Path) -> None:
    """Put the MiniLM asset's tokenizer files next to a tiny checkpoint in ``folder``."""
    minilm = asset("minilm")
    for name in TOKENIZER_FILES:
        if (minilm / name).exists():
            shutil.copy(minilm / name, folder / name)


def softmax_at(logits: Any, positions: list[int]) -> dict[int, float]:
    """Softmax of ``logits`` over ``positions`` only (the 4.x question-answering algorithm)."""
    z = sum(math.exp(float(logits[i])) for i in positions)
    return {i: math.exp(float(logits[i])) / z for i in positions}


def span_candidates(start_logits: Any, end_logits: Any, allowed: list[int], context_tokens: list[int],
                    word_ids: list[Any], offsets: list[Any], context: str, max_answer_len: int
                    ) -> list[dict[str, Any]]:
    """Every answer span of up to ``max_answer_len`` context tokens, widened to whole words, scored
    p(start) * p(end) with the softmaxes over ``allowed`` (context tokens and [CLS])."""
    ps, pe = softmax_at(start_logits, allowed), softmax_at(end_logits, allowed)
    candidates = []
    for i in context_tokens:
        for j in context_tokens:
            if i <= j < i + max_answer_len:
                start = min(offsets[k][0] for k in context_tokens if word_ids[k] == word_ids[i])
                end = max(offsets[k][1] for k in context_tokens if word_ids[k] == word_ids[j])
                candidates.append({"score": ps[i] * pe[j], "start": start, "end": end, "answer": context[start:end]})
    return candidates


def tiny_bert_config(**kwargs: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=37, max_position_embeddings=512, **kwargs)


def build(folder: Path, model_class: str, seed: int, **config_kwargs: Any) -> Path:
    import torch
    import transformers

    torch.manual_seed(seed)
    model = getattr(transformers, model_class)(tiny_bert_config(**config_kwargs)).eval()
    model.save_pretrained(folder)
    copy_minilm_tokenizer(folder)
    return folder


MODEL_SPECS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "sequence": ("BertForSequenceClassification", 1,
                 {"id2label": {0: "NEGATIVE", 1: "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1}}),
    "sequence3": ("BertForSequenceClassification", 2,
                  {"id2label": {0: "sad", 1: "neutral", 2: "happy"}, "label2id": {"sad": 0, "neutral": 1, "happy": 2}}),
    "nli": ("BertForSequenceClassification", 3,
            {"id2label": {0: "contradiction", 1: "neutral", 2: "entailment"},
             "label2id": {"contradiction": 0, "neutral": 1, "entailment": 2}}),
    "token": ("BertForTokenClassification", 4,
              {"id2label": dict(enumerate(NER_LABELS)), "label2id": {n: i for i, n in enumerate(NER_LABELS)}}),
    "mlm": ("BertForMaskedLM", 5, {}),
    "qa": ("BertForQuestionAnswering", 6, {}),
    "base": ("BertModel", 7, {}),
}


CHAT_TEMPLATE = ("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}[assistant]{% endif %}")


def build_tiny_chat_llama(folder: Path, max_position_embeddings: int = 256) -> Path:
    """A tiny random Llama (seed 0) with the MiniLM tokenizer files and a small chat template."""
    import json

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2,
                                 max_position_embeddings=max_position_embeddings,
                                 pad_token_id=0, bos_token_id=101, eos_token_id=102)).save_pretrained(folder)
    copy_minilm_tokenizer(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = CHAT_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder

class TinyModels:
    """Builds each tiny checkpoint on first use (once per test session)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self.paths:
            model_class, seed, config = MODEL_SPECS[name]
            self.paths[name] = build(self.root / name, model_class, seed, **config)
        return self.paths[name]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return TinyModels(tmp_path_factory.mktemp("tiny_pipeline_models"))


def load_tokenizer(path: Path) -> Any:
    """embrace's tokenizer once it exists; until then the reference's (the pipelines only call HF-compatible
    tokenizer methods)."""
    try:
        from embrace.tokenization import AutoTokenizer  # type: ignore[import-not-found,unused-ignore]

        return AutoTokenizer.from_pretrained(str(path))
    except ImportError:  # the tokenizer module (or a part of it) has not landed
        from transformers import AutoTokenizer as ReferenceAutoTokenizer

        return ReferenceAutoTokenizer.from_pretrained(str(path))


def reference_pipeline(task: str, path: Path, **kwargs: Any) -> Any:
    import transformers

    return transformers.pipeline(task, model=str(path), **kwargs)


def ours(task: str, path: Path, **kwargs: Any) -> Any:
    from embrace.pipelines import pipeline

    return pipeline(task, model=str(path), tokenizer=load_tokenizer(path), **kwargs)


def assert_close(actual: Any, expected: Any, atol: float = 1e-4, where: str = "") -> None:
    """Recursive equality of pipeline outputs: floats within ``atol``, everything else exactly."""
    import numpy as np

    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected dict, got {type(actual).__name__}"
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_close(actual[key], expected[key], atol, f"{where}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, list | tuple), f"{where}: expected list, got {type(actual).__name__}"
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, atol, f"{where}[{i}]")
    elif isinstance(expected, float | np.floating):
        assert isinstance(actual, float | int | np.floating), f"{where}: expected float, got {actual!r}"
        assert abs(float(actual) - float(expected)) <= atol, f"{where}: {actual} != {expected}"
    else:
        if isinstance(expected, np.integer):
            expected = int(expected)
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


_CACHE: dict[tuple[str, str], Any] = {}


def cached(task: str, path: Path) -> Any:
    """One of our pipelines per (task, model) for the tests that only check errors."""
    key = (task, str(path))
    if key not in _CACHE:
        _CACHE[key] = ours(task, path)
    return _CACHE[key]


def build_tiny_roberta(folder: Path, model_class: str, seed: int, **config_kwargs: Any) -> Path:
    """A tiny RoBERTa with the real GPT-2 byte-level BPE vocabulary (RoBERTa's special tokens added by the reference
    tokenizer class): exercises tokenizers without a continuing-subword marker and the ``<mask>`` token."""
    import json

    import torch
    import transformers
    from transformers import RobertaConfig, RobertaTokenizer

    bpe = asset("gpt2_bpe")
    vocab = json.loads((bpe / "encoder.json").read_text(encoding="utf-8"))
    lines = (bpe / "vocab.bpe").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split()) for line in lines if line and not line.startswith("#version")]
    tokenizer = RobertaTokenizer(vocab=vocab, merges=merges)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=37, max_position_embeddings=514, **config_kwargs)
    getattr(transformers, model_class)(config).eval().save_pretrained(folder)
    return folder
