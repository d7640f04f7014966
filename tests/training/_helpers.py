"""Tiny BERT models and synthetic datasets for the Trainer tests (fast on 2 busy cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from embrace.models.bert import BertConfig, BertForSequenceClassification, BertForTokenClassification

VOCAB = 40
ROOT = Path(__file__).resolve().parents[2]


def torchrun(script: Path, nproc: int, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``script`` under ``torchrun --standalone --nproc_per_node=nproc`` (CPU, one thread per process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           str(script), *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def saved_tagger_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The weights ``Trainer.save_model`` wrote for a ``tiny_tagger``, read back with ``from_pretrained``."""
    return BertForTokenClassification.from_pretrained(folder).state_dict()


def assert_close(ours: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], atol: float) -> None:
    """Same keys, every tensor within ``atol``."""
    assert ours.keys() == ref.keys()
    for key in ref:
        assert torch.allclose(ours[key], ref[key], atol=atol, rtol=0), key


def assert_same_run(distributed: Path, single: Path) -> None:
    """ddp_train_script.py's outputs of a 2-process run equal those of one process with the global batch: saved
    weights (1e-5), per-step loss, grad norm, learning rate, eval metrics, and every rank's predictions."""
    assert_close(saved_tagger_weights(distributed / "model"), saved_tagger_weights(single / "model"), atol=1e-5)
    h_dist, h_single = (json.loads((d / "history.json").read_text()) for d in (distributed, single))
    assert sum("loss" in e for e in h_dist) == 4 and sum("eval_loss" in e for e in h_dist) == 2
    for a, b in zip(h_dist, h_single, strict=True):
        for key in ("loss", "grad_norm", "learning_rate", "eval_loss", "eval_accuracy", "eval_count"):
            if key in b:
                assert a[key] == pytest.approx(b[key], abs=1e-5), (key, a, b)
    # sharded evaluation gathers every example once, in order, on every rank
    single_preds = np.load(single / "predictions_0.npy")
    for rank in (0, 1):
        assert np.allclose(np.load(distributed / f"predictions_{rank}.npy"), single_preds, atol=1e-5)


def tiny_config(num_labels: int = 2, dropout: float = 0.0) -> BertConfig:
    return BertConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32, num_labels=num_labels,
                      hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


def tiny_classifier(seed: int = 0, dropout: float = 0.0, num_labels: int = 2) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config(num_labels, dropout))


def tiny_tagger(seed: int = 0) -> BertForTokenClassification:
    torch.manual_seed(seed)
    return BertForTokenClassification(tiny_config(num_labels=3))


def classification_data(n: int, seed: int = 0, length: int = 12) -> list[dict]:
    """Label 1 iff token 7 occurs: learnable by a tiny model in a few steps. Equal lengths (default collator)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ids = torch.randint(10, VOCAB, (length,), generator=g)
        label = int(torch.rand((), generator=g) < 0.5)
        if label:
            ids[int(torch.randint(1, length, (), generator=g))] = 7
        else:
            ids[ids == 7] = 8
        ids[0] = 2
        rows.append({"input_ids": ids.tolist(), "attention_mask": [1] * length, "label": label,
                     "text": "unused column"})
    return rows


def tagging_data(n: int, seed: int = 0, length: int = 10) -> list[dict]:
    """Token labels with a varying number of -100 positions per row (so token weighting matters)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ids = torch.randint(10, VOCAB, (length,), generator=g)
        keep = int(torch.randint(1, length + 1, (), generator=g))
        labels = (ids % 3).tolist()
        labels = labels[:keep] + [-100] * (length - keep)
        rows.append({"input_ids": ids.tolist(), "attention_mask": [1] * length, "labels": labels})
    return rows
