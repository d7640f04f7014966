"""Bad input gives clear typed errors before work is lost; causal-LM accumulation is token-weighted."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from embrace.errors import CheckpointError, EmbraceError
from embrace.training import DataCollatorForLanguageModeling, Trainer, TrainingArguments
from embrace.training.arguments import TrainingArgumentsError
from embrace.training.callbacks import TrainerError
from embrace.training.checkpointing import TrainerCheckpointError

from ._helpers import classification_data, tiny_classifier


def _args(tmp_path, **kw):
    base = {"output_dir": str(tmp_path), "disable_tqdm": True, "save_strategy": "no", "logging_steps": 1,
            "per_device_train_batch_size": 4}
    return TrainingArguments(**{**base, **kw})


def test_argument_errors_and_alias(tmp_path):
    assert TrainingArguments(output_dir=str(tmp_path), evaluation_strategy="epoch").eval_strategy == "epoch"
    with pytest.raises(TrainingArgumentsError, match="eval_strategy"):
        TrainingArguments(eval_strategy="sometimes")
    with pytest.raises(TrainingArgumentsError, match="load_best_model_at_end"):
        TrainingArguments(load_best_model_at_end=True)
    with pytest.raises(TrainingArgumentsError, match="multiple of eval_steps"):
        TrainingArguments(load_best_model_at_end=True, eval_strategy="steps", eval_steps=3, save_steps=4)
    with pytest.raises(TrainingArgumentsError, match="optim"):
        TrainingArguments(optim="lion")
    assert TrainingArguments(metric_for_best_model="accuracy").greater_is_better is True
    assert TrainingArguments(metric_for_best_model="eval_loss").greater_is_better is False


def test_defaults_match_reference(tmp_path):
    from transformers import TrainingArguments as Ref

    ours, ref = TrainingArguments(output_dir=str(tmp_path)), Ref(output_dir=str(tmp_path))
    same = ["learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
            "num_train_epochs", "max_steps", "lr_scheduler_type", "warmup_steps", "per_device_train_batch_size",
            "per_device_eval_batch_size", "gradient_accumulation_steps", "eval_strategy", "save_strategy",
            "save_steps", "save_total_limit", "logging_strategy", "logging_steps", "seed", "data_seed", "bf16",
            "fp16", "dataloader_num_workers", "remove_unused_columns", "label_names", "load_best_model_at_end",
            "metric_for_best_model", "greater_is_better", "eval_steps", "dataloader_drop_last", "save_only_model"]
    for name in same:
        assert getattr(ours, name) == str(getattr(getattr(ref, name), "value", getattr(ref, name))) \
            if name.endswith(("strategy", "type")) else getattr(ours, name) == getattr(ref, name), name


def test_labels_outside_num_labels(tmp_path):
    data = classification_data(8)
    data[3]["label"] = 5
    trainer = Trainer(model=tiny_classifier(), args=_args(tmp_path, max_steps=2), train_dataset=data)
    with pytest.raises(TrainerError, match=r"labels must be in \[0, 2\)"):
        trainer.train()
    assert trainer.state.global_step == 0  # checked before any training step


def test_eval_strategy_without_eval_dataset_fails_before_training(tmp_path):
    trainer = Trainer(model=tiny_classifier(), args=_args(tmp_path, max_steps=2, eval_strategy="steps", eval_steps=1),
                      train_dataset=classification_data(8))
    with pytest.raises(TrainerError, match="needs an eval_dataset"):
        trainer.train()
    assert trainer.state.global_step == 0


def test_evaluate_without_eval_dataset(tmp_path):
    with pytest.raises(TrainerError, match="eval_dataset"):
        Trainer(model=tiny_classifier(), args=_args(tmp_path)).evaluate()
    with pytest.raises(TrainerError, match="train_dataset"):
        Trainer(model=tiny_classifier(), args=_args(tmp_path)).train()


def test_metric_for_best_model_not_produced(tmp_path):
    args = _args(tmp_path, max_steps=2, eval_strategy="steps", eval_steps=1, save_strategy="steps", save_steps=1,
                 metric_for_best_model="f1")
    trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=classification_data(8),
                      eval_dataset=classification_data(4), compute_metrics=lambda p: {"accuracy": 1.0})
    with pytest.raises(TrainerError, match="'f1' is not among the evaluation metrics"):
        trainer.train()
    assert not list(tmp_path.glob("checkpoint-*"))  # raised before writing a checkpoint that lacks its metric


def test_resume_from_missing_or_corrupt_checkpoint(tmp_path):
    data = classification_data(8)
    args = _args(tmp_path, max_steps=2, save_strategy="steps", save_steps=1)
    with pytest.raises(TrainerCheckpointError, match="does not exist"):
        Trainer(model=tiny_classifier(), args=args, train_dataset=data).train(str(tmp_path / "checkpoint-9"))
    with pytest.raises(TrainerCheckpointError, match="no checkpoint"):
        Trainer(model=tiny_classifier(), args=args, train_dataset=data).train(resume_from_checkpoint=True)
    Trainer(model=tiny_classifier(), args=args, train_dataset=data).train()
    (tmp_path / "checkpoint-1" / "optimizer.pt").write_bytes(b"garbage")
    with pytest.raises(TrainerCheckpointError, match="corrupt") as info:
        Trainer(model=tiny_classifier(), args=args, train_dataset=data).train(str(tmp_path / "checkpoint-1"))
    assert isinstance(info.value, CheckpointError) and isinstance(info.value, EmbraceError)
    (tmp_path / "checkpoint-2" / "rng_state.pth").unlink()
    with pytest.raises(TrainerCheckpointError, match="lacks rng_state.pth"):
        Trainer(model=tiny_classifier(), args=args, train_dataset=data).train(str(tmp_path / "checkpoint-2"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 runs on CUDA")
def test_fp16_refused_on_cpu_with_advice(tmp_path):
    with pytest.raises(TrainerError, match="bf16=True"):
        Trainer(model=tiny_classifier(), args=_args(tmp_path, fp16=True))


def _tiny_llama():
    from embrace.models.llama import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=48, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64))


def test_causal_lm_accumulation_is_token_weighted(tmp_path):
    """Ragged sequences, padded per micro-batch: 4 x 2 equals one batch of 8 (same losses and weights)."""
    g = torch.Generator().manual_seed(0)
    data = [torch.randint(3, 48, (int(torch.randint(2, 20, (), generator=g)),), generator=g).tolist()
            for _ in range(32)]
    pad_tokenizer = types.SimpleNamespace(pad_token_id=0, padding_side="right", mask_token_id=None)
    collator = DataCollatorForLanguageModeling(pad_tokenizer, mlm=False)
    results = []
    for batch, accum in ((8, 1), (2, 4)):
        args = _args(tmp_path / str(batch), per_device_train_batch_size=batch, gradient_accumulation_steps=accum,
                     max_steps=3, learning_rate=1e-3)
        trainer = Trainer(model=_tiny_llama(), args=args, train_dataset=data, data_collator=collator)
        trainer.train()
        results.append(([e["loss"] for e in trainer.state.log_history if "loss" in e],
                        {k: v.clone() for k, v in trainer.model.state_dict().items()}))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=0, atol=1e-5)
    for key, value in results[0][1].items():
        torch.testing.assert_close(value, results[1][1][key], rtol=0, atol=1e-5)
