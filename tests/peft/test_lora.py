"""LoRA behaviour on embrace models: merge/unmerge, disabling, several named adapters, generation, fine-tuning
reduces the loss, bf16 bases, and clear typed errors for bad input."""

from __future__ import annotations

import json

import pytest
import torch

import embrace
from embrace.models.llama import LlamaConfig, LlamaForCausalLM
from embrace.peft import (
    AdapterConfigError,
    AdapterWeightsError,
    LoraConfig,
    PeftModel,
    PeftModelForCausalLM,
    TargetModulesNotFoundError,
    UnknownAdapterError,
    UnsupportedTargetError,
    get_peft_model,
)


def tiny_llama(hidden: int = 32, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def lora(**kw) -> LoraConfig:
    return LoraConfig(**{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM",
                         **kw})


def randomize_b(model: torch.nn.Module, adapter: str = "default", seed: int = 0) -> None:
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if f"lora_B.{adapter}." in name or name.endswith(f"lora_embedding_A.{adapter}"):
                p.normal_(std=0.2)


IDS = torch.tensor([[5, 9, 2, 33, 17, 8], [1, 2, 3, 4, 5, 6]])


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_wrapping_in_place_and_names():
    base = tiny_llama()
    q_proj = base.model.layers[0].self_attn.q_proj
    model = get_peft_model(base, lora(target_modules=["q_proj", "v_proj", "embed_tokens"]))
    assert isinstance(model, PeftModelForCausalLM)
    wrapped = model.base_model.model.model.layers[0].self_attn.q_proj
    assert wrapped.base_layer is q_proj  # the existing Linear is reused, not copied
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight" in names
    assert "base_model.model.model.embed_tokens.lora_embedding_A.default" in names
    assert all("lora_" in n for n in names)
    assert model.config is base.config and model.get_base_model() is base  # passthrough


def test_zero_init_is_a_no_op_and_trainable_count(capsys):
    base = tiny_llama()
    before = logits(base)
    model = get_peft_model(base, lora())
    torch.testing.assert_close(logits(model), before, atol=0, rtol=0)  # B starts at zero
    trainable, total = model.get_nb_trainable_parameters()
    # q_proj (32->32) and v_proj (32->16) per layer: A (4x32) + B (32x4 or 16x4)
    assert trainable == 2 * (4 * 32 + 32 * 4 + 4 * 32 + 16 * 4)
    assert total == sum(p.numel() for p in base.parameters())
    model.print_trainable_parameters()
    assert capsys.readouterr().out.strip() == (f"trainable params: {trainable:,d} || all params: {total:,d} || "
                                               f"trainable%: {100 * trainable / total:.4f}")


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], "all-linear", ["embed_tokens", "o_proj"]])
def test_merged_and_unmerged_logits_agree(targets):
    base = tiny_llama()
    plain = logits(base)
    model = get_peft_model(base, lora(target_modules=targets))
    randomize_b(model)
    unmerged = logits(model)
    assert (unmerged - plain).abs().max() > 1e-3  # the adapter changes the output
    model.merge_adapter()
    torch.testing.assert_close(logits(model), unmerged, atol=1e-5, rtol=0)
    model.unmerge_adapter()
    torch.testing.assert_close(logits(model), unmerged, atol=1e-5, rtol=0)
    with model.disable_adapter():
        torch.testing.assert_close(logits(model), plain, atol=1e-5, rtol=0)
    merged = model.merge_and_unload()
    assert type(merged) is LlamaForCausalLM
    assert not any("lora" in n or "base_layer" in n for n, _ in merged.named_parameters())
    torch.testing.assert_close(logits(merged), unmerged, atol=1e-5, rtol=0)


def test_disable_adapter_while_merged_unmerges():
    base = tiny_llama()
    plain = logits(base)
    model = get_peft_model(base, lora())
    randomize_b(model)
    adapted = logits(model)
    model.merge_adapter()
    with model.disable_adapter():
        torch.testing.assert_close(logits(model), plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(logits(model), adapted, atol=1e-5, rtol=0)


def test_several_named_adapters(tmp_path):
    base = tiny_llama()
    plain = logits(base)
    model = get_peft_model(base, lora())
    randomize_b(model, seed=1)
    first = logits(model)
    model.add_adapter("other", lora(target_modules=["k_proj", "q_proj"], r=2))
    assert model.active_adapter == "default"  # adding does not switch
    assert not any(".other." in n for n, p in model.named_parameters() if p.requires_grad)
    randomize_b(model, "other", seed=2)
    torch.testing.assert_close(logits(model), first, atol=0, rtol=0)
    model.set_adapter("other")
    second = logits(model)
    assert (second - first).abs().max() > 1e-3 and (second - plain).abs().max() > 1e-3
    assert all(".other." in n for n, p in model.named_parameters() if p.requires_grad)
    with pytest.raises(UnknownAdapterError, match="'missing'.*\\['default', 'other'\\]"):
        model.set_adapter("missing")

    model.save_pretrained(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").exists() and (tmp_path / "other" / "adapter_config.json").exists()
    loaded = PeftModel.from_pretrained(tiny_llama(), tmp_path)
    torch.testing.assert_close(logits(loaded), first, atol=1e-6, rtol=0)
    loaded.load_adapter(tmp_path / "other", adapter_name="other")
    torch.testing.assert_close(logits(loaded), first, atol=1e-6, rtol=0)
    loaded.set_adapter("other")
    torch.testing.assert_close(logits(loaded), second, atol=1e-6, rtol=0)
    loaded.delete_adapter("other")
    assert list(loaded.peft_config) == ["default"]
    torch.testing.assert_close(logits(loaded), first, atol=1e-6, rtol=0)


def test_from_pretrained_trainable_flag(tmp_path):
    model = get_peft_model(tiny_llama(), lora())
    model.save_pretrained(tmp_path)
    frozen = PeftModel.from_pretrained(tiny_llama(), tmp_path)
    assert isinstance(frozen, PeftModelForCausalLM) and not frozen.training
    assert not any(p.requires_grad for p in frozen.parameters())
    trainable = PeftModel.from_pretrained(tiny_llama(), tmp_path, is_trainable=True)
    names = [n for n, p in trainable.named_parameters() if p.requires_grad]
    assert names == [n for n, p in model.named_parameters() if p.requires_grad]
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["inference_mode"] is True and config["peft_type"] == "LORA"


def test_generate_uses_the_adapter():
    base = tiny_llama()
    model = get_peft_model(base, lora(target_modules="all-linear"))
    randomize_b(model, seed=3)
    prompt = IDS[:1]
    adapted = model.generate(prompt, max_new_tokens=6, do_sample=False)
    with model.disable_adapter():
        plain = model.generate(prompt, max_new_tokens=6, do_sample=False)
    merged = model.merge_and_unload().generate(prompt, max_new_tokens=6, do_sample=False)
    assert torch.equal(adapted, merged)
    assert not torch.equal(adapted, plain)


def test_fine_tuning_reduces_loss_and_leaves_base_untouched():
    base = tiny_llama()
    frozen_before = {k: v.clone() for k, v in base.state_dict().items()}
    model = get_peft_model(base, lora(target_modules="all-linear", r=8, lora_alpha=16))
    model.train()
    torch.manual_seed(0)
    data = torch.randint(0, 64, (8, 12))
    data[:, 1::2] = (data[:, 0::2] + 1) % 64  # a learnable pattern: every odd token is its predecessor + 1
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(30):
        loss = model(input_ids=data, labels=data).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0] and losses[-1] < min(losses[:5])
    after = model.get_base_model().state_dict()
    for key, value in frozen_before.items():
        live = after.get(key, after.get(key.replace(".weight", ".base_layer.weight")))
        assert torch.equal(live, value), key


def test_bf16_base_merge_and_train():
    base = tiny_llama().to(torch.bfloat16)
    model = get_peft_model(base, lora(init_lora_weights=False))
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    assert layer.lora_A["default"].weight.dtype == torch.float32
    out = model(input_ids=IDS, labels=IDS)
    assert out.logits.dtype == torch.bfloat16
    out.loss.backward()
    assert layer.lora_A["default"].weight.grad is not None and layer.base_layer.weight.grad is None
    unmerged = logits(model).float()
    merged = model.merge_and_unload()
    assert merged.model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    torch.testing.assert_close(logits(merged).float(), unmerged, atol=0.1, rtol=0.05)


def test_classification_head_is_saved(tmp_path):
    from embrace.models.bert import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=64, num_labels=3)
    base = BertForSequenceClassification(config).eval()
    model = get_peft_model(base, LoraConfig(r=2, task_type="SEQ_CLS"))  # default targets for bert: query, value
    assert sorted(model.peft_config["default"].target_modules) == ["query", "value"]
    with torch.no_grad():
        model.base_model.model.classifier.modules_to_save["default"].weight.add_(0.5)
    expected = model(input_ids=IDS).logits
    model.save_pretrained(tmp_path)
    from safetensors.torch import load_file

    keys = set(load_file(tmp_path / "adapter_model.safetensors"))
    assert {"base_model.model.classifier.weight", "base_model.model.classifier.bias"} <= keys
    torch.manual_seed(0)
    fresh = BertForSequenceClassification(config).eval()
    loaded = PeftModel.from_pretrained(fresh, tmp_path)
    torch.testing.assert_close(loaded(input_ids=IDS).logits, expected, atol=1e-6, rtol=0)
    merged = loaded.merge_and_unload()
    torch.testing.assert_close(merged(input_ids=IDS).logits, expected, atol=1e-5, rtol=0)


# ---- bad input -----------------------------------------------------------------------------------------------
def test_targets_that_match_nothing():
    with pytest.raises(TargetModulesNotFoundError, match=r"\['qproj'\] matched no module.*self_attn\.q_proj"):
        get_peft_model(tiny_llama(), lora(target_modules=["qproj"]))
    with pytest.raises(TargetModulesNotFoundError):
        get_peft_model(tiny_llama(), lora(target_modules=r"q_proj"))  # a regex must match the full name
    with pytest.raises(UnsupportedTargetError, match="RMSNorm"):
        get_peft_model(tiny_llama(), lora(target_modules=["input_layernorm"]))


def test_adapter_for_a_different_base(tmp_path):
    get_peft_model(tiny_llama(hidden=32), lora()).save_pretrained(tmp_path)
    other = tiny_llama(hidden=48)
    with pytest.raises(AdapterWeightsError, match="shape mismatch.*different model"):
        PeftModel.from_pretrained(other, tmp_path)
    peft_model = get_peft_model(tiny_llama(hidden=48), lora())
    with pytest.raises(AdapterWeightsError):
        peft_model.load_adapter(tmp_path, adapter_name="wrong")
    assert list(peft_model.peft_config) == ["default"]  # the failed load left nothing behind


def test_bad_configs_and_files(tmp_path):
    with pytest.raises(AdapterConfigError, match="positive integer"):
        LoraConfig(r=0)
    with pytest.raises(AdapterConfigError, match="bias"):
        LoraConfig(bias="some")
    with pytest.raises(AdapterConfigError, match="init_lora_weights"):
        LoraConfig(init_lora_weights="pissa")
    with pytest.raises(AdapterConfigError, match="task_type"):
        LoraConfig(task_type="TRANSLATE")
    model = get_peft_model(tiny_llama(), lora())
    model.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "adapter_config.json").read_text())
    (tmp_path / "adapter_config.json").write_text(json.dumps({**data, "use_dora": True}))
    with pytest.raises(AdapterConfigError, match="use_dora"):
        PeftModel.from_pretrained(tiny_llama(), tmp_path)
    (tmp_path / "adapter_config.json").write_text("{not json")
    with pytest.raises(AdapterConfigError, match="not valid JSON"):
        PeftModel.from_pretrained(tiny_llama(), tmp_path)
    with pytest.raises(embrace.errors.EmbraceFileNotFoundError):
        PeftModel.from_pretrained(tiny_llama(), tmp_path / "nowhere")
    with pytest.raises(AdapterConfigError, match="already exists"):
        model.add_adapter("default", lora())


def test_save_is_atomic_and_complete(tmp_path):
    model = get_peft_model(tiny_llama(), lora())
    model.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    (tmp_path / "adapter_model.safetensors").write_bytes(b"\x00\x01broken")
    with pytest.raises(AdapterWeightsError, match="cannot read adapter weights"):
        PeftModel.from_pretrained(tiny_llama(), tmp_path)
    with pytest.raises(embrace.errors.EmbraceFileNotFoundError, match="is a file"):
        model.save_pretrained(tmp_path / "adapter_config.json")


def test_custom_adapter_name_and_subfolder(tmp_path):
    model = get_peft_model(tiny_llama(), lora(init_lora_weights=False))
    expected = logits(model)
    model.save_pretrained(tmp_path / "outer" / "inner")
    loaded = PeftModel.from_pretrained(tiny_llama(), tmp_path / "outer", subfolder="inner", adapter_name="mine")
    assert loaded.active_adapter == "mine"
    assert any(".lora_A.mine." in n for n, _ in loaded.named_parameters())
    torch.testing.assert_close(logits(loaded), expected, atol=1e-6, rtol=0)
    with pytest.raises(UnknownAdapterError):
        loaded.save_pretrained(tmp_path / "again", selected_adapters=["default"])


def test_modules_to_save_that_match_nothing_change_nothing():
    base = tiny_llama()
    with pytest.raises(TargetModulesNotFoundError, match="modules_to_save"):
        get_peft_model(base, lora(modules_to_save=["scorer"]))
    assert not any("lora" in n for n, _ in base.named_parameters())  # no half-wrapped model left behind
