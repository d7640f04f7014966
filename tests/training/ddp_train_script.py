"""Run by test_training_distributed.py under ``torchrun --nproc_per_node=2`` (and in one process for the
comparison): a tiny token tagger with ragged labels, trained with the plain Trainer API and no DDP code.
``fsdp``/``fsdp_config``/``resume`` (used by fsdp_train_script.py): the ``TrainingArguments`` FSDP settings and a
checkpoint to resume from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from tests.training._helpers import tagging_data, tiny_tagger

from embrace.training import Trainer, TrainingArguments


def main(output_dir: str, per_device: int, accumulation: int, fsdp: str = "", resume: str | None = None,
         fsdp_config: dict | None = None) -> None:
    torch.set_num_threads(1)
    args = TrainingArguments(output_dir=output_dir, per_device_train_batch_size=per_device, fsdp=fsdp,
                             fsdp_config=fsdp_config,
                             gradient_accumulation_steps=accumulation, max_steps=4, learning_rate=1e-2,
                             warmup_steps=1, weight_decay=0.01, logging_steps=1, save_strategy="steps", save_steps=2,
                             eval_strategy="steps", eval_steps=2, per_device_eval_batch_size=4, disable_tqdm=True,
                             report_to="jsonl", seed=3)

    def accuracy(pred):  # token accuracy over labelled positions
        mask = pred.label_ids != -100
        return {"accuracy": float((pred.predictions.argmax(-1)[mask] == pred.label_ids[mask]).mean()),
                "count": int(mask.sum())}

    # 10 eval rows in batches of 4: 3 batches, so under FSDP rank 1 runs a padding forward (dropped)
    trainer = Trainer(model=tiny_tagger(seed=0), args=args, train_dataset=tagging_data(40),
                      eval_dataset=tagging_data(10, seed=1), compute_metrics=accuracy)
    trainer.train(resume_from_checkpoint=resume)
    out = Path(output_dir)
    trainer.save_model(str(out / "model"))  # every process (FSDP gathers the shards); the main one writes
    if trainer.state.is_world_process_zero:
        (out / "history.json").write_text(json.dumps(trainer.state.log_history, default=float))
    preds = trainer.predict(tagging_data(10, seed=1)).predictions
    np.save(Path(output_dir) / f"predictions_{trainer.dist.rank}.npy", preds)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
