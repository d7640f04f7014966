"""Phi-3 parity with the reference on tiny random configs: fused qkv/gate_up weights, GQA, sliding window, partial
rotary and LongRoPE (short factors inside the original context, long ones past it, with the reference's one
re-run of the whole sequence when generation crosses it); save/load both ways; config spellings; GGUF files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from embrace.errors import InvalidConfigError
from embrace.models.auto import AutoConfig, AutoModelForCausalLM
from embrace.models.phi3 import Phi3ForCausalLM

from .causal_parity import (
    VOCAB,
    assert_generate_matches,
    assert_incremental_equals_full,
    max_logit_diff,
    padded_batch,
    save_reference,
)

BASE: dict[str, Any] = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=48, max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2)
ORIGINAL = 16  # the LongRoPE cases' original context: prompts of 8 + 32 new tokens cross it


def longrope(pairs: int, **extra: Any) -> dict[str, Any]:
    return {"rope_type": "longrope", "short_factor": [1.0 + 0.25 * i for i in range(pairs)],
            "long_factor": [3.0 + 2.0 * i for i in range(pairs)], **extra}


CASES: dict[str, dict[str, Any]] = {
    "gqa": {},
    "mha-sliding-window": dict(num_key_value_heads=4, sliding_window=5),
    "partial-rotary": dict(partial_rotary_factor=0.5, num_key_value_heads=1),
    "longrope": dict(rope_scaling=longrope(4), original_max_position_embeddings=ORIGINAL),
    "longrope-partial-attention-factor": dict(rope_scaling=longrope(2, attention_factor=1.2), partial_rotary_factor=0.5,
                                              original_max_position_embeddings=ORIGINAL, sliding_window=7),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    folder = tmp_path_factory.mktemp(request.param)
    reference = save_reference(transformers.Phi3Config(**dict(BASE, **CASES[request.param])), folder)
    return reference, AutoModelForCausalLM.from_pretrained(folder), folder


def test_loads_into_phi3_with_every_weight(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    assert type(ours) is Phi3ForCausalLM
    report = ours.loading_report
    assert report is not None and report.missing_keys == [] and report.unexpected_keys == []
    assert set(ours.state_dict()) == set(reference.state_dict())
    assert ours.config.rope_parameters == reference.config.rope_parameters


@pytest.mark.parametrize("length", [12, 24])  # the LongRoPE cases: inside and past the original context
def test_logits_match_reference_with_left_padding(pair: tuple[Any, Any, Path], length: int) -> None:
    reference, ours, _ = pair
    ids, mask = padded_batch(length=length)
    assert max_logit_diff(reference, ours, ids, mask) < 1e-4


def test_greedy_and_beam_match_reference_batched(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    assert_generate_matches(reference, ours, *padded_batch(length=8))


def test_crossing_the_original_context_reruns_the_sequence_as_the_reference(tmp_path: Path) -> None:
    """Scores (not only tokens) after the LongRoPE switch: without the re-run they drift by ~1e-3."""
    reference = save_reference(transformers.Phi3Config(**BASE, **CASES["longrope"]), tmp_path)
    ours = Phi3ForCausalLM.from_pretrained(tmp_path)
    ids = torch.randint(3, VOCAB, (1, 10), generator=torch.Generator().manual_seed(3))
    options: dict[str, Any] = dict(max_new_tokens=12, min_new_tokens=12, output_scores=True, return_dict_in_generate=True)
    expected = reference.generate(ids, do_sample=False, **options)
    got = ours.generate(ids, **options)
    assert torch.equal(got.sequences, expected.sequences)
    for a, b in zip(got.scores, expected.scores, strict=True):
        finite = torch.isfinite(b)
        assert (a[finite] - b[finite]).abs().max() < 1e-5
    assert ours.cache_is_stale(ORIGINAL, ORIGINAL + 1) and not ours.cache_is_stale(ORIGINAL + 1, ORIGINAL + 2)


def test_save_load_round_trip_both_ways(pair: tuple[Any, Any, Path], tmp_path: Path) -> None:
    reference, ours, _ = pair
    ours.save_pretrained(tmp_path)
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert back.config.rope_parameters == reference.config.rope_parameters
    assert back.config.sliding_window == reference.config.sliding_window
    ids, mask = padded_batch(length=20)
    assert max_logit_diff(reference, back, ids, mask) == 0.0
    assert max_logit_diff(reference, AutoModelForCausalLM.from_pretrained(tmp_path), ids, mask) < 1e-4


def test_incremental_decoding_equals_full_forward(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    # within the original context: one set of LongRoPE factors throughout
    assert_incremental_equals_full(ours, padded_batch(length=ORIGINAL)[0])


@pytest.mark.parametrize("spelling", [
    {"rope_scaling": longrope(4, rope_type="yarn")},                                  # read as longrope, as the reference
    {"rope_scaling": longrope(2), "partial_rotary_factor": 0.5, "rope_theta": 250000.0},  # Phi-4-mini's top-level keys
    {"rope_parameters": longrope(4, original_max_position_embeddings=4096), "original_max_position_embeddings": 32},
])
def test_config_spellings_read_as_the_reference_reads_them(spelling: dict[str, Any]) -> None:
    ours = AutoConfig.for_model("phi3", **BASE, **spelling)
    reference = transformers.AutoConfig.for_model("phi3", **BASE, **spelling)
    assert ours.rope_parameters == reference.rope_parameters


def test_first_phi3_128k_spelling_su_reads_as_longrope() -> None:
    """The first Phi-3-*-128k files said ``"type": "su"``; the reference renames it but then misses the original
    context (KeyError) when the config is built from keyword arguments. We read it as the longrope spelling."""
    factors = {"short_factor": [1.0] * 4, "long_factor": [2.0] * 4}
    ours = AutoConfig.for_model("phi3", **BASE, rope_scaling={"type": "su", **factors},
                                original_max_position_embeddings=ORIGINAL)
    expected = transformers.AutoConfig.for_model("phi3", **BASE, original_max_position_embeddings=ORIGINAL,
                                                 rope_scaling={"rope_type": "longrope", **factors})
    assert ours.rope_parameters == expected.rope_parameters


@pytest.mark.parametrize(("rope", "message"), [
    ({"rope_type": "longrope", "short_factor": [1.0] * 4}, "long_factor"),
    (longrope(3), "needs 4"),
])
def test_bad_longrope_parameters_are_refused(rope: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfigError, match=message):
        Phi3ForCausalLM(AutoConfig.for_model("phi3", **BASE, rope_scaling=rope))


def test_gguf_phi3_loads_end_to_end(tmp_path: Path) -> None:
    """A llama.cpp-layout phi3 file (fused attn_qkv / ffn_up) loads into Phi3ForCausalLM as the reference loads it."""
    from ._gguf_helpers import tiny_arch_file

    tiny_arch_file(tmp_path / "tiny.gguf", "phi3")
    reference = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file="tiny.gguf").eval()
    ours = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    assert type(ours) is Phi3ForCausalLM
    ids = torch.tensor([[1, 5, 9, 33, 2, 77, 50]])
    with torch.no_grad():
        assert (ours(ids).logits - reference(ids).logits).abs().max() < 1e-4
    expected = reference.generate(ids, max_new_tokens=32, min_new_tokens=32, do_sample=False)
    assert torch.equal(ours.generate(ids, max_new_tokens=32, min_new_tokens=32), expected)


def test_gguf_phi3_longrope_partial_rotary_and_window(tmp_path: Path) -> None:
    """llama.cpp's Phi-3.5 layout: LongRoPE factors as rope_factors_{long,short} tensors, the original context and
    attention factor as metadata, partial rotary as rope.dimension_count. (The reference's GGUF loader drops them.)"""
    from ._gguf_helpers import write_gguf

    case = CASES["longrope-partial-attention-factor"]
    reference = save_reference(transformers.Phi3Config(**dict(BASE, **case)), tmp_path / "hf")
    heads, head_dim = BASE["num_attention_heads"], BASE["hidden_size"] // BASE["num_attention_heads"]
    meta: dict[str, Any] = {
        "phi3.context_length": BASE["max_position_embeddings"], "phi3.embedding_length": BASE["hidden_size"],
        "phi3.block_count": BASE["num_hidden_layers"], "phi3.feed_forward_length": BASE["intermediate_size"],
        "phi3.attention.head_count": heads, "phi3.attention.head_count_kv": BASE["num_key_value_heads"],
        "phi3.attention.layer_norm_rms_epsilon": 1e-5, "phi3.rope.freq_base": 10000.0,
        "phi3.rope.dimension_count": head_dim // 2, "phi3.rope.scaling.original_context_length": ORIGINAL,
        "phi3.rope.scaling.attn_factor": 1.2, "phi3.attention.sliding_window": case["sliding_window"],
        "phi3.vocab_size": VOCAB, "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
        "tokenizer.ggml.padding_token_id": 0,
    }
    names = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output",
             "input_layernorm": "attn_norm", "self_attn.qkv_proj": "attn_qkv", "self_attn.o_proj": "attn_output",
             "post_attention_layernorm": "ffn_norm", "mlp.gate_up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    tensors = {"rope_factors_long.weight": torch.tensor(case["rope_scaling"]["long_factor"]).numpy(),
               "rope_factors_short.weight": torch.tensor(case["rope_scaling"]["short_factor"]).numpy()}
    for name, value in reference.state_dict().items():
        module = name.removesuffix(".weight")
        if module.startswith("model.layers."):
            layer, _, rest = module.removeprefix("model.layers.").partition(".")
            tensors[f"blk.{layer}.{names[rest]}.weight"] = value.numpy()
        else:
            tensors[f"{names[module]}.weight"] = value.numpy()
    write_gguf(tmp_path / "phi35.gguf", "phi3", meta, tensors)

    ours = Phi3ForCausalLM.from_pretrained(tmp_path, gguf_file="phi35.gguf")
    params = ours.config.rope_parameters
    assert params["rope_type"] == "longrope" and params["partial_rotary_factor"] == 0.5
    assert ours.config.sliding_window == case["sliding_window"]
    ids, mask = padded_batch(length=24)
    assert max_logit_diff(reference, ours, ids, mask) < 1e-4
    assert_generate_matches(reference, ours, *padded_batch(length=8), beams=(1,))


def test_lora_on_the_fused_projections_loads_in_peft(tmp_path: Path) -> None:
    """Adapters name the fused modules as ``peft`` does (``qkv_proj``, ``gate_up_proj``) and load there."""
    peft = pytest.importorskip("peft")
    from embrace.peft import LoraConfig, get_peft_model

    reference = save_reference(transformers.Phi3Config(**BASE), tmp_path / "base")
    targets = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    ours = get_peft_model(Phi3ForCausalLM.from_pretrained(tmp_path / "base"),
                          LoraConfig(r=2, target_modules=targets, init_lora_weights=False, task_type="CAUSAL_LM"))
    ours.save_pretrained(tmp_path / "adapter")
    loaded = peft.PeftModel.from_pretrained(reference, tmp_path / "adapter").eval()
    ids, mask = padded_batch()
    assert max_logit_diff(loaded, ours.eval(), ids, mask) < 1e-4
    with torch.no_grad(), loaded.disable_adapter():  # the adapter really changes the fused layers' outputs
        assert (ours(ids).logits - loaded(ids).logits).abs().max() > 1e-3
