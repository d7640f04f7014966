"""LoRA parity with the real PEFT library (test-only oracle) on tiny Llama, BERT and GPT-2 checkpoints built with
transformers: same trainable parameter names and counts, same seeded init, same outputs, adapters saved by either
library load in the other, same merged weights."""

from __future__ import annotations

import json

import pytest
import torch
from tests.peft.conftest import save_tiny

import embrace.peft as ep

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")


def _pair(ref_cls, ours_cls, folder, config_kwargs, seed=1):
    """The same LoRA config applied, from the same seed, to the reference model and to ours."""
    ref_base, ours_base = ref_cls.from_pretrained(folder), ours_cls.from_pretrained(folder)
    torch.manual_seed(seed)
    ref = peft.get_peft_model(ref_base, peft.LoraConfig(**config_kwargs))
    torch.manual_seed(seed)
    ours = ep.get_peft_model(ours_base, ep.LoraConfig(**config_kwargs))
    return ref, ours


def _trainable(model):
    return [name for name, p in model.named_parameters() if p.requires_grad]


def _check_pair(ref, ours, inputs, tmp_path, ours_cls, ref_cls, folder, output="logits", atol=1e-5):
    assert _trainable(ours) == _trainable(ref)
    assert ours.get_nb_trainable_parameters() == ref.get_nb_trainable_parameters()
    ref.eval()
    ours.eval()
    with torch.no_grad():
        ref_out, ours_out = getattr(ref(**inputs), output), getattr(ours(**inputs), output)
    torch.testing.assert_close(ours_out, ref_out, atol=atol, rtol=0)  # seeded init draws the same numbers

    # adapters saved by PEFT load in embrace, and the other way round
    ref.save_pretrained(tmp_path / "from_ref")
    ours.save_pretrained(tmp_path / "from_ours")
    loaded_ours = ep.PeftModel.from_pretrained(ours_cls.from_pretrained(folder), tmp_path / "from_ref")
    loaded_ref = peft.PeftModel.from_pretrained(ref_cls.from_pretrained(folder), tmp_path / "from_ours")
    assert type(loaded_ours).__name__ == type(ref).__name__
    with torch.no_grad():
        torch.testing.assert_close(getattr(loaded_ours(**inputs), output), ref_out, atol=atol, rtol=0)
        torch.testing.assert_close(getattr(loaded_ref(**inputs), output), ref_out, atol=atol, rtol=0)
    from safetensors import safe_open

    with safe_open(tmp_path / "from_ours" / "adapter_model.safetensors", "pt") as ours_file, \
            safe_open(tmp_path / "from_ref" / "adapter_model.safetensors", "pt") as ref_file:
        ref_names = ref_file.keys()  # safe_open objects are not iterable
        ref_keys = {k for k in ref_names if not k.endswith("base_layer.weight")}  # PEFT's embedding copy
        assert set(ours_file.keys()) == ref_keys
        assert ours_file.metadata() == {"format": "pt"}

    # merged weights are the same
    merged_ref = ref.merge_and_unload().state_dict()
    merged_ours = ours.merge_and_unload().state_dict()
    for key, value in merged_ours.items():
        torch.testing.assert_close(value, merged_ref[key], atol=1e-6, rtol=0, msg=key)


@pytest.mark.parametrize("targets", [["q_proj", "v_proj", "embed_tokens"], "all-linear", r".*\.mlp\.(up|down)_proj"])
def test_llama_causal_lm(llama_dir, tmp_path, targets):
    from embrace.models.llama import LlamaForCausalLM

    kwargs = {"r": 4, "lora_alpha": 8, "target_modules": targets, "init_lora_weights": False, "task_type": "CAUSAL_LM"}
    ref, ours = _pair(transformers.LlamaForCausalLM, LlamaForCausalLM, llama_dir, kwargs)
    assert type(ours) is ep.PeftModelForCausalLM
    inputs = {"input_ids": torch.randint(0, 100, (2, 7)), "attention_mask": torch.ones(2, 7, dtype=torch.long)}
    inputs["attention_mask"][1, -2:] = 0  # right padding: padded rows are not compared by content anyway
    _check_pair(ref, ours, inputs, tmp_path, LlamaForCausalLM, transformers.LlamaForCausalLM, llama_dir)


@pytest.mark.parametrize("extra", [{}, {"use_rslora": True, "init_lora_weights": "gaussian", "bias": "all"},
                                   {"bias": "lora_only", "exclude_modules": ["down_proj"]}])
def test_llama_config_options(llama_dir, tmp_path, extra):
    from embrace.models.llama import LlamaForCausalLM

    kwargs = {"r": 8, "lora_alpha": 16, "target_modules": "all-linear", **extra}
    ref, ours = _pair(transformers.LlamaForCausalLM, LlamaForCausalLM, llama_dir, kwargs, seed=3)
    with torch.no_grad():  # make B non-zero so the adapters do something
        for model in (ref, ours):
            torch.manual_seed(5)
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(std=0.1)
    assert type(ours) is ep.PeftModel
    inputs = {"input_ids": torch.randint(0, 100, (1, 9))}
    _check_pair(ref, ours, inputs, tmp_path, LlamaForCausalLM, transformers.LlamaForCausalLM, llama_dir)


def test_bert_sequence_classification_head(bert_dir, tmp_path):
    from embrace.models.bert import BertForSequenceClassification

    kwargs = {"r": 4, "target_modules": ["query", "value"], "task_type": "SEQ_CLS", "init_lora_weights": False}
    ref, ours = _pair(transformers.BertForSequenceClassification, BertForSequenceClassification, bert_dir, kwargs)
    assert ours.peft_config["default"].modules_to_save == ref.peft_config["default"].modules_to_save
    assert "base_model.model.classifier.modules_to_save.default.weight" in _trainable(ours)
    inputs = {"input_ids": torch.randint(0, 100, (2, 6)), "attention_mask": torch.ones(2, 6, dtype=torch.long)}
    with torch.no_grad():  # a trained head: the copy differs from the frozen original
        for model in (ref, ours):
            model.base_model.model.classifier.modules_to_save["default"].weight.fill_(0.05)
    _check_pair(ref, ours, inputs, tmp_path, BertForSequenceClassification,
                transformers.BertForSequenceClassification, bert_dir)


def test_bert_all_linear_skips_classifier(bert_dir):
    from embrace.models.bert import BertForSequenceClassification

    kwargs = {"r": 2, "target_modules": "all-linear", "task_type": "SEQ_CLS"}
    ref, ours = _pair(transformers.BertForSequenceClassification, BertForSequenceClassification, bert_dir, kwargs)
    assert _trainable(ours) == _trainable(ref)
    assert sorted(ours.peft_config["default"].target_modules) == sorted(ref.peft_config["default"].target_modules)


def test_gpt2_conv1d_fan_in_fan_out(gpt2_dir, tmp_path):
    from embrace.models.gpt2 import GPT2LMHeadModel

    kwargs = {"r": 4, "target_modules": ["c_attn", "c_proj", "c_fc"], "init_lora_weights": False,
              "task_type": "CAUSAL_LM", "fan_in_fan_out": True}
    ref, ours = _pair(transformers.GPT2LMHeadModel, GPT2LMHeadModel, gpt2_dir, kwargs)
    inputs = {"input_ids": torch.randint(0, 100, (2, 5))}
    _check_pair(ref, ours, inputs, tmp_path, GPT2LMHeadModel, transformers.GPT2LMHeadModel, gpt2_dir)


def test_bf16_base(llama_dir, tmp_path):
    from embrace.models.llama import LlamaForCausalLM

    kwargs = {"r": 4, "target_modules": ["q_proj", "v_proj"], "init_lora_weights": False}
    torch.manual_seed(2)
    ref = peft.get_peft_model(transformers.LlamaForCausalLM.from_pretrained(llama_dir, dtype=torch.bfloat16),
                              peft.LoraConfig(**kwargs))
    torch.manual_seed(2)
    ours = ep.get_peft_model(LlamaForCausalLM.from_pretrained(llama_dir, dtype=torch.bfloat16), ep.LoraConfig(**kwargs))
    adapter = ours.base_model.model.model.layers[0].self_attn.q_proj
    assert adapter.lora_A["default"].weight.dtype == torch.float32  # adapters train in fp32 on a bf16 base
    assert adapter.base_layer.weight.dtype == torch.bfloat16
    ids = torch.randint(0, 100, (1, 6))
    with torch.no_grad():
        ref_logits, ours_logits = ref(input_ids=ids).logits, ours(input_ids=ids).logits
    assert ours_logits.dtype == torch.bfloat16
    torch.testing.assert_close(ours_logits.float(), ref_logits.float(), atol=2e-2, rtol=0)
    ref.save_pretrained(tmp_path / "ref")
    ours.save_pretrained(tmp_path / "ours")
    from safetensors.torch import load_file

    ref_state, ours_state = load_file(tmp_path / "ref" / "adapter_model.safetensors"), load_file(
        tmp_path / "ours" / "adapter_model.safetensors")
    assert ref_state.keys() == ours_state.keys()
    for key in ref_state:
        assert torch.equal(ref_state[key], ours_state[key]), key


def test_config_file_round_trip(llama_dir, tmp_path):
    """adapter_config.json written by each library reads in the other with the same values."""
    from embrace.models.llama import LlamaForCausalLM

    kwargs = {"r": 4, "lora_alpha": 32, "lora_dropout": 0.1, "target_modules": ["q_proj", "k_proj"],
              "modules_to_save": ["lm_head"], "use_rslora": True, "task_type": "CAUSAL_LM", "bias": "lora_only"}
    ref, ours = _pair(transformers.LlamaForCausalLM, LlamaForCausalLM, llama_dir, kwargs)
    assert _trainable(ours) == _trainable(ref)
    ref.save_pretrained(tmp_path / "ref")
    ours.save_pretrained(tmp_path / "ours")
    ours_json = json.loads((tmp_path / "ours" / "adapter_config.json").read_text())
    ref_json = json.loads((tmp_path / "ref" / "adapter_config.json").read_text())
    for key in ("r", "lora_alpha", "lora_dropout", "use_rslora", "task_type", "bias", "modules_to_save",
                "peft_type", "inference_mode", "fan_in_fan_out", "init_lora_weights"):
        assert ours_json[key] == ref_json[key], key
    assert sorted(ours_json["target_modules"]) == sorted(ref_json["target_modules"])
    read_by_ref = peft.LoraConfig.from_pretrained(tmp_path / "ours")
    read_by_ours = ep.LoraConfig.from_pretrained(tmp_path / "ref")
    assert read_by_ref.r == read_by_ours.r == 4 and read_by_ref.use_rslora and read_by_ours.use_rslora
    assert read_by_ours.task_type == ep.TaskType.CAUSAL_LM


def test_bert_token_classification_head(tmp_path_factory, tmp_path):
    from embrace.models.bert import BertForTokenClassification

    folder = save_tiny(tmp_path_factory, "bert_tok", transformers.BertForTokenClassification, transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
        num_labels=5))
    kwargs = {"r": 2, "target_modules": ["query", "key"], "task_type": "TOKEN_CLS", "init_lora_weights": False}
    ref, ours = _pair(transformers.BertForTokenClassification, BertForTokenClassification, folder, kwargs)
    assert type(ours).__name__ == "PeftModelForTokenClassification"
    inputs = {"input_ids": torch.randint(0, 100, (2, 6))}
    _check_pair(ref, ours, inputs, tmp_path, BertForTokenClassification, transformers.BertForTokenClassification,
                folder)
