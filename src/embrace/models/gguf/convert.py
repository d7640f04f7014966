"""llama.cpp names and metadata -> Hugging Face ``config.json`` keys and state-dict names.

llama.cpp's ``convert_hf_to_gguf.py`` renames every tensor (``model.layers.3.self_attn.q_proj.weight`` becomes
``blk.3.attn_q.weight``), moves config values into ``{arch}.*`` metadata keys and, per architecture, changes
some tensors: Llama's q/k projection rows are permuted (from the rotate-half rotary layout to the interleaved
one), Gemma's norm weights get +1, GPT-2's Conv1D weights are transposed. Each architecture here is one
declarative :class:`ArchSpec` row stating the renames and the inverse transforms, so the conversion reads as a
table rather than as code.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from embrace.models.gguf.errors import GGUFArchitectureError, GGUFFormatError

if TYPE_CHECKING:
    import torch

    from embrace.models.gguf.reader import GGUFReader


# -- tensor renames ------------------------------------------------------------------------------------------------

_LLAMA_TOP = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
_LLAMA_BLOCK = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_PHI3_BLOCK = {
    "attn_norm": "input_layernorm",
    "attn_qkv": "self_attn.qkv_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_up": "mlp.gate_up_proj",  # llama.cpp keeps Phi-3's fused gate+up projection as one tensor
    "ffn_down": "mlp.down_proj",
}
_GPT2_TOP = {
    "token_embd": "transformer.wte",
    "position_embd": "transformer.wpe",
    "output_norm": "transformer.ln_f",
    "output": "lm_head",
}
_GPT2_BLOCK = {
    "attn_norm": "ln_1",
    "attn_qkv": "attn.c_attn",
    "attn_output": "attn.c_proj",
    "ffn_norm": "ln_2",
    "ffn_up": "mlp.c_fc",
    "ffn_down": "mlp.c_proj",
}

# Tensors llama.cpp adds that have no Hugging Face counterpart (their information lives in the config).
_IGNORED = re.compile(r"^(rope_freqs\.weight|rope_factors_(long|short)\.weight|blk\.\d+\.attn_rot_embd(\.weight)?)$")
_TENSOR_NAME = re.compile(r"^(?:blk\.(?P<layer>\d+)\.)?(?P<base>[a-z0-9_]+)\.(?P<suffix>weight|bias)$")


@dataclass(frozen=True)
class ArchSpec:
    """How one llama.cpp architecture maps onto a Hugging Face model family."""

    model_type: str
    architecture: str  # the ``architectures[0]`` class name
    top: dict[str, str]
    block: dict[str, str]
    block_prefix: str = "model.layers"
    permute_qk: bool = False  # undo llama.cpp's rotary row permutation of attn_q / attn_k
    norm_offset: float = 0.0  # llama.cpp stored norm weights plus this offset (Gemma: +1)
    transposed: frozenset[str] = field(default_factory=frozenset)  # GGUF bases stored transposed (GPT-2 Conv1D)
    hidden_act: str = "silu"


ARCHITECTURES: dict[str, ArchSpec] = {
    "llama": ArchSpec("llama", "LlamaForCausalLM", _LLAMA_TOP, _LLAMA_BLOCK, permute_qk=True),
    "mistral": ArchSpec("mistral", "MistralForCausalLM", _LLAMA_TOP, _LLAMA_BLOCK, permute_qk=True),
    "qwen2": ArchSpec("qwen2", "Qwen2ForCausalLM", _LLAMA_TOP, _LLAMA_BLOCK),
    "qwen3": ArchSpec("qwen3", "Qwen3ForCausalLM", _LLAMA_TOP, _LLAMA_BLOCK),
    "gemma": ArchSpec("gemma", "GemmaForCausalLM", _LLAMA_TOP, _LLAMA_BLOCK, norm_offset=1.0, hidden_act="gelu_pytorch_tanh"),
    "phi3": ArchSpec("phi3", "Phi3ForCausalLM", _LLAMA_TOP, _PHI3_BLOCK),
    "gpt2": ArchSpec(
        "gpt2",
        "GPT2LMHeadModel",
        _GPT2_TOP,
        _GPT2_BLOCK,
        block_prefix="transformer.h",
        transposed=frozenset({"attn_qkv", "attn_output", "ffn_up", "ffn_down"}),
        hidden_act="gelu_new",
    ),
}


def arch_spec(architecture: str) -> ArchSpec:
    """The :class:`ArchSpec` of a ``general.architecture`` value, or a GGUFArchitectureError."""
    spec = ARCHITECTURES.get(architecture)
    if spec is None:
        raise GGUFArchitectureError(
            f"GGUF architecture {architecture!r} is not supported; supported: {', '.join(sorted(ARCHITECTURES))}"
        )
    return spec


def hf_tensor_name(gguf_name: str, spec: ArchSpec) -> str | None:
    """Hugging Face name of a GGUF tensor; None for tensors with no counterpart; KeyError when unknown."""
    if _IGNORED.match(gguf_name):
        return None
    match = _TENSOR_NAME.match(gguf_name)
    if match is not None:
        layer, base, suffix = match["layer"], match["base"], match["suffix"]
        if layer is None and base in spec.top:
            return f"{spec.top[base]}.{suffix}"
        if layer is not None and base in spec.block:
            return f"{spec.block_prefix}.{layer}.{spec.block[base]}.{suffix}"
    raise KeyError(gguf_name)


# -- config --------------------------------------------------------------------------------------------------------


def _require(meta: dict[str, Any], key: str) -> Any:
    if key not in meta:
        raise GGUFFormatError(f"GGUF metadata lacks {key!r}, which the model config needs")
    return meta[key]


def _per_layer_max(value: Any) -> Any:
    """Some files store a per-layer list (e.g. head_count_kv); Hugging Face configs hold one number."""
    return max(value) if isinstance(value, list) else value


def _rope_scaling(meta: dict[str, Any], arch: str) -> dict[str, Any] | None:
    kind = meta.get(f"{arch}.rope.scaling.type")
    factor = meta.get(f"{arch}.rope.scaling.factor")
    if kind in (None, "none") or factor is None:
        return None
    scaling: dict[str, Any] = {"rope_type": kind, "factor": float(factor)}
    original = meta.get(f"{arch}.rope.scaling.original_context_length")
    if original is not None:
        scaling["original_max_position_embeddings"] = int(original)
    if kind == "yarn":
        for gguf_key, hf_key in (("yarn_beta_fast", "beta_fast"), ("yarn_beta_slow", "beta_slow")):
            if f"{arch}.rope.scaling.{gguf_key}" in meta:
                scaling[hf_key] = float(meta[f"{arch}.rope.scaling.{gguf_key}"])
        if f"{arch}.rope.scaling.attn_factor" in meta:
            scaling["attention_factor"] = float(meta[f"{arch}.rope.scaling.attn_factor"])
    return scaling


def llama3_rope_scaling(rope_factors: Sequence[float], head_dim: int, theta: float) -> dict[str, Any] | None:
    """Recover Llama 3.1-style ``rope_scaling`` from llama.cpp's ``rope_freqs`` tensor, or None if none fits.

    llama.cpp stores the per-frequency divisors that the ``llama3`` rope type implies instead of its four
    parameters. The factor is the largest divisor; the other three are found among the values Llama 3.x
    releases use, by recomputing the divisors (llama.cpp's ``generate_extra_tensors``) and comparing.
    """
    factors = [float(f) for f in rope_factors]
    if len(factors) != head_dim // 2 or not factors:
        return None
    factor = max(factors)
    freqs = [1.0 / theta ** (2 * i / head_dim) for i in range(head_dim // 2)]
    for original, low, high in itertools.product((8192, 4096, 16384, 32768, 131072), (1.0, 2.0), (4.0, 2.0, 8.0)):
        if high <= low:
            continue
        expected = []
        for freq in freqs:
            wavelen = 2 * math.pi / freq
            if wavelen < original / high:
                expected.append(1.0)
            elif wavelen > original / low:
                expected.append(factor)
            else:
                smooth = (original / wavelen - low) / (high - low)
                expected.append(1 / ((1 - smooth) / factor + smooth))
        if all(abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(factors, expected)):
            return {
                "rope_type": "llama3",
                "factor": factor,
                "low_freq_factor": low,
                "high_freq_factor": high,
                "original_max_position_embeddings": original,
            }
    return None


def _phi3_rope(meta: dict[str, Any], config: dict[str, Any],
              longrope_factors: tuple[Sequence[float], Sequence[float]] | None) -> dict[str, Any] | None:
    """Phi-3's partial rotary (``rope.dimension_count`` below the head size) into ``config``; its LongRoPE
    factors (stored as two tensors, the original context and attention factor as metadata) as a rope dict."""
    rotary = meta.get("phi3.rope.dimension_count")
    if rotary and int(rotary) != config["head_dim"]:
        config["partial_rotary_factor"] = int(rotary) / config["head_dim"]
    if longrope_factors is None:
        return None
    long, short = longrope_factors
    original = int(meta.get("phi3.rope.scaling.original_context_length", config["max_position_embeddings"]))
    config["original_max_position_embeddings"] = original
    scaling: dict[str, Any] = {"rope_type": "longrope", "long_factor": [float(f) for f in long],
                               "short_factor": [float(f) for f in short], "original_max_position_embeddings": original}
    if "phi3.rope.scaling.attn_factor" in meta:
        scaling["attention_factor"] = float(meta["phi3.rope.scaling.attn_factor"])
    return scaling


def gguf_to_hf_config(
    meta: dict[str, Any],
    tensor_names: Iterable[str],
    vocab_rows: int | None = None,
    rope_factors: Sequence[float] | None = None,
    longrope_factors: tuple[Sequence[float], Sequence[float]] | None = None,
) -> dict[str, Any]:
    """A Hugging Face ``config.json`` dict from GGUF metadata.

    Args:
        meta: the file's metadata (``GGUFReader.metadata``).
        tensor_names: the GGUF tensor names (to detect tied embeddings and biases).
        vocab_rows: rows of ``token_embd`` (used when the metadata has no ``{arch}.vocab_size``).
        rope_factors: values of the ``rope_freqs.weight`` tensor, if the file has one (Llama 3.1+ rope scaling).
        longrope_factors: values of ``rope_factors_long.weight`` and ``rope_factors_short.weight`` (Phi-3 128k and
            Phi-3.5: LongRoPE), if the file has them.

    Raises:
        GGUFArchitectureError: a ``rope_freqs`` tensor that matches no Llama 3 rope scaling (loading it without
            its scaling would give a subtly wrong model).
    """
    names = set(tensor_names)
    arch = _require(meta, "general.architecture")
    spec = arch_spec(arch)
    n_heads = int(_per_layer_max(_require(meta, f"{arch}.attention.head_count")))
    hidden = int(_require(meta, f"{arch}.embedding_length"))
    vocab = meta.get(f"{arch}.vocab_size") or vocab_rows or len(meta.get("tokenizer.ggml.tokens", ()))
    config: dict[str, Any] = {"architectures": [spec.architecture], "model_type": spec.model_type}
    if spec.model_type == "gpt2":
        config.update(
            vocab_size=vocab,
            n_embd=hidden,
            n_head=n_heads,
            n_layer=int(_require(meta, f"{arch}.block_count")),
            n_positions=int(_require(meta, f"{arch}.context_length")),
            n_ctx=int(_require(meta, f"{arch}.context_length")),
            n_inner=meta.get(f"{arch}.feed_forward_length"),
            layer_norm_epsilon=float(meta.get(f"{arch}.attention.layer_norm_epsilon", 1e-5)),
            activation_function=spec.hidden_act,
        )
    else:
        n_kv = int(_per_layer_max(meta.get(f"{arch}.attention.head_count_kv", n_heads)))
        head_dim = meta.get(f"{arch}.attention.key_length") or hidden // n_heads
        if spec.model_type in ("llama", "mistral"):
            head_dim = meta.get(f"{arch}.rope.dimension_count") or head_dim
        config.update(
            vocab_size=vocab,
            hidden_size=hidden,
            intermediate_size=int(_per_layer_max(_require(meta, f"{arch}.feed_forward_length"))),
            num_hidden_layers=int(_require(meta, f"{arch}.block_count")),
            num_attention_heads=n_heads,
            num_key_value_heads=n_kv,
            head_dim=int(head_dim),
            max_position_embeddings=int(_require(meta, f"{arch}.context_length")),
            rms_norm_eps=float(meta.get(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)),
            rope_theta=float(meta.get(f"{arch}.rope.freq_base", 10000.0)),
            hidden_act=spec.hidden_act,
        )
        if spec.model_type in ("llama", "mistral"):
            config["attention_bias"] = "blk.0.attn_q.bias" in names
            config["mlp_bias"] = "blk.0.ffn_up.bias" in names
        scaling = _rope_scaling(meta, arch)
        if scaling is None and rope_factors is not None and any(f != 1.0 for f in rope_factors):
            scaling = llama3_rope_scaling(rope_factors, config["head_dim"], config["rope_theta"])
            if scaling is None:
                raise GGUFArchitectureError(
                    "the file's rope_freqs tensor matches no Llama 3 rope scaling (factor, low/high frequency "
                    "factors, original context); this rope scaling is not supported"
                )
        if spec.model_type == "phi3":
            scaling = _phi3_rope(meta, config, longrope_factors) or scaling
        if scaling is not None:
            config["rope_scaling"] = scaling
        window = meta.get(f"{arch}.attention.sliding_window")
        if window:  # llama.cpp writes 0 for "no window" (Phi-4-mini)
            config["sliding_window"] = int(window)
    config["tie_word_embeddings"] = "output.weight" not in names
    for gguf_key, hf_key in (
        ("bos_token_id", "bos_token_id"),
        ("eos_token_id", "eos_token_id"),
        ("unknown_token_id", "unk_token_id"),
        ("padding_token_id", "pad_token_id"),
    ):
        value = meta.get(f"tokenizer.ggml.{gguf_key}")
        if value is not None:
            config[hf_key] = int(value)
    return config


# -- tensors -------------------------------------------------------------------------------------------------------


def unpermute_rotary_rows(weight: torch.Tensor, n_head: int) -> torch.Tensor:
    """Undo llama.cpp's ``permute`` of a q/k projection (weight ``(n_head * head_dim, in)`` or bias).

    llama.cpp reorders each head's rows from Hugging Face's rotate-half layout (first half, second half) to
    interleaved pairs; this restores the rotate-half order.
    """
    rows = weight.shape[0]
    half = rows // n_head // 2
    return weight.reshape(n_head, half, 2, *weight.shape[1:]).transpose(1, 2).reshape(weight.shape).contiguous()


def convert_tensor(gguf_name: str, tensor: torch.Tensor, spec: ArchSpec, config: dict[str, Any]) -> torch.Tensor:
    """Apply the inverse of llama.cpp's per-architecture tensor transforms to one dequantised tensor."""
    match = _TENSOR_NAME.match(gguf_name)
    base = match["base"] if match else ""
    if spec.permute_qk and base in ("attn_q", "attn_k"):
        heads = config["num_attention_heads"] if base == "attn_q" else config["num_key_value_heads"]
        tensor = unpermute_rotary_rows(tensor, heads)
    if spec.norm_offset and base.endswith("norm") and gguf_name.endswith(".weight"):
        tensor = tensor - spec.norm_offset
    if base in spec.transposed and gguf_name.endswith(".weight"):
        tensor = tensor.t().contiguous()
    return tensor


def gguf_name_map(reader: GGUFReader) -> dict[str, str]:
    """GGUF tensor name -> Hugging Face name for every tensor of the file that has a counterpart.

    Raises GGUFArchitectureError naming the tensors it does not know, rather than dropping weights silently.
    """
    spec = arch_spec(reader.architecture)
    mapping: dict[str, str] = {}
    unknown = []
    for name in reader.tensors:
        try:
            hf_name = hf_tensor_name(name, spec)
        except KeyError:
            unknown.append(name)
            continue
        if hf_name is not None:
            mapping[name] = hf_name
    if unknown:
        shown = ", ".join(unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        raise GGUFArchitectureError(
            f"{reader.path}: {len(unknown)} tensors have no Hugging Face name for architecture "
            f"{reader.architecture!r}: {shown}"
        )
    return mapping


def iter_hf_state_dict(
    reader: GGUFReader, config: dict[str, Any], dtype: torch.dtype | None = None
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(hf_name, tensor)`` one tensor at a time, dequantised and converted (peak memory: one tensor)."""
    spec = arch_spec(reader.architecture)
    for gguf_name, hf_name in gguf_name_map(reader).items():
        tensor = convert_tensor(gguf_name, reader.tensor(gguf_name), spec, config)
        if dtype is not None and tensor.dtype != dtype:
            tensor = tensor.to(dtype)
        yield hf_name, tensor

