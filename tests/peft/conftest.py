"""Shared fixtures of the adapter tests: one torch thread (as the training tests), and tiny Llama, BERT and
GPT-2 checkpoints saved by transformers for the parity tests."""

from __future__ import annotations

import pytest
import torch
from tests.training.conftest import _one_torch_thread  # noqa: F401  (autouse fixture)


def save_tiny(tmp_path_factory: pytest.TempPathFactory, name: str, model_cls, config):
    """Save a seeded random ``model_cls(config)`` (a transformers class) into a fresh folder."""
    path = tmp_path_factory.mktemp(name)
    torch.manual_seed(0)
    model_cls(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    return save_tiny(tmp_path_factory, "llama", transformers.LlamaForCausalLM, transformers.LlamaConfig(
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2))


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    return save_tiny(tmp_path_factory, "bert", transformers.BertForSequenceClassification, transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        num_labels=3))


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    return save_tiny(tmp_path_factory, "gpt2", transformers.GPT2LMHeadModel, transformers.GPT2Config(
        vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0))
