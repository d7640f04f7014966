"""Helpers for causal-LM parity tests: tiny random reference models saved to a folder and loaded by embrace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

VOCAB = 97


def save_reference(config: Any, folder: Path, seed: int = 0) -> Any:
    """Build the reference model from ``config`` with seeded random weights, save it, return it (eval mode)."""
    import transformers

    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():  # make norms/biases non-trivial so a wrong mapping shows in the logits
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name or "ln" in name:
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(folder)
    return model


def padded_batch(seed: int = 1, length: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Two left-padded rows (4 and 0 pads) of random ids, with their attention mask."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB, (2, length), generator=gen)
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    ids[0, :4] = 0
    return ids, mask


def max_logit_diff(reference: Any, ours: Any, ids: torch.Tensor, mask: torch.Tensor) -> float:
    with torch.no_grad():
        a = reference(ids, attention_mask=mask).logits
        b = ours(ids, attention_mask=mask).logits
    return (a - b)[mask.bool()].abs().max().item()
