"""Trainer: training reduces the loss, evaluate/predict/metrics, accumulation equivalence, exact resume."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from embrace.models.bert import BertForSequenceClassification
from embrace.peft import LoraConfig, get_peft_model
from embrace.training import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments
from embrace.training.callbacks import TrainerError
from embrace.training.checkpointing import TrainerCheckpointError

from ._helpers import classification_data, tagging_data, tiny_classifier, tiny_config, tiny_tagger


def _args(tmp_path, **kw):
    base = {"output_dir": str(tmp_path), "disable_tqdm": True, "report_to": "none", "save_strategy": "no",
            "logging_steps": 1, "learning_rate": 3e-3, "per_device_train_batch_size": 8}
    return TrainingArguments(**{**base, **kw})


def _accuracy(pred):
    preds, labels = pred
    return {"accuracy": float((preds.argmax(-1) == labels).mean())}


def test_train_evaluate_predict(tmp_path, capsys):
    train, test = classification_data(96, seed=1), classification_data(32, seed=2)
    args = _args(tmp_path, num_train_epochs=4, eval_strategy="epoch", report_to="jsonl", learning_rate=1e-2)
    trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=train, eval_dataset=test,
                      compute_metrics=_accuracy)
    before = trainer.evaluate()["eval_loss"]
    out = trainer.train()
    after = trainer.evaluate()
    assert out.global_step == 48 and trainer.state.epoch == pytest.approx(4.0)
    assert after["eval_loss"] < before * 0.8 and after["eval_accuracy"] >= 0.8
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert len(losses) == 48 and np.mean(losses[-8:]) < np.mean(losses[:8])
    assert [e["epoch"] for e in trainer.state.log_history if "eval_accuracy" in e][:4] == [1.0, 2.0, 3.0, 4.0]
    pred = trainer.predict(test)
    assert pred.predictions.shape == (32, 2) and pred.label_ids.shape == (32,)
    assert pred.metrics["test_accuracy"] == after["eval_accuracy"]
    # outputs: printed logs (disable_tqdm), report_to jsonl, the loss curve
    assert "'loss'" in capsys.readouterr().out
    lines = (tmp_path / "runs" / "log_history.jsonl").read_text().splitlines()
    assert sum("loss" in json.loads(line) for line in lines) >= 48
    curve = [json.loads(line) for line in (tmp_path / "training_curve.jsonl").read_text().splitlines()]
    assert sum("loss" in row for row in curve) == 48 and sum("eval_loss" in row for row in curve) >= 4
    png = (tmp_path / "training_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 500


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_gradient_accumulation_equals_large_batch(tmp_path):
    data = tagging_data(64, seed=3)
    results = []
    for batch, accum in ((32, 1), (8, 4)):
        args = _args(tmp_path / f"b{batch}", per_device_train_batch_size=batch, gradient_accumulation_steps=accum,
                     max_steps=4, learning_rate=1e-2, weight_decay=0.01, warmup_steps=1)
        trainer = Trainer(model=tiny_tagger(), args=args, train_dataset=data)
        trainer.train()
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        results.append((losses, _weights(trainer.model)))
    (loss_a, w_a), (loss_b, w_b) = results
    np.testing.assert_allclose(loss_a, loss_b, rtol=0, atol=1e-5)
    for key in w_a:
        torch.testing.assert_close(w_a[key], w_b[key], rtol=0, atol=1e-5)
    # naive averaging of per-micro-batch means would differ: check the data makes token weighting matter
    counts = [sum(sum(lab != -100 for lab in row["labels"]) for row in data[i:i + 8]) for i in range(0, 32, 8)]
    assert len(set(counts)) > 1


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


@pytest.mark.parametrize("stop_at", [3, 6])  # mid first epoch; second epoch
def test_resume_is_bit_identical(tmp_path, stop_at):
    data = classification_data(20, seed=4)  # 5 steps per epoch with batch 4

    def make(out, callbacks=()):
        args = _args(out, per_device_train_batch_size=4, max_steps=9, save_strategy="steps", save_steps=3,
                     logging_steps=2, warmup_steps=2, weight_decay=0.1)
        return Trainer(model=tiny_classifier(dropout=0.2), args=args, train_dataset=data, callbacks=list(callbacks))

    full = make(tmp_path / "full")
    full.train()
    interrupted = make(tmp_path / "part", [_StopAt(stop_at)])
    interrupted.train()
    assert interrupted.state.global_step == stop_at
    resumed = make(tmp_path / "part")
    with torch.no_grad():  # prove the weights come from the checkpoint
        for p in resumed.model.parameters():
            p.add_(1.0)
    torch.manual_seed(1234)  # and the RNG state too
    resumed.train(resume_from_checkpoint=str(tmp_path / "part" / f"checkpoint-{stop_at}"))
    for key, value in _weights(full.model).items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    strip = [{k: v for k, v in e.items() if "runtime" not in k and "per_second" not in k}
             for e in full.state.log_history]
    strip_resumed = [{k: v for k, v in e.items() if "runtime" not in k and "per_second" not in k}
                     for e in resumed.state.log_history]
    assert strip == strip_resumed


def test_resume_true_uses_latest_and_rotation_keeps_limit(tmp_path):
    data = classification_data(16, seed=5)
    args = _args(tmp_path, per_device_train_batch_size=4, max_steps=6, save_strategy="steps", save_steps=1,
                 save_total_limit=2)
    trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=data)
    trainer.train()
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-5", "checkpoint-6"]
    ckpt = tmp_path / "checkpoint-6"
    assert {"model.safetensors", "config.json", "optimizer.pt", "scheduler.pt", "rng_state.pth",
            "trainer_state.json", "training_args.json"} <= {p.name for p in ckpt.iterdir()}
    again = Trainer(model=tiny_classifier(), args=args, train_dataset=data)
    out = again.train(resume_from_checkpoint=True)
    assert out.global_step == 6  # resumed at the end: nothing left to do


def test_best_model_loaded_at_end_and_kept_by_rotation(tmp_path):
    train, test = classification_data(64, seed=6), classification_data(16, seed=7)
    args = _args(tmp_path, per_device_train_batch_size=8, max_steps=12, eval_strategy="steps", eval_steps=2,
                 save_strategy="steps", save_steps=2, save_total_limit=1, load_best_model_at_end=True,
                 metric_for_best_model="loss", learning_rate=2e-2)
    trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=train, eval_dataset=test)
    trainer.train()
    evals = [(e["step"], e["eval_loss"]) for e in trainer.state.log_history if "eval_loss" in e]
    best_step = min(evals, key=lambda se: se[1])[0]
    assert trainer.state.best_model_checkpoint.endswith(f"checkpoint-{best_step}")
    assert (tmp_path / f"checkpoint-{best_step}").is_dir()
    assert len(list(tmp_path.glob("checkpoint-*"))) <= 2
    assert trainer.evaluate()["eval_loss"] == pytest.approx(trainer.state.best_metric, abs=1e-6)


def test_early_stopping(tmp_path):
    train, test = classification_data(64, seed=8), classification_data(16, seed=9)
    args = _args(tmp_path, max_steps=20, eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=2,
                 load_best_model_at_end=True, metric_for_best_model="accuracy", learning_rate=0.0)
    trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=train, eval_dataset=test,
                      compute_metrics=_accuracy, callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
    trainer.train()
    assert trainer.state.global_step == 6  # best at step 2, no improvement at 4 and 6 (lr 0)


def test_compute_loss_override_gets_item_count(tmp_path):
    seen = []

    class Counting(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            seen.append(num_items_in_batch)
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    data = tagging_data(16, seed=10)
    args = _args(tmp_path, per_device_train_batch_size=4, gradient_accumulation_steps=2, max_steps=1)
    Counting(model=tiny_tagger(), args=args, train_dataset=data).train()
    expected = sum(sum(lab != -100 for lab in data[i]["labels"]) for i in Trainer(
        model=tiny_tagger(), args=args, train_dataset=data).epoch_batches(0)[0] + Trainer(
        model=tiny_tagger(), args=args, train_dataset=data).epoch_batches(0)[1])
    assert seen == [expected, expected]


def test_bf16_autocast_trains(tmp_path):
    args = _args(tmp_path, max_steps=3, bf16=True)
    trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=classification_data(24))
    out = trainer.train()
    assert np.isfinite(out.training_loss)
    assert next(trainer.model.parameters()).dtype == torch.float32  # master weights stay fp32


def test_predict_pads_ragged_batches_and_preprocesses_logits(tmp_path):
    from embrace.training import DataCollatorForTokenClassification

    pad = type("Pad", (), {"pad_token_id": 0, "padding_side": "right"})()

    def pad_fn(features, padding=True, max_length=None, pad_to_multiple_of=None, return_tensors="pt"):
        longest = max(len(f["input_ids"]) for f in features)
        return {key: torch.tensor([f[key] + [0] * (longest - len(f[key])) for f in features])
                for key in features[0]}

    pad.pad = pad_fn
    rows = tagging_data(10, seed=12)
    for i, row in enumerate(rows):  # batch 0 (rows 0-3) has length 4, later batches longer
        n = 4 if i < 4 else 10
        rows[i] = {k: v[:n] for k, v in row.items()}
    seen_shapes = []

    def argmax(logits, labels):
        seen_shapes.append(tuple(logits.shape))
        return logits.argmax(-1)

    args = _args(tmp_path, per_device_eval_batch_size=4)
    trainer = Trainer(model=tiny_tagger(), args=args, data_collator=DataCollatorForTokenClassification(pad),
                      preprocess_logits_for_metrics=argmax)
    out = trainer.predict(rows)
    assert seen_shapes == [(4, 4, 3), (4, 10, 3), (2, 10, 3)]
    assert out.predictions.shape == (10, 10) and out.label_ids.shape == (10, 10)
    assert (out.predictions[:4, 4:] == -100).all() and (out.label_ids[:4, 4:] == -100).all()
    assert "test_loss" in out.metrics


def test_progress_bar_by_default(tmp_path, capsys):
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, save_strategy="no", logging_steps=1)
    Trainer(model=tiny_classifier(), args=args, train_dataset=classification_data(16)).train()
    err = capsys.readouterr().err
    assert "2/2" in err


def test_bf16_autocast_runs_linear_layers_in_bf16_on_cpu(tmp_path):
    seen = []
    model = tiny_classifier()
    model.classifier.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    Trainer(model=model, args=_args(tmp_path, max_steps=1, bf16=True), train_dataset=classification_data(8)).train()
    assert seen and set(seen) == {torch.bfloat16}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 mixed precision needs CUDA")
def test_fp16_autocast_with_loss_scaling_on_cuda(tmp_path):
    seen = []
    model = tiny_classifier()
    model.classifier.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    trainer = Trainer(model=model, args=_args(tmp_path, max_steps=3, fp16=True, save_strategy="steps", save_steps=3),
                      train_dataset=classification_data(24))
    out = trainer.train()
    assert np.isfinite(out.training_loss) and set(seen) == {torch.float16}
    assert next(trainer.model.parameters()).dtype == torch.float32 and trainer.scaler is not None
    assert (tmp_path / "checkpoint-3" / "scaler.pt").exists()


class _KwargsClassifier(BertForSequenceClassification):
    """A model whose forward also takes ``**kwargs`` (as transformers 5 models do)."""

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        assert not kwargs, f"unexpected inputs {sorted(kwargs)}"
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels)


def _kwargs_classifier() -> _KwargsClassifier:
    torch.manual_seed(0)
    return _KwargsClassifier(tiny_config())


@pytest.mark.parametrize("build", [_kwargs_classifier, lambda: get_peft_model(
    tiny_classifier(), LoraConfig(r=4, target_modules=["query", "value"], task_type="SEQ_CLS"))])
def test_remove_unused_columns_for_forward_with_kwargs(tmp_path, caplog, build):
    """As the reference: columns that are not named parameters of forward (of a PEFT model's base model) are
    dropped even when forward takes **kwargs, and the drop is logged once per dataset."""
    model = build()
    train, test = classification_data(16), classification_data(8, seed=1)  # both have a string column "text"
    trainer = Trainer(model=model, args=_args(tmp_path, max_steps=2), train_dataset=train, eval_dataset=test)
    with caplog.at_level(logging.INFO, logger="embrace.training.trainer"):
        trainer.train()
        trainer.evaluate()
        trainer.predict(test)
    name = type(model).__name__
    for description in ("training", "evaluation", "test"):
        assert (f"The following columns in the {description} set don't have a corresponding argument in "
                f"`{name}.forward` and have been ignored: text. If text are not expected by `{name}.forward`,  "
                "you can safely ignore this message.") in caplog.text
    with pytest.raises(TrainerError, match="no column of the training set"):
        Trainer(model=build(), args=_args(tmp_path), train_dataset=[{"text": "a", "id": 1}] * 4).train()


def test_token_labels_outside_num_labels_fail_before_training(tmp_path):
    data = tagging_data(24)
    data[-1]["labels"][0] = 7  # in the last batch: would stop the run after most of its steps
    trainer = Trainer(model=tiny_tagger(), args=_args(tmp_path, max_steps=3), train_dataset=data)
    with pytest.raises(TrainerError, match=r"labels must be in \[0, 3\).*\[7\]"):
        trainer.train()
    assert trainer.state.global_step == 0


def test_bad_checkpoint_leaves_the_model_untouched(tmp_path):
    data = classification_data(8)
    args = _args(tmp_path, max_steps=1, save_strategy="steps", save_steps=1)
    Trainer(model=tiny_classifier(seed=1), args=args, train_dataset=data).train()
    checkpoint = tmp_path / "checkpoint-1"
    model = tiny_classifier(seed=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    (checkpoint / "scheduler.pt").write_bytes(b"truncated")
    with pytest.raises(TrainerCheckpointError, match="corrupt"):
        Trainer(model=model, args=args, train_dataset=data).train(str(checkpoint))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # files are read before applying
    other = tmp_path / "other"
    Trainer(model=tiny_classifier(num_labels=3), args=_args(other, max_steps=1, save_strategy="steps", save_steps=1),
            train_dataset=classification_data(8)).train()
    with pytest.raises(TrainerCheckpointError, match="does not match"):  # a checkpoint of another model shape
        Trainer(model=tiny_classifier(), args=args, train_dataset=data).train(str(other / "checkpoint-1"))
    (other / "checkpoint-1" / "trainer_state.json").write_text("{not json")
    with pytest.raises(TrainerCheckpointError, match="corrupt"):
        Trainer(model=tiny_classifier(num_labels=3), args=args, train_dataset=data).train(str(other / "checkpoint-1"))


def test_predict_without_a_dataset(tmp_path):
    with pytest.raises(TrainerError, match="predict\\(\\) needs a test_dataset"):
        Trainer(model=tiny_classifier(), args=_args(tmp_path)).predict(None)


def test_metric_for_best_model_without_compute_metrics_fails_before_training(tmp_path):
    args = _args(tmp_path, max_steps=2, eval_strategy="steps", eval_steps=1, save_strategy="steps", save_steps=1,
                 metric_for_best_model="accuracy", load_best_model_at_end=True)
    trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=classification_data(8),
                      eval_dataset=classification_data(4))
    with pytest.raises(TrainerError, match="needs a compute_metrics"):
        trainer.train()
    assert trainer.state.global_step == 0
