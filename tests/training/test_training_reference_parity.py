"""Same seed, data and weights: embrace's Trainer and transformers' Trainer give the same per-step losses and
weights (AdamW + linear warmup, weight decay, grad clipping; shuffling off in both, dropout off)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embrace.training import Trainer, TrainingArguments

from ._helpers import classification_data

COMMON = {"learning_rate": 5e-3, "warmup_steps": 3, "weight_decay": 0.01, "max_steps": 20, "logging_steps": 1,
          "per_device_train_batch_size": 8, "save_strategy": "no", "report_to": "none", "disable_tqdm": True,
          "seed": 0, "max_grad_norm": 0.5, "optim": "adamw_torch"}


@pytest.mark.parametrize("accum", [1, 2])
def test_per_step_losses_match_reference_trainer(tmp_path, accum):
    import transformers
    from torch.utils.data import SequentialSampler

    # with accumulation, transformers 5 sums (not averages) the micro-batch gradients of a sequence classifier (the
    # model takes **kwargs, so the Trainer skips its division, and the model ignores num_items_in_batch). Adam is
    # scale-invariant, so losses still agree when clipping never triggers (weights only up to Adam's eps on
    # near-zero gradients, so they are compared for accum=1); the grad norms show the factor. Ours equals the
    # large batch (test_gradient_accumulation_equals_large_batch).
    common = {**COMMON, "max_grad_norm": 0.5 if accum == 1 else 1e6}

    config = transformers.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0, num_labels=2)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(tmp_path / "init")
    data = classification_data(64, seed=11)
    recorded: dict[str, list[float]] = {"ours": [], "ref": []}

    class RefTrainer(transformers.Trainer):
        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

        def training_step(self, *args, **kwargs):
            loss = super().training_step(*args, **kwargs)
            recorded["ref"].append(float(loss))
            return loss

    class OurTrainer(Trainer):
        def epoch_batches(self, epoch):
            size = self.args.per_device_train_batch_size
            return [list(range(i, min(i + size, len(self.train_dataset))))
                    for i in range(0, len(self.train_dataset), size)]

        def training_step(self, *args, **kwargs):
            loss = super().training_step(*args, **kwargs)
            recorded["ours"].append(float(loss))
            return loss

    ref_model = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "init")
    ref = RefTrainer(model=ref_model, train_dataset=data, data_collator=transformers.default_data_collator,
                     args=transformers.TrainingArguments(output_dir=str(tmp_path / "ref"), use_cpu=True,
                                                         gradient_accumulation_steps=accum, **common))
    ref.train()

    from embrace.models.bert import BertForSequenceClassification

    ours = OurTrainer(model=BertForSequenceClassification.from_pretrained(tmp_path / "init"), train_dataset=data,
                      args=TrainingArguments(output_dir=str(tmp_path / "ours"), gradient_accumulation_steps=accum,
                                             **common))
    ours.train()
    assert len(recorded["ours"]) == len(recorded["ref"]) == 20 * accum
    # ours returns each micro-batch's share of the step loss; the reference returns the micro-batch mean
    our_steps = np.asarray(recorded["ours"]).reshape(20, accum).sum(1)
    ref_steps = np.asarray(recorded["ref"]).reshape(20, accum).mean(1)
    np.testing.assert_allclose(our_steps, ref_steps, rtol=0, atol=1e-4)
    assert ref_steps[-5:].mean() < ref_steps[:5].mean()  # it trained
    ref_lrs = [e["learning_rate"] for e in ref.state.log_history if "learning_rate" in e]
    our_lrs = [e["learning_rate"] for e in ours.state.log_history if "learning_rate" in e]
    assert our_lrs == pytest.approx(ref_lrs, rel=1e-12)
    ref_norms = [e["grad_norm"] for e in ref.state.log_history if "grad_norm" in e]
    our_norms = [e["grad_norm"] for e in ours.state.log_history if "grad_norm" in e]
    np.testing.assert_allclose(ref_norms, np.asarray(our_norms) * accum, rtol=1e-3)
    if accum > 1:
        return
    ref_state = ref.model.state_dict()
    for key, value in ours.model.state_dict().items():
        if key in ref_state:
            torch.testing.assert_close(value, ref_state[key], rtol=0, atol=1e-4)


def test_plain_pytorch_loop_gives_the_same_losses_and_weights(tmp_path):
    """The Trainer adds nothing to the maths: a hand-written loop with the same batches, AdamW param groups,
    linear warmup and clipping gives the same per-step losses and final weights."""
    from embrace.training.collators import default_data_collator

    from ._helpers import tiny_classifier

    data = classification_data(64, seed=11)
    recorded = []

    class OurTrainer(Trainer):
        def epoch_batches(self, epoch):
            return [list(range(i, i + 8)) for i in range(0, len(self.train_dataset), 8)]

        def training_step(self, *args, **kwargs):
            loss = super().training_step(*args, **kwargs)
            recorded.append(float(loss))
            return loss

    trainer = OurTrainer(model=tiny_classifier(seed=3), train_dataset=data,
                         args=TrainingArguments(output_dir=str(tmp_path), **COMMON))
    trainer.train()

    model = tiny_classifier(seed=3)
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=5e-3, betas=(0.9, 0.999), eps=1e-8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: step / 3 if step < 3 else max(0.0, (20 - step) / (20 - 3)))
    plain = []
    model.train()
    rows = [{k: v for k, v in row.items() if k != "text"} for row in data]
    for step in range(20):
        start = (step * 8) % len(rows)
        loss = model(**default_data_collator(rows[start:start + 8])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        plain.append(float(loss.detach()))
    np.testing.assert_allclose(recorded, plain, rtol=0, atol=1e-6)
    for (name, ours), theirs in zip(trainer.model.state_dict().items(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6, msg=name)
