"""Shared fixtures: a tiny random Llama (built with the reference's classes) with the real MiniLM tokenizer and a
small chat template, served by an in-process server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import asset
from tests.pipelines.conftest import build_tiny_chat_llama


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_llama(tmp_path_factory.mktemp("serving_tiny_llama"), max_position_embeddings=1024)


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
