"""GGUF -> Hugging Face conversion on tiny synthetic files: names, q/k un-permutation, config, tokenizer.

Oracles: the weights the test wrote (exact), and transformers' own `from_pretrained(..., gguf_file=...)`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from embrace.errors import CheckpointError
from embrace.models.gguf import (
    GGUFArchitectureError,
    GGUFFormatError,
    GGUFReader,
    load_gguf_checkpoint,
    read_gguf_config,
    read_gguf_tokenizer,
)
from embrace.models.gguf.convert import gguf_to_hf_config, unpermute_rotary_rows
from embrace.models.gguf.sentencepiece import merges_from_scores

from ._gguf_helpers import gguf, llama_cpp_permute, spm_vocab, tiny_arch_file, write_gguf, write_tiny_llama

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

TEXTS = [
    "The whale and the sea, the whale!",
    "  leading spaces and trailing  ",
    "Ünïcödé — ☃ 🐳 naïve café 123456 7.5e-3",
    "line one\nline two\r\n\ttabbed",
    "<|user|>hi there<think>ok</think> <s>x</s> <|endoftext|>",
    "",
]


def _reference_model(folder: Path, name: str = "tiny.gguf") -> Any:
    return transformers.AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=name)


def _reference_tokenizer(folder: Path, name: str = "tiny.gguf") -> Any:
    return transformers.AutoTokenizer.from_pretrained(str(folder), gguf_file=name)


@pytest.mark.parametrize(("n_head", "rows", "cols"), [(4, 64, 8), (2, 32, 8), (3, 24, 1)])
def test_unpermute_inverts_llama_cpp_permute(n_head: int, rows: int, cols: int) -> None:
    weight = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)
    permuted = torch.from_numpy(llama_cpp_permute(weight, n_head).copy())
    assert not torch.equal(permuted, torch.from_numpy(weight))
    assert torch.equal(unpermute_rotary_rows(permuted, n_head), torch.from_numpy(weight))
    bias = np.arange(rows, dtype=np.float32)
    assert torch.equal(unpermute_rotary_rows(torch.from_numpy(llama_cpp_permute(bias, n_head).copy()), n_head),
                       torch.from_numpy(bias))


def test_f32_weights_come_back_exactly(tmp_path: Path) -> None:
    written = write_tiny_llama(tmp_path / "tiny.gguf", qkv_bias=True)
    ckpt = load_gguf_checkpoint(tmp_path / "tiny.gguf")
    assert set(ckpt.state_dict) == set(written)
    for name, value in written.items():
        assert torch.equal(ckpt.state_dict[name], torch.from_numpy(value)), name
    assert ckpt.config["attention_bias"] is True
    half = load_gguf_checkpoint(tmp_path / "tiny.gguf", dtype=torch.bfloat16, load_tokenizer=False)
    assert half.tokenizer is None
    assert all(t.dtype == torch.bfloat16 for t in half.state_dict.values())


VARIANTS = {
    "llama-f32": {},
    "llama-q8_0-tied": {"qtype": "Q8_0", "tie": True},
    "llama-q4_1-bytelevel": {"qtype": "Q4_1", "tokenizer": "llama-bpe"},
    "llama-q5_0": {"qtype": "Q5_0", "tokenizer": "smollm"},
    "qwen2-bias-q4_0": {"arch": "qwen2", "qkv_bias": True, "qtype": "Q4_0", "tokenizer": "qwen2"},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_state_dict_and_config_match_transformers(tmp_path: Path, variant: str) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf", **VARIANTS[variant])
    ckpt = load_gguf_checkpoint(tmp_path / "tiny.gguf")
    model = _reference_model(tmp_path)
    reference = model.state_dict()
    tied = VARIANTS[variant].get("tie", False)
    assert set(reference) - set(ckpt.state_dict) == ({"lm_head.weight"} if tied else set())
    assert set(ckpt.state_dict) <= set(reference)
    for name, tensor in ckpt.state_dict.items():
        assert torch.equal(tensor, reference[name]), name
    ref_config = model.config.to_dict()
    assert ckpt.config["architectures"] == [type(model).__name__]
    assert ckpt.config["rope_theta"] == ref_config["rope_parameters"]["rope_theta"]
    for key, value in ckpt.config.items():
        if key in ("architectures", "rope_theta") or (key == "head_dim" and ref_config.get(key) is None):
            continue
        assert ref_config[key] == value, key
    assert ckpt.config == read_gguf_config(tmp_path / "tiny.gguf")


def test_logits_match_the_reference_model(tmp_path: Path) -> None:
    """Our config + state dict in transformers' LlamaForCausalLM == transformers' own GGUF-loaded model."""
    write_tiny_llama(tmp_path / "tiny.gguf", qtype="Q8_0")
    ckpt = load_gguf_checkpoint(tmp_path / "tiny.gguf")
    ours = transformers.LlamaForCausalLM(transformers.LlamaConfig(**ckpt.config)).eval()
    missing, unexpected = ours.load_state_dict(ckpt.state_dict, strict=False)
    assert not missing and not unexpected
    reference = _reference_model(tmp_path).eval()
    ids = torch.tensor([[1, 270, 280, 290, 300, 262, 275]])
    with torch.no_grad():
        assert torch.allclose(ours(ids).logits, reference(ids).logits, atol=1e-5)


def test_attention_bias_is_kept_where_the_reference_drops_it(tmp_path: Path) -> None:
    """transformers 5.23 builds a bias-free Llama from a GGUF whose q/k/v have biases, silently dropping them."""
    written = write_tiny_llama(tmp_path / "tiny.gguf", qkv_bias=True)
    ckpt = load_gguf_checkpoint(tmp_path / "tiny.gguf")
    assert ckpt.config["attention_bias"] is True
    bias = "model.layers.0.self_attn.q_proj.bias"
    assert torch.equal(ckpt.state_dict[bias], torch.from_numpy(written[bias]))
    assert bias not in _reference_model(tmp_path).state_dict()


def test_config_values(tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf", tie=True)
    config = read_gguf_config(tmp_path / "tiny.gguf")
    assert config == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 309,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 256,
        "rms_norm_eps": float(np.float32(1e-5)),
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "unk_token_id": 0,
    }


def test_rope_scaling_and_sliding_window_metadata() -> None:
    meta = {
        "general.architecture": "qwen2",
        "qwen2.attention.head_count": 4,
        "qwen2.attention.head_count_kv": [2, 2, 1],
        "qwen2.embedding_length": 64,
        "qwen2.feed_forward_length": 96,
        "qwen2.block_count": 3,
        "qwen2.context_length": 1024,
        "qwen2.rope.scaling.type": "yarn",
        "qwen2.rope.scaling.factor": 4.0,
        "qwen2.rope.scaling.original_context_length": 256,
        "qwen2.rope.scaling.yarn_beta_fast": 32.0,
        "qwen2.attention.sliding_window": 128,
    }
    config = gguf_to_hf_config(meta, ["token_embd.weight", "output.weight"], vocab_rows=100)
    assert config["vocab_size"] == 100 and config["num_key_value_heads"] == 2
    assert config["rope_scaling"] == {
        "rope_type": "yarn",
        "factor": 4.0,
        "original_max_position_embeddings": 256,
        "beta_fast": 32.0,
    }
    assert config["sliding_window"] == 128 and config["tie_word_embeddings"] is False
    assert config["rope_theta"] == 10000.0  # llama.cpp's default when freq_base is absent
    meta["qwen2.rope.scaling.type"] = "none"
    assert "rope_scaling" not in gguf_to_hf_config(meta, [], vocab_rows=100)


def _llama_cpp_rope_factors(head_dim: int, theta: float, factor: float, low: float, high: float, original: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf's `rope_freqs` for a `llama3` rope_scaling (its generate_extra_tensors)."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < original / high:
            factors.append(1)
        elif wavelen > original / low:
            factors.append(factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(factors, dtype=torch.float32).numpy()


def test_llama3_rope_scaling_is_recovered_from_rope_freqs(tmp_path: Path) -> None:
    """Llama 3.1 GGUFs carry rope scaling only as a `rope_freqs` tensor; the reference ignores it, we recover it."""
    factors = _llama_cpp_rope_factors(16, 500000.0, 8.0, 1.0, 4.0, 8192)
    assert len(set(factors.tolist())) > 2  # all three regimes present
    write_tiny_llama(tmp_path / "tiny.gguf", rope_freqs=factors, rope_theta=500000.0)
    ckpt = load_gguf_checkpoint(tmp_path / "tiny.gguf")
    assert "rope_freqs.weight" not in ckpt.state_dict
    assert ckpt.config["rope_scaling"] == {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    # the reference's rotary embedding built from this config divides the frequencies exactly as llama.cpp does
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    rotary = LlamaRotaryEmbedding(transformers.LlamaConfig(**ckpt.config))
    base = 1.0 / (500000.0 ** (torch.arange(0, 16, 2, dtype=torch.float32) / 16))
    assert torch.allclose(rotary.inv_freq, base / torch.from_numpy(factors), rtol=1e-5)


def test_unrecognised_rope_freqs_are_an_error(tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf", rope_freqs=np.linspace(1.0, 3.0, 8))
    with pytest.raises(GGUFArchitectureError, match="rope_freqs"):
        read_gguf_config(tmp_path / "tiny.gguf")
    write_tiny_llama(tmp_path / "ones.gguf", rope_freqs=np.ones(8))  # all ones: no scaling at all
    assert "rope_scaling" not in read_gguf_config(tmp_path / "ones.gguf")


@pytest.mark.parametrize("arch", ["qwen3", "phi3", "gpt2"])
def test_other_architectures_match_transformers(tmp_path: Path, arch: str) -> None:
    """Names, transposes and config of qwen3 (q/k norms), phi3 (fused qkv / gate_up) and gpt2 (Conv1D)."""
    tiny_arch_file(tmp_path / "tiny.gguf", arch)
    ckpt = load_gguf_checkpoint(tmp_path / "tiny.gguf", load_tokenizer=False)
    reference = _reference_model(tmp_path).eval()
    expected = reference.state_dict()
    assert set(ckpt.state_dict) == set(expected)
    for name, tensor in ckpt.state_dict.items():
        assert torch.equal(tensor, expected[name]), name
    # our config, given to the reference's own model class, builds the same network
    config = transformers.CONFIG_MAPPING[ckpt.config["model_type"]](**ckpt.config)
    ours = transformers.AutoModelForCausalLM.from_config(config).eval()
    ours.load_state_dict(ckpt.state_dict, strict=True)
    ids = torch.tensor([[1, 5, 9, 33, 2, 77, 50]])
    with torch.no_grad():
        assert torch.allclose(ours(ids).logits, reference(ids).logits, atol=1e-5)


def test_gpt2_names_are_transposed_back() -> None:
    from embrace.models.gguf.convert import arch_spec, convert_tensor, hf_tensor_name

    spec = arch_spec("gpt2")
    assert hf_tensor_name("blk.3.attn_qkv.weight", spec) == "transformer.h.3.attn.c_attn.weight"
    assert hf_tensor_name("position_embd.weight", spec) == "transformer.wpe.weight"
    weight = torch.arange(6.0).reshape(2, 3)
    assert torch.equal(convert_tensor("blk.0.ffn_up.weight", weight, spec, {}), weight.t())
    assert torch.equal(convert_tensor("blk.0.ffn_up.bias", weight[0], spec, {}), weight[0])
    gemma = arch_spec("gemma")
    assert torch.equal(convert_tensor("blk.0.attn_norm.weight", torch.ones(3), gemma, {}), torch.zeros(3))


def test_errors_for_unsupported_architectures_and_tensors(tmp_path: Path) -> None:
    path = tmp_path / "mamba.gguf"
    writer = gguf.GGUFWriter(str(path), "mamba")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(GGUFArchitectureError, match="'mamba' is not supported") as info:
        load_gguf_checkpoint(path)
    assert isinstance(info.value, CheckpointError)

    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("blk.0.mystery.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    from embrace.models.gguf.convert import gguf_name_map

    with pytest.raises(GGUFArchitectureError, match="blk.0.mystery.weight"):
        gguf_name_map(GGUFReader(path))
    with pytest.raises(GGUFFormatError, match="llama.attention.head_count"):
        read_gguf_config(path)
    with pytest.raises(GGUFFormatError, match="no tokenizer"):
        read_gguf_tokenizer(path)


# -- tokenizer -----------------------------------------------------------------------------------------------------

TOKENIZER_VARIANTS = {
    "spm": {"tokenizer": "spm"},
    "spm-no-bos-flag": {"tokenizer": "spm", "add_bos": None},
    "spm-bos-off": {"tokenizer": "spm", "add_bos": False},
    "smollm": {"tokenizer": "smollm", "add_bos": False},
    "llama-bpe": {"tokenizer": "llama-bpe", "add_bos": True},
    "qwen2": {"tokenizer": "qwen2", "add_bos": None},
}


@pytest.mark.parametrize("variant", list(TOKENIZER_VARIANTS))
def test_tokenizer_json_matches_transformers(tmp_path: Path, variant: str) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf", **TOKENIZER_VARIANTS[variant])
    tokenizer_json, tokenizer_config = read_gguf_tokenizer(tmp_path / "tiny.gguf")
    reference = _reference_tokenizer(tmp_path)
    assert tokenizer_json == json.loads(reference.backend_tokenizer.to_str())
    ours = tokenizers.Tokenizer.from_str(json.dumps(tokenizer_json))
    for text in TEXTS:
        encoding = ours.encode(text)
        assert encoding.ids == reference(text)["input_ids"], text
        assert ours.decode(encoding.ids, skip_special_tokens=False) == reference.decode(encoding.ids), text
    for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
        assert tokenizer_config[key] == getattr(reference, key), key
    assert tokenizer_config["add_bos_token"] == reference.add_bos_token
    assert tokenizer_config["chat_template"] == reference.chat_template


@pytest.mark.parametrize("arch", ["phi3", "gemma2"])
def test_sentencepiece_variants_match_transformers(tmp_path: Path, arch: str) -> None:
    """Phi-3 (prefix from a normalizer) and Gemma (no prefix, respelled space tokens, positional merge order)."""
    tokens, scores, types = spm_vocab()
    if arch == "gemma2":
        tokens[1:3] = ["<bos>", "<eos>"]
        for token, kind in (("  ", 1), ("   ", 1), ("<pad>", 3), ("<mask>", 3)):
            tokens.append(token)
            scores.append(-100.0)
            types.append(kind)
    meta = {
        f"{arch}.context_length": 128,
        f"{arch}.embedding_length": 64,
        f"{arch}.block_count": 1,
        f"{arch}.feed_forward_length": 64,
        f"{arch}.attention.head_count": 4,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.unknown_token_id": 0,
        "tokenizer.ggml.padding_token_id": 0,
    }
    write_gguf(tmp_path / "tiny.gguf", arch, meta, {})
    tokenizer_json, _ = read_gguf_tokenizer(tmp_path / "tiny.gguf")
    reference = _reference_tokenizer(tmp_path)
    assert tokenizer_json == json.loads(reference.backend_tokenizer.to_str())
    ours = tokenizers.Tokenizer.from_str(json.dumps(tokenizer_json))
    for text in [*TEXTS, "  the   whale", " x"]:
        assert ours.encode(text).ids == reference(text)["input_ids"], text


def test_merges_from_scores_rank_by_merged_token_score() -> None:
    tokens = ["a", "b", "c", "ab", "bc", "abc", "ca"]
    scores = [0.0, 0.0, 0.0, -1.0, -0.5, -2.0, -3.0]
    assert merges_from_scores(tokens, scores) == [["b", "c"], ["a", "b"], ["ab", "c"], ["a", "bc"], ["c", "a"]]


def test_add_space_prefix_false_is_honoured(tmp_path: Path) -> None:
    """llama.cpp prepends no '▁' when add_space_prefix is false; the reference ignores the flag (we follow llama.cpp)."""
    path = tmp_path / "tiny.gguf"
    write_tiny_llama(path)
    reader = GGUFReader(path)
    meta = dict(reader.metadata, **{"tokenizer.ggml.add_space_prefix": False})
    from embrace.models.gguf.tokenizer import gguf_to_tokenizer_config, gguf_to_tokenizer_json

    tok = tokenizers.Tokenizer.from_str(json.dumps(gguf_to_tokenizer_json(meta)))
    assert tok.encode("the").tokens == ["<s>", "t", "he"]
    assert tok.decode(tok.encode(" the whale").ids) == " the whale"
    assert gguf_to_tokenizer_config(meta)["add_prefix_space"] is False
    default = tokenizers.Tokenizer.from_str(json.dumps(gguf_to_tokenizer_json(reader.metadata)))
    assert default.encode("the").tokens == ["<s>", "▁the"]


def test_unsupported_tokenizer_model() -> None:
    from embrace.models.gguf.tokenizer import gguf_to_tokenizer_json

    with pytest.raises(GGUFArchitectureError, match="'bert' is not supported"):
        gguf_to_tokenizer_json({"tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": ["a"]})
