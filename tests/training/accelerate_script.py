"""Run by test_training_accelerator.py under ``torchrun --nproc_per_node=2`` and in one process: a hand-written
loop with ``Accelerator`` (prepare, accumulate, backward, clip, gather_for_metrics, save_state)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from tests.training._helpers import classification_data, tiny_classifier
from torch.utils.data import DataLoader

from embrace.training import get_scheduler
from embrace.training.accelerator import Accelerator
from embrace.training.collators import default_data_collator


def rows(n: int, seed: int) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "text"} for row in classification_data(n, seed=seed)]


def build(batch_size: int, accumulation: int) -> tuple:
    torch.set_num_threads(1)
    accelerator = Accelerator(gradient_accumulation_steps=accumulation)
    model = tiny_classifier(seed=0)
    loader = DataLoader(rows(32, 0), batch_size=batch_size, shuffle=True, collate_fn=default_data_collator,
                        generator=torch.Generator().manual_seed(1))
    eval_loader = DataLoader(rows(13, 5), batch_size=3, collate_fn=default_data_collator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=1, num_training_steps=8)
    return accelerator, *accelerator.prepare(model, optimizer, loader, eval_loader, scheduler)


def main(output_dir: str, batch_size: int, accumulation: int) -> None:
    accelerator, model, optimizer, loader, eval_loader, scheduler = build(batch_size, accumulation)
    losses = []
    for _ in range(2):
        model.train()
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(accelerator.gather_for_metrics(loss.detach()).mean().item())
    model.eval()
    predictions, labels = [], []
    for batch in eval_loader:
        with torch.no_grad():
            logits = model(**batch).logits
        gathered_logits, gathered_labels = accelerator.gather_for_metrics((logits, batch["labels"]))
        predictions.append(gathered_logits)
        labels.append(gathered_labels)
    out = Path(output_dir)
    accelerator.save_state(out / "state")
    weights = accelerator.get_state_dict(model)  # every process: FSDP gathers the shards
    if accelerator.is_main_process:
        torch.save({"weights": weights, "predictions": torch.cat(predictions),
                    "labels": torch.cat(labels), "lr": scheduler.get_last_lr(), "losses": losses},
                   out / "result.pt")
    accelerator.print("done", accelerator.num_processes)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
