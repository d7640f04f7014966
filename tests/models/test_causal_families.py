"""Gemma, GPT-NeoX/Pythia, Phi and OPT parity with the reference on tiny random configs: logits with left
padding, greedy and beam generate (32 new tokens), save/load both ways, incremental decoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import transformers

from embrace.models.auto import AutoModelForCausalLM

from .causal_parity import (
    VOCAB,
    assert_generate_matches,
    assert_incremental_equals_full,
    max_logit_diff,
    padded_batch,
    save_reference,
)

ROTARY = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
              max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2)
OPT = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
           max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2, dropout=0.0)

CASES: dict[str, tuple[type, dict[str, Any]]] = {
    "gemma-gqa-head-dim": (transformers.GemmaConfig, dict(ROTARY, num_key_value_heads=2, head_dim=16)),
    "gemma-legacy-gelu": (transformers.GemmaConfig, dict(ROTARY, hidden_act="gelu", num_key_value_heads=1)),
    "gpt-neox-parallel": (transformers.GPTNeoXConfig, dict(ROTARY, rotary_pct=0.25)),
    "gpt-neox-sequential": (transformers.GPTNeoXConfig, dict(ROTARY, use_parallel_residual=False, rotary_pct=0.5,
                                                             tie_word_embeddings=True)),
    "phi": (transformers.PhiConfig, dict(ROTARY, partial_rotary_factor=0.5)),
    "phi-qk-norm-gqa": (transformers.PhiConfig, dict(ROTARY, qk_layernorm=True, num_key_value_heads=2)),
    "opt-pre-ln": (transformers.OPTConfig, OPT),
    "opt-post-ln-project": (transformers.OPTConfig, dict(OPT, do_layer_norm_before=False, word_embed_proj_dim=16)),
    "opt-no-final-norm": (transformers.OPTConfig, dict(OPT, _remove_final_layer_norm=True, enable_bias=False)),
}
GENERATE_CASES = {"gemma-gqa-head-dim", "gpt-neox-parallel", "gpt-neox-sequential", "phi", "opt-pre-ln",
                  "opt-post-ln-project"}


@pytest.fixture(scope="module", params=sorted(CASES))
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    config_cls, kwargs = CASES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    reference = save_reference(config_cls(**kwargs), folder)
    return reference, AutoModelForCausalLM.from_pretrained(folder), folder


def test_loads_into_the_family_class(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    assert type(ours).__name__ == type(reference).__name__
    assert ours.loading_report.missing_keys == [] and ours.loading_report.unexpected_keys == []


def test_logits_match_reference_with_left_padding(pair: tuple[Any, Any, Path]) -> None:
    reference, ours, _ = pair
    ids, mask = padded_batch()
    assert max_logit_diff(reference, ours, ids, mask) < 1e-4


def test_greedy_and_beam_match_reference_batched(pair: tuple[Any, Any, Path], request: pytest.FixtureRequest
                                                 ) -> None:
    if request.node.callspec.params["pair"] not in GENERATE_CASES:
        pytest.skip("generate parity runs on a representative subset; logits parity covers the rest")
    reference, ours, _ = pair
    assert_generate_matches(reference, ours, *padded_batch(length=8))


def test_save_load_round_trip_both_ways(pair: tuple[Any, Any, Path], tmp_path: Path) -> None:
    reference, ours, _ = pair
    ours.save_pretrained(tmp_path)
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids, mask = padded_batch()
    assert max_logit_diff(reference, back, ids, mask) == 0.0
    assert max_logit_diff(reference, AutoModelForCausalLM.from_pretrained(tmp_path), ids, mask) < 1e-4


def test_incremental_decoding_equals_full_forward(pair: tuple[Any, Any, Path]) -> None:
    _, ours, _ = pair
    assert_incremental_equals_full(ours, padded_batch()[0])


def test_opt_checkpoint_without_model_prefix_loads(tmp_path: Path) -> None:
    """facebook/opt-* files hold the bare decoder (``decoder.layers.N...``) with a tied head."""
    reference = save_reference(transformers.OPTConfig(**OPT), tmp_path / "full")
    reference.model.save_pretrained(tmp_path / "base")
    ours = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    ids, mask = padded_batch()
    assert max_logit_diff(reference, ours, ids, mask) < 1e-4


@pytest.mark.parametrize("model_type, legacy", [
    ("gpt_neox", {"rotary_pct": 0.25, "rotary_emb_base": 10000, "use_parallel_residual": True}),  # Pythia files
    ("phi", {"partial_rotary_factor": 0.4, "rope_theta": 10000.0, "rope_scaling": None}),           # phi-2 file
    ("gemma", {"hidden_act": "gelu", "rope_theta": 10000.0, "num_key_value_heads": 1}),             # gemma-2b file
])
def test_legacy_config_keys_read_as_the_reference_reads_them(model_type: str, legacy: dict[str, Any]) -> None:
    from embrace.models.auto import AutoConfig

    shape = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
    ours = AutoConfig.for_model(model_type, **shape, **legacy)
    reference = transformers.AutoConfig.for_model(model_type, **shape, **legacy)
    assert ours.rope_parameters == reference.rope_parameters
    if model_type == "gemma":
        assert ours.hidden_act == reference.hidden_act == "gelu_pytorch_tanh"


@pytest.mark.parametrize("model_type, bad", [
    ("gemma", {"hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 3}),
    ("phi", {"hidden_size": 30, "num_attention_heads": 4}),
    ("gpt_neox", {"hidden_size": 30, "num_attention_heads": 4}),
    ("opt", {"hidden_size": 30, "num_attention_heads": 4}),
])
def test_inconsistent_head_counts_are_refused(model_type: str, bad: dict[str, int]) -> None:
    from embrace.errors import InvalidConfigError
    from embrace.models.auto import AutoConfig

    with pytest.raises(InvalidConfigError, match="must be a multiple of"):
        AutoConfig.for_model(model_type, **bad)
