"""LoRA models train with the embrace Trainer: only the adapter goes into checkpoints and ``save_model``, the
checkpoint loads back with ``PeftModel.from_pretrained``, and a classification head trains via modules_to_save."""

from __future__ import annotations

import torch
from tests.training._helpers import classification_data, tiny_classifier

from embrace.models.llama import LlamaConfig, LlamaForCausalLM
from embrace.peft import LoraConfig, PeftModel, get_peft_model
from embrace.training import Trainer, TrainingArguments


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=48, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32))


def lm_data(n: int = 16, length: int = 10) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(n):
        ids = torch.randint(3, 48, (length,), generator=g)
        ids[1::2] = (ids[0::2] + 1) % 48
        rows.append({"input_ids": ids.tolist(), "attention_mask": [1] * length, "labels": ids.tolist()})
    return rows


def _args(tmp_path, **kw) -> TrainingArguments:
    base = {"output_dir": str(tmp_path), "disable_tqdm": True, "logging_steps": 1, "per_device_train_batch_size": 4,
            "learning_rate": 1e-2, "report_to": []}
    return TrainingArguments(**{**base, **kw})


def test_causal_lm_checkpoints_hold_only_the_adapter(tmp_path):
    base = tiny_llama()
    base_before = {k: v.clone() for k, v in base.state_dict().items()}
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    trainer = Trainer(model=model, args=_args(tmp_path, max_steps=12, save_steps=6), train_dataset=lm_data())
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert losses[-1] < losses[0]
    checkpoint = tmp_path / "checkpoint-12"
    files = {p.name for p in checkpoint.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "optimizer.pt", "trainer_state.json"} <= files
    assert not files & {"model.safetensors", "pytorch_model.bin", "config.json"}
    optimizer_params = sum(p.numel() for group in trainer.optimizer.param_groups for p in group["params"])
    assert optimizer_params == model.get_nb_trainable_parameters()[0]
    for key, value in base_before.items():  # frozen base weights did not move
        live = model.get_base_model().state_dict()
        assert torch.equal(live.get(key, live.get(key.replace(".weight", ".base_layer.weight"))), value), key

    trainer.save_model(str(tmp_path / "final"))
    assert (tmp_path / "final" / "adapter_model.safetensors").exists()
    reloaded = PeftModel.from_pretrained(tiny_llama(), tmp_path / "final")
    ids = torch.tensor([lm_data(1)[0]["input_ids"]])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-6, rtol=0)


def test_sequence_classification_head_trains_and_reloads(tmp_path):
    model = get_peft_model(tiny_classifier(), LoraConfig(r=4, target_modules=["query", "value"], task_type="SEQ_CLS"))
    head_before = model.base_model.model.classifier.original_module.weight.clone()
    data = [{k: v for k, v in row.items() if k != "text"} for row in classification_data(32)]
    trainer = Trainer(model=model, args=_args(tmp_path, num_train_epochs=3, save_strategy="no"), train_dataset=data)
    trainer.train()
    trained_head = model.base_model.model.classifier.modules_to_save["default"].weight
    assert not torch.equal(trained_head, head_before)  # the head copy trained ...
    assert torch.equal(model.base_model.model.classifier.original_module.weight, head_before)  # ... not the original
    trainer.save_model(str(tmp_path / "final"))
    predictions = trainer.predict(data).predictions
    reloaded = PeftModel.from_pretrained(tiny_classifier(), tmp_path / "final")
    again = Trainer(model=reloaded, args=_args(tmp_path)).predict(data).predictions
    assert torch.allclose(torch.as_tensor(again), torch.as_tensor(predictions), atol=1e-5)


def test_resume_from_an_adapter_checkpoint_is_exact(tmp_path):
    def run(output, **kw):
        model = get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
        trainer = Trainer(model=model, args=_args(output, max_steps=8, save_steps=4), train_dataset=lm_data())
        trainer.train(**kw)
        return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}

    straight = run(tmp_path / "straight")
    resumed = run(tmp_path / "straight", resume_from_checkpoint=str(tmp_path / "straight" / "checkpoint-4"))
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], atol=1e-6, rtol=0, msg=key)
