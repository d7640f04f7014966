"""Weight-only int8 / bf16 linear layers: error bounds against the float layer, every family's linear types
(nn.Linear, GPT-2's Conv1D, tied heads), API spellings, refusals, and SmolLM2 real weights still saying " Paris"."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from tests.conftest import asset

from embrace.models.auto import AutoModelForCausalLM
from embrace.models.quantization import (
    DECODE_ROWS,
    BF16Linear,
    Int8Linear,
    QuantizationError,
    is_quantized,
    resolve_scheme,
)

from .causal_parity import VOCAB, padded_batch, save_reference


@pytest.mark.parametrize("rows", [1, DECODE_ROWS + 3])  # decode kernel and dequantise-then-matmul path
def test_int8_and_bf16_linear_close_to_float(rows: int) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(96, 40)
    x = torch.randn(2, rows, 96)
    expected = layer(x)
    int8, bf16 = Int8Linear(layer.weight, layer.bias), BF16Linear(layer.weight, layer.bias)
    assert int8.weight.dtype == torch.int8 and bf16.weight.dtype == torch.bfloat16
    for quantized, tolerance in ((int8, 0.03), (bf16, 0.02)):
        got = quantized(x)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        relative = (got - expected).norm() / expected.norm()
        assert relative < tolerance, (type(quantized).__name__, relative)


def test_int8_dequantize_reconstructs_within_half_a_step() -> None:
    weight = torch.randn(16, 32)
    layer = Int8Linear(weight, None)
    step = weight.abs().amax(dim=1, keepdim=True) / 127
    assert ((layer.dequantize() - weight).abs() <= step / 2 + 1e-7).all()


def test_resolve_scheme_spellings() -> None:
    assert resolve_scheme("int8") == resolve_scheme("int8_weight_only") == resolve_scheme({"load_in_8bit": True})
    assert resolve_scheme({"weights": "int8"}) == "int8"
    assert resolve_scheme("bfloat16") == resolve_scheme(type("Cfg", (), {"quant_type": "bf16"})()) == "bf16"
    for bad in ("int4", {"load_in_4bit": True}, {}):
        with pytest.raises(QuantizationError, match="int8"):
            resolve_scheme(bad)


@pytest.fixture(scope="module", params=["llama-tied", "gpt2-conv1d", "phi-head-bias"])
def folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    configs: dict[str, Any] = {
        "llama-tied": transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2,
                                               num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
                                               tie_word_embeddings=True, pad_token_id=0),
        "gpt2-conv1d": transformers.GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                                               bos_token_id=1, eos_token_id=2),
        "phi-head-bias": transformers.PhiConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2,
                                                num_attention_heads=4, intermediate_size=128),
    }
    path = tmp_path_factory.mktemp(request.param)
    save_reference(configs[request.param], path)
    return path


@pytest.mark.parametrize("scheme", ["int8", "bf16"])
def test_quantized_models_stay_close_to_fp32(folder: Path, scheme: str) -> None:
    full = AutoModelForCausalLM.from_pretrained(folder)
    quantized = AutoModelForCausalLM.from_pretrained(folder, quantization=scheme)
    assert is_quantized(quantized) and quantized.quantization == scheme
    layer_type = Int8Linear if scheme == "int8" else BF16Linear
    assert isinstance(quantized.lm_head, layer_type)
    assert not any(type(m).__name__ in ("Linear", "Conv1D") for m in quantized.modules())
    embeddings = quantized.get_input_embeddings().weight
    assert embeddings.dtype == torch.float32  # the lookup table stays float, the head got its own copy
    ids, mask = padded_batch()
    with torch.no_grad():
        expected = full(ids, attention_mask=mask).logits[mask.bool()]
        prefill = quantized(ids, attention_mask=mask).logits[mask.bool()]
        decode = quantized(ids[:1, -1:]).logits[0]  # one row: the decode kernel
        decode_expected = full(ids[:1, -1:]).logits[0]
    for got, want in ((prefill, expected), (decode, decode_expected)):
        assert (got - want).abs().max() / want.abs().max() < 0.05
    assert quantized.generate(ids, attention_mask=mask, max_new_tokens=4).shape == (2, ids.shape[1] + 4)


def test_quantize_method_skip_and_refusals(folder: Path, tmp_path: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(folder).quantize("int8", skip=(r"lm_head",))
    assert type(model.lm_head).__name__ == "Linear"
    with pytest.raises(QuantizationError, match="save the float model"):
        model.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(QuantizationError, match="unknown quantization"):
        AutoModelForCausalLM.from_pretrained(folder, quantization="fp4")
    with pytest.raises(QuantizationError, match="no linear layers"):
        AutoModelForCausalLM.from_pretrained(folder).quantize("int8", skip=(".",))


@pytest.fixture(scope="module")
def smollm2() -> tuple[Any, Any, torch.Tensor, torch.Tensor]:
    path = asset("smollm2_gguf")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    full = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    ids = torch.tensor([tokenizer("The capital of France is")["input_ids"]])
    with torch.no_grad():
        expected = full(ids).logits[0, -1]
    return tokenizer, full, ids, expected


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["int8", "bf16"])
def test_smollm2_real_weights_still_say_paris(smollm2: tuple[Any, Any, torch.Tensor, torch.Tensor],
                                              scheme: str) -> None:
    tokenizer, full, ids, want = smollm2
    model = copy.deepcopy(full).quantize(scheme)
    with torch.no_grad():
        got = model(ids).logits[0, -1]
    assert (got - want).abs().max() / want.abs().max() < 0.05
    assert int(got.argmax()) == int(want.argmax())
    out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert tokenizer.decode(out[0, ids.shape[1]:]).startswith(" Paris")
