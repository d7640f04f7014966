"""Adapters on a hub: ``PeftModel.push_to_hub`` uploads only the adapter files to `embrace hub serve`;
``PeftModel.from_pretrained(base, repo_id)`` loads them through the hub client, and the real ``peft`` +
``huggingface_hub`` load the same repo with the same outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.hub.hub_helpers import HubServer, run_reference

from embrace.hub import HfApi
from embrace.models.llama import LlamaForCausalLM
from embrace.peft import LoraConfig, PeftModel, get_peft_model

transformers = pytest.importorskip("transformers")

IDS = [[3, 17, 5, 9, 22]]


def test_push_adapter_and_load_it_back_in_both_libraries(online: HubServer, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path / "base")
    model = get_peft_model(LlamaForCausalLM.from_pretrained(tmp_path / "base"),
                           LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                                      task_type="CAUSAL_LM"))
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=torch.tensor(IDS)).logits
    model.push_to_hub("alice/tiny-lora", commit_message="adapter")
    files = {f.rfilename for f in HfApi().model_info("alice/tiny-lora").siblings}
    assert files == {"adapter_config.json", "adapter_model.safetensors", ".gitattributes"} or files == {
        "adapter_config.json", "adapter_model.safetensors"}

    loaded = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(tmp_path / "base"), "alice/tiny-lora")
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=torch.tensor(IDS)).logits, expected, atol=1e-6, rtol=0)

    script = f"""
    import json, torch
    from peft import PeftModel
    from transformers import LlamaForCausalLM
    base = LlamaForCausalLM.from_pretrained({str(tmp_path / "base")!r})
    model = PeftModel.from_pretrained(base, "alice/tiny-lora").eval()
    with torch.no_grad():
        print(json.dumps(model(input_ids=torch.tensor({IDS})).logits.tolist()))
    """
    reference = run_reference(script, endpoint=online.url, hf_home=tmp_path / "ref_home",
                              token=online.tokens["alice"], timeout=400)
    torch.testing.assert_close(torch.tensor(reference), expected, atol=1e-5, rtol=0)
