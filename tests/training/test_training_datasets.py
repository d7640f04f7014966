"""The Trainer on an embrace Dataset with ragged rows: padding collator, unused columns, group_by_length."""

from __future__ import annotations

import torch
from tests.conftest import asset

from embrace.data import Dataset
from embrace.training import DataCollatorWithPadding, Trainer, TrainingArguments

from ._helpers import tiny_classifier


def _tokenizer():
    try:
        from embrace.tokenization import AutoTokenizer
    except ImportError:
        from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(asset("minilm")))


def test_trainer_on_embrace_dataset_with_group_by_length(tmp_path):
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 30, (64,), generator=g).tolist()
    ids = [torch.randint(10, 40, (n,), generator=g).tolist() for n in lengths]
    data = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * n for n in lengths],
                              "label": [int(n > 15) for n in lengths], "text": ["unused"] * 64})
    collator = DataCollatorWithPadding(_tokenizer())
    padded = {}
    for grouped in (False, True):
        args = TrainingArguments(output_dir=str(tmp_path / str(grouped)), per_device_train_batch_size=8,
                                 max_steps=8, save_strategy="no", disable_tqdm=True, group_by_length=grouped,
                                 learning_rate=1e-2)
        trainer = Trainer(model=tiny_classifier(), args=args, train_dataset=data, data_collator=collator)
        batches = trainer.epoch_batches(0)
        assert sorted(i for b in batches for i in b) == list(range(64))  # a permutation, nothing lost
        padded[grouped] = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        out = trainer.train()
        assert out.global_step == 8 and torch.isfinite(torch.tensor(out.training_loss))
    assert padded[True] < padded[False] * 0.8  # grouping by length pads much less
