"""Shared fixtures: a tiny random Llama (built with the reference's classes) with the real MiniLM tokenizer and a
small chat template, served by an in-process server on a free loopback port."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import asset

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
CHAT_TEMPLATE = ("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}[assistant]{% endif %}")


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("serving_tiny_llama")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=30522, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                                 pad_token_id=0, bos_token_id=101, eos_token_id=102)).save_pretrained(folder)
    for name in TOKENIZER_FILES:
        if (asset("minilm") / name).exists():
            shutil.copy(asset("minilm") / name, folder / name)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = CHAT_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def start_server(specs: list[str], **config: Any) -> tuple[str, Any, Any]:
    """``(url, registry, stop)`` of a server for ``specs`` ([TASK=]SOURCE) with ServeConfig ``config``."""
    from embrace.serving import ModelRegistry, ServeConfig, create_app, load_model_spec, serve_in_thread

    registry = ModelRegistry(ServeConfig(**{"threads": 1} | config))   # 1 thread: fast on a shared 2-core CPU
    for spec in specs:
        load_model_spec(registry, spec)
    url, stop = serve_in_thread(create_app(registry))
    return url, registry, stop


@pytest.fixture(scope="module")
def tiny_server(tiny_llama_dir: Path) -> Iterator[tuple[str, Any]]:
    url, registry, stop = start_server([f"chat={tiny_llama_dir}", f"embeddings={asset('minilm')}"])
    yield url, registry
    stop()
