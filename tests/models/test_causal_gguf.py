"""The SmolLM2 GGUF asset loads as a Llama causal LM and continues a prompt sensibly."""

from __future__ import annotations

import json

import pytest
import torch
from tests.conftest import asset

from embrace.models.llama import LlamaForCausalLM


@pytest.mark.slow
def test_smollm2_gguf_greedy_paris() -> None:
    import tokenizers
    from embrace.models.gguf import read_gguf_tokenizer

    path = asset("smollm2_gguf")
    model = LlamaForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    tokenizer_json, _ = read_gguf_tokenizer(path)
    tokenizer = tokenizers.Tokenizer.from_str(json.dumps(tokenizer_json))
    ids = torch.tensor([tokenizer.encode("The capital of France is", add_special_tokens=False).ids])
    out = model.generate(ids, max_new_tokens=4)
    assert tokenizer.decode(out[0, ids.shape[1]:].tolist()).startswith(" Paris")
