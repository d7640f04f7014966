"""LoRA on real weights: SmolLM2-135M (the offline GGUF asset) fine-tuned for a few steps on Moby-Dick text."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import asset

from embrace import AutoModelForCausalLM, AutoTokenizer
from embrace.peft import LoraConfig, PeftModel, get_peft_model

pytestmark = pytest.mark.slow


def test_smollm2_lora_fine_tuning_reduces_loss(tmp_path):
    gguf = asset("smollm2_gguf")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    text = (asset("moby_dick") / "data.txt").read_text(encoding="utf-8")[:4000]
    ids = torch.tensor(tokenizer(text)["input_ids"][: 4 * 48]).view(4, 48)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                  task_type="CAUSAL_LM"))
    trainable, total = peft_model.get_nb_trainable_parameters()
    assert trainable == 30 * (8 * 576 + 576 * 8 + 8 * 576 + 192 * 8) and total > 134_000_000
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=2e-3)
    peft_model.train()
    losses = []
    for _ in range(6):
        loss = peft_model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.2, losses
    peft_model.eval()
    with torch.no_grad():
        unmerged = peft_model(input_ids=ids[:1]).logits
    peft_model.save_pretrained(tmp_path)
    assert (tmp_path / "adapter_model.safetensors").stat().st_size < 2_000_000  # the adapter only, not 135M weights
    merged = peft_model.merge_and_unload()
    with torch.no_grad():
        # 30 real layers, logits up to ~20: merged and unmerged differ by fp32 summation order (up to ~1.5e-4)
        torch.testing.assert_close(merged(input_ids=ids[:1]).logits, unmerged, atol=3e-4, rtol=1e-5)
    reloaded = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name), tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids[:1]).logits, unmerged, atol=1e-4, rtol=0)
