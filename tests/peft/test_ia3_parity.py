"""(IA)^3 parity with the real PEFT library on tiny Llama, BERT and GPT-2 checkpoints: same trainable parameters,
seeded init and outputs, adapters cross-load both ways, same merged weights."""

from __future__ import annotations

import pytest
import torch

import embrace.peft as ep

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def folders(llama_dir, bert_dir, gpt2_dir):
    return {"llama": llama_dir, "bert": bert_dir, "gpt2": gpt2_dir}


def _classes(family):
    from embrace.models.bert import BertForSequenceClassification
    from embrace.models.gpt2 import GPT2LMHeadModel
    from embrace.models.llama import LlamaForCausalLM

    return {"llama": (transformers.LlamaForCausalLM, LlamaForCausalLM, "CAUSAL_LM"),
            "bert": (transformers.BertForSequenceClassification, BertForSequenceClassification, "SEQ_CLS"),
            "gpt2": (transformers.GPT2LMHeadModel, GPT2LMHeadModel, "CAUSAL_LM")}[family]


@pytest.mark.parametrize("family", ["llama", "bert", "gpt2"])
def test_ia3_matches_peft(folders, tmp_path, family):
    ref_cls, ours_cls, task = _classes(family)
    folder = folders[family]
    kwargs = {"task_type": task, "init_ia3_weights": False}  # family defaults for target/feed-forward modules
    if family == "gpt2":
        kwargs["fan_in_fan_out"] = True
    ref_base, ours_base = ref_cls.from_pretrained(folder), ours_cls.from_pretrained(folder)
    torch.manual_seed(1)
    ref = peft.get_peft_model(ref_base, peft.IA3Config(**kwargs))
    torch.manual_seed(1)
    ours = ep.get_peft_model(ours_base, ep.IA3Config(**kwargs))
    trainable = [n for n, p in ours.named_parameters() if p.requires_grad]
    assert trainable == [n for n, p in ref.named_parameters() if p.requires_grad]
    assert any(n.endswith("ia3_l.default") for n in trainable)
    assert ours.get_nb_trainable_parameters() == ref.get_nb_trainable_parameters()
    ids = torch.randint(0, 100, (2, 6))
    ref.eval()
    ours.eval()
    with torch.no_grad():
        expected = ref(input_ids=ids).logits
        torch.testing.assert_close(ours(input_ids=ids).logits, expected, atol=1e-5, rtol=0)

    ref.save_pretrained(tmp_path / "ref")
    ours.save_pretrained(tmp_path / "ours")
    from safetensors.torch import load_file

    assert load_file(tmp_path / "ours" / "adapter_model.safetensors").keys() == load_file(
        tmp_path / "ref" / "adapter_model.safetensors").keys()
    loaded_ours = ep.PeftModel.from_pretrained(ours_cls.from_pretrained(folder), tmp_path / "ref")
    loaded_ref = peft.PeftModel.from_pretrained(ref_cls.from_pretrained(folder), tmp_path / "ours")
    assert isinstance(loaded_ours.peft_config["default"], ep.IA3Config)
    with torch.no_grad():
        torch.testing.assert_close(loaded_ours(input_ids=ids).logits, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(loaded_ref(input_ids=ids).logits, expected, atol=1e-5, rtol=0)

    ours.merge_adapter()
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=ids).logits, expected, atol=1e-5, rtol=0)
    ours.unmerge_adapter()
    merged_ref = ref.merge_and_unload().state_dict()
    for key, value in ours.merge_and_unload().state_dict().items():
        torch.testing.assert_close(value, merged_ref[key], atol=1e-6, rtol=0, msg=key)


def test_ia3_config_errors():
    with pytest.raises(ep.AdapterConfigError, match="subset"):
        ep.IA3Config(target_modules=["k_proj"], feedforward_modules=["down_proj"])
    from embrace.models.llama import LlamaConfig, LlamaForCausalLM

    model = ep.get_peft_model(LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
                                                           num_hidden_layers=1, num_attention_heads=2)),
                              ep.IA3Config())
    with pytest.raises(ep.AdapterConfigError, match="IA3Config adapters"):
        model.add_adapter("lora", ep.LoraConfig(target_modules=["q_proj"]))
