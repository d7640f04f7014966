"""Builders of small synthetic GGUF files for the GGUF tests, written with llama.cpp's own `gguf` package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

# byte offsets of the float16 fields inside one block of each quantised type (they must hold finite values
# when a test fills blocks with random bytes)
F16_FIELDS = {
    "Q4_0": (0,),
    "Q4_1": (0, 2),
    "Q5_0": (0,),
    "Q5_1": (0, 2),
    "Q8_0": (0,),
    "Q2_K": (80, 82),
    "Q3_K": (108,),
    "Q4_K": (0, 2),
    "Q5_K": (0, 2),
    "Q6_K": (208,),
}


def random_blocks(qtype_name: str, n_blocks: int, seed: int = 0) -> np.ndarray:
    """``(n_blocks, type_size)`` random uint8 blocks of a quantised type whose float16 scales are finite."""
    rng = np.random.default_rng(seed)
    qtype = gguf.GGMLQuantizationType[qtype_name]
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for offset in F16_FIELDS[qtype_name]:
        scales = rng.uniform(-2.0, 2.0, size=n_blocks).astype(np.float16)
        blocks[:, offset : offset + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    return blocks


def llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf `LlamaModel.permute` (rotate-half rows -> interleaved rows)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def spm_vocab() -> tuple[list[str], list[float], list[int]]:
    """A small SentencePiece-style vocabulary: <unk>, <s>, </s>, 256 byte tokens, then scored pieces."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    scores = [0.0, 0.0, 0.0] + [0.0] * 256
    types = [2, 3, 3] + [6] * 256
    pieces = ["▁", "e", "t", "a", "o", "h", "n", "s", "i", "r", "d", "l", "T", "w", "W", "g", ",", "."]
    pieces += ["he", "▁t", "▁a", "▁the", "in", "er", "an", "▁w", "▁s", "ou", "on", "ha", "▁The", "re", "nd", "at"]
    pieces += ["▁and", "▁h", "▁o", "is", "▁i", "ed", "▁d", "▁he", "▁wh", "▁whale", "le", "al", "ing", "▁in", "ar"]
    for rank, piece in enumerate(pieces):
        tokens.append(piece)
        scores.append(-float(rank))
        types.append(1)
    tokens.append("<|user|>")
    scores.append(0.0)
    types.append(4)
    return tokens, scores, types


def write_tiny_llama(
    path: Path,
    *,
    arch: str = "llama",
    qtype: str = "F32",
    tokenizer: str = "spm",
    tie: bool = False,
    seed: int = 0,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    layers: int = 2,
    ffn: int = 128,
    add_bos: bool | None = True,
    qkv_bias: bool = False,
    rope_freqs: np.ndarray | None = None,
    rope_theta: float = 10000.0,
) -> dict[str, np.ndarray]:
    """Write a tiny Llama-shaped GGUF; returns the Hugging Face-layout float32 weights that were stored.

    Weights are drawn in Hugging Face layout, permuted as llama.cpp does (for arch "llama") and quantised
    with ``gguf.quants.quantize`` when ``qtype`` is not F32, so the returned arrays are the pre-quantisation
    values.
    """
    rng = np.random.default_rng(seed)
    if tokenizer == "spm":
        tokens, scores, types = spm_vocab()
    else:
        tokens, scores, types = byte_level_vocab()
    vocab = len(tokens)
    head_dim = hidden // heads
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name("tiny test model")
    writer.add_context_length(256)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(rope_theta)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_rope_dimension_count(head_dim)
    writer.add_file_type(0)
    if tokenizer == "spm":
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        writer.add_unk_token_id(0)
        writer.add_add_space_prefix(True)
    else:
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(tokenizer)
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(byte_level_merges())
        writer.add_bos_token_id(0)
        writer.add_eos_token_id(0)
    if add_bos is not None:
        writer.add_add_bos_token(add_bos)
    writer.add_chat_template("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}")

    def draw(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32) * 0.2

    hf: dict[str, np.ndarray] = {"model.embed_tokens.weight": draw(vocab, hidden), "model.norm.weight": 1 + draw(hidden)}
    if not tie:
        hf["lm_head.weight"] = draw(vocab, hidden)
    for i in range(layers):
        p = f"model.layers.{i}."
        hf[p + "input_layernorm.weight"] = 1 + draw(hidden)
        hf[p + "post_attention_layernorm.weight"] = 1 + draw(hidden)
        hf[p + "self_attn.q_proj.weight"] = draw(heads * head_dim, hidden)
        hf[p + "self_attn.k_proj.weight"] = draw(kv_heads * head_dim, hidden)
        hf[p + "self_attn.v_proj.weight"] = draw(kv_heads * head_dim, hidden)
        hf[p + "self_attn.o_proj.weight"] = draw(hidden, heads * head_dim)
        hf[p + "mlp.gate_proj.weight"] = draw(ffn, hidden)
        hf[p + "mlp.up_proj.weight"] = draw(ffn, hidden)
        hf[p + "mlp.down_proj.weight"] = draw(hidden, ffn)
        if qkv_bias:
            hf[p + "self_attn.q_proj.bias"] = draw(heads * head_dim)
            hf[p + "self_attn.k_proj.bias"] = draw(kv_heads * head_dim)
            hf[p + "self_attn.v_proj.bias"] = draw(kv_heads * head_dim)
    names = {
        "model.embed_tokens": "token_embd",
        "model.norm": "output_norm",
        "lm_head": "output",
        "input_layernorm": "attn_norm",
        "post_attention_layernorm": "ffn_norm",
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    quant = gguf.GGMLQuantizationType[qtype]
    for hf_name, values in hf.items():
        stem, suffix = hf_name.rsplit(".", 1)
        if stem.startswith("model.layers."):
            _, _, layer, rest = stem.split(".", 3)
            gguf_name = f"blk.{layer}.{names[rest]}.{suffix}"
        else:
            gguf_name = f"{names[stem]}.{suffix}"
        data = values
        if arch == "llama" and (".attn_q." in gguf_name or ".attn_k." in gguf_name):
            data = llama_cpp_permute(data, heads if ".attn_q." in gguf_name else kv_heads)
        if data.ndim == 1 or quant == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(gguf_name, np.ascontiguousarray(data))
        else:
            packed = gguf.quants.quantize(np.ascontiguousarray(data), quant)
            writer.add_tensor(gguf_name, packed, raw_dtype=quant)
    if rope_freqs is not None:
        writer.add_tensor("rope_freqs.weight", rope_freqs.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return hf


def byte_level_vocab() -> tuple[list[str], list[float], list[int]]:
    """A byte-level BPE vocabulary: one special token, the 256 byte characters, then the merged pieces."""
    from embrace.tokenizers.pre_tokenizers import bytes_to_unicode

    alphabet = list(bytes_to_unicode().values())
    tokens = ["<|endoftext|>", *alphabet, *("".join(pair.split(" ")) for pair in byte_level_merges())]
    tokens += ["<think>"]
    types = [3] + [1] * (len(tokens) - 2) + [4]
    return tokens, [0.0] * len(tokens), types


def byte_level_merges() -> list[str]:
    return ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "a n", "Ġ w", "o u", "Ġ s", "Ġw h", "a l", "Ġwh al", "Ġwhal e"]


def write_gguf(path: Path, arch: str, metadata: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    """Write a GGUF with the given metadata (ints as uint32, floats as float32, lists as arrays) and float32 tensors."""
    writer = gguf.GGUFWriter(str(path), arch)
    for key, value in metadata.items():
        if isinstance(value, list):
            writer.add_array(key, value)
        elif isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        else:
            writer.add_string(key, value)
    for name, value in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(value, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def tiny_arch_file(path: Path, arch: str, seed: int = 0) -> None:
    """A tiny random GGUF of ``arch`` ("qwen3", "phi3" or "gpt2") with llama.cpp's tensor names and shapes."""
    rng = np.random.default_rng(seed)
    vocab, hidden, heads, kv_heads, layers, ffn, ctx = 96, 64, 4, 2, 2, 128, 1024
    # the reference ignores qwen3's key_length and assumes Qwen3's default head_dim of 128
    head_dim = 128 if arch == "qwen3" else hidden // heads
    meta: dict[str, Any] = {
        "tokenizer.ggml.tokens": [f"tok{i}" for i in range(vocab)],
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 1,
        "tokenizer.ggml.padding_token_id": 0,
        f"{arch}.context_length": ctx,
        f"{arch}.embedding_length": hidden,
        f"{arch}.block_count": layers,
        f"{arch}.feed_forward_length": ffn,
        f"{arch}.attention.head_count": heads,
        f"{arch}.vocab_size": vocab,
    }

    def draw(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32) * 0.2

    tensors = {"token_embd.weight": draw(vocab, hidden), "output_norm.weight": 1 + draw(hidden)}
    tensors["output.weight"] = draw(vocab, hidden)
    if arch == "gpt2":
        meta[f"{arch}.attention.layer_norm_epsilon"] = 1e-5
        tensors["position_embd.weight"] = draw(ctx, hidden)
        tensors["output_norm.bias"] = draw(hidden)
        for i in range(layers):
            for name, shape in {
                "attn_norm": (hidden,), "attn_qkv": (3 * hidden, hidden), "attn_output": (hidden, hidden),
                "ffn_norm": (hidden,), "ffn_up": (4 * hidden, hidden), "ffn_down": (hidden, 4 * hidden),
            }.items():
                tensors[f"blk.{i}.{name}.weight"] = draw(*shape)
                tensors[f"blk.{i}.{name}.bias"] = draw(shape[0])
        meta[f"{arch}.feed_forward_length"] = 4 * hidden
        return write_gguf(path, arch, meta, tensors)
    meta.update({
        f"{arch}.attention.head_count_kv": kv_heads,
        f"{arch}.attention.layer_norm_rms_epsilon": 1e-6,
        f"{arch}.rope.freq_base": 1000000.0,
        f"{arch}.rope.dimension_count": head_dim,
    })
    for i in range(layers):
        p = f"blk.{i}."
        tensors[p + "attn_norm.weight"] = 1 + draw(hidden)
        tensors[p + "ffn_norm.weight"] = 1 + draw(hidden)
        tensors[p + "attn_output.weight"] = draw(hidden, heads * head_dim)
        tensors[p + "ffn_down.weight"] = draw(hidden, ffn)
        if arch == "phi3":
            tensors[p + "attn_qkv.weight"] = draw((heads + 2 * kv_heads) * head_dim, hidden)
            tensors[p + "ffn_up.weight"] = draw(2 * ffn, hidden)
        else:
            meta[f"{arch}.attention.key_length"] = head_dim
            tensors[p + "attn_q.weight"] = draw(heads * head_dim, hidden)
            tensors[p + "attn_k.weight"] = draw(kv_heads * head_dim, hidden)
            tensors[p + "attn_v.weight"] = draw(kv_heads * head_dim, hidden)
            tensors[p + "attn_q_norm.weight"] = 1 + draw(head_dim)
            tensors[p + "attn_k_norm.weight"] = 1 + draw(head_dim)
            tensors[p + "ffn_gate.weight"] = draw(ffn, hidden)
            tensors[p + "ffn_up.weight"] = draw(ffn, hidden)
    write_gguf(path, arch, meta, tensors)
