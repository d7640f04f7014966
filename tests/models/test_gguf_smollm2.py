"""Real weights: SmolLM2-135M-Instruct Q4_1 GGUF (Llama, 30 layers, Q4_1 + Q8_0 + F32 tensors).

Oracles: llama.cpp's `gguf` package for every dequantised tensor, and transformers 5.23's own GGUF loading
(`from_pretrained(folder, gguf_file=...)`) for the state dict, config, tokenizer, chat template and logits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.conftest import asset

from embrace.models.gguf import GGUFReader, load_gguf_checkpoint

from ._gguf_helpers import gguf

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
jinja2 = pytest.importorskip("jinja2")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gguf_path() -> Path:
    return asset("smollm2_gguf")


@pytest.fixture(scope="module")
def checkpoint(gguf_path: Path) -> Any:
    return load_gguf_checkpoint(gguf_path)


@pytest.fixture(scope="module")
def reference_model(gguf_path: Path) -> Any:
    return transformers.AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name).eval()


@pytest.fixture(scope="module")
def reference_tokenizer(gguf_path: Path) -> Any:
    return transformers.AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)


def test_every_tensor_matches_the_gguf_package(gguf_path: Path) -> None:
    reference = gguf.GGUFReader(str(gguf_path))
    reader = GGUFReader(gguf_path)
    assert reader.version == 3 and len(reader.tensors) == len(reference.tensors) == 272
    types = set()
    for tensor in reference.tensors:
        expected = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        ours = reader.tensor(tensor.name)
        types.add(reader.tensors[tensor.name].type_name)
        assert tuple(ours.shape) == expected.shape, tensor.name
        assert torch.equal(ours, torch.from_numpy(np.array(expected))), tensor.name
    assert types == {"F32", "Q4_1", "Q8_0"}
    for key, field in reference.fields.items():
        if not key.startswith("GGUF."):
            assert reader.metadata[key] == field.contents(), key


def test_state_dict_and_config_match_transformers(checkpoint: Any, reference_model: Any) -> None:
    reference = reference_model.state_dict()
    assert set(reference) - set(checkpoint.state_dict) == {"lm_head.weight"}  # tied, as in HF checkpoints
    assert len(checkpoint.state_dict) == 272
    for name, tensor in checkpoint.state_dict.items():
        assert tensor.dtype == torch.float32
        assert torch.equal(tensor, reference[name]), name
    ref_config = reference_model.config.to_dict()
    config = checkpoint.config
    assert config["rope_theta"] == ref_config["rope_parameters"]["rope_theta"] == 100000.0
    for key, value in config.items():
        if key not in ("architectures", "rope_theta"):
            assert ref_config[key] == value, key
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (30, 576, 49152)
    assert (config["num_attention_heads"], config["num_key_value_heads"]) == (9, 3)
    assert config["tie_word_embeddings"] is True


def test_logits_and_greedy_paris(checkpoint: Any, reference_model: Any, reference_tokenizer: Any) -> None:
    """Our config + state dict in transformers' Llama gives the reference's logits and continues with ' Paris'."""
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**checkpoint.config)).eval()
    missing, unexpected = model.load_state_dict(checkpoint.state_dict, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    model.tie_weights()
    ids = torch.tensor([reference_tokenizer("The capital of France is")["input_ids"]])
    with torch.no_grad():
        logits = model(ids).logits
        assert torch.allclose(logits, reference_model(ids).logits, atol=1e-4)
        out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert reference_tokenizer.decode(out[0, ids.shape[1] :]).startswith(" Paris")


def _moby_dick_paragraphs(limit_chars: int) -> list[str]:
    text = (asset("moby_dick") / "data.txt").read_text(encoding="utf-8")[:limit_chars]
    return [p for p in text.split("\n\n") if p.strip()]


def test_tokenizer_matches_transformers_on_moby_dick(checkpoint: Any, reference_tokenizer: Any) -> None:
    assert checkpoint.tokenizer == json.loads(reference_tokenizer.backend_tokenizer.to_str())
    ours = tokenizers.Tokenizer.from_str(json.dumps(checkpoint.tokenizer))
    paragraphs = _moby_dick_paragraphs(150_000)
    assert len(paragraphs) > 100
    expected = reference_tokenizer(paragraphs)["input_ids"]
    got = [encoding.ids for encoding in ours.encode_batch(paragraphs)]
    assert got == expected
    assert ours.decode_batch(got) == reference_tokenizer.batch_decode(expected)
    special = "<|im_start|>user\nHi<|im_end|>\n<|endoftext|><repo_name>x<file_sep>"
    assert ours.encode(special).ids == reference_tokenizer(special)["input_ids"]
    assert ours.encode(special).ids[:3] == [1, 4093, 198]
    assert ours.decode(ours.encode(special).ids, skip_special_tokens=True) == reference_tokenizer.decode(
        reference_tokenizer(special)["input_ids"], skip_special_tokens=True
    )


CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Hello!"},
        {"role": "assistant", "content": "Arr, ahoy."},
        {"role": "user", "content": "Where be the treasure? 🏴‍☠️"},
    ],
    [{"role": "user", "content": "Use a tool."}, {"role": "assistant", "content": "Calling get_weather(city='Paris')"}],
]


def _render(template: str, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    """Render as Hugging Face does: sandboxed, trim_blocks + lstrip_blocks."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt)


@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_chat_template_and_special_tokens(checkpoint: Any, reference_tokenizer: Any, add_generation_prompt: bool) -> None:
    config = checkpoint.tokenizer_config
    assert config["chat_template"] == reference_tokenizer.chat_template
    assert (config["bos_token"], config["eos_token"], config["pad_token"], config["unk_token"]) == (
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
        "<|endoftext|>",
    )
    assert config["add_bos_token"] is False and config["add_eos_token"] is False
    ours = tokenizers.Tokenizer.from_str(json.dumps(checkpoint.tokenizer))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    for messages in CONVERSATIONS:
        text = _render(config["chat_template"], messages, add_generation_prompt)
        expected = reference_tokenizer.apply_chat_template(
            messages, tools=tools, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        assert text == expected
        ids = reference_tokenizer.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=True
        )["input_ids"]
        assert ours.encode(text).ids == list(ids)
