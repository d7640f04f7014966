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


def assert_generate_matches(reference: Any, ours: Any, ids: torch.Tensor, mask: torch.Tensor | None,
                            beams: tuple[int, ...] = (1, 3), new_tokens: int = 32) -> None:
    """Greedy (``1``) and beam-search generation of ``ours`` equal the reference's, token for token, for
    ``new_tokens`` new tokens (EOS suppressed until then, so the whole length is compared)."""
    for num_beams in beams:
        options: dict[str, Any] = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, num_beams=num_beams)
        expected = reference.generate(ids, attention_mask=mask, do_sample=False, **options)
        got = ours.generate(ids, attention_mask=mask, **options)
        assert torch.equal(got, expected), options


def assert_incremental_equals_full(model: Any, ids: torch.Tensor, prefix: int = 7) -> None:
    """A prefix forward then one token at a time, through a dynamic and a static cache, gives the full forward's
    logits."""
    from embrace.models.cache import DynamicCache, StaticCache

    with torch.no_grad():
        full = model(ids).logits
        for cache in (DynamicCache(), StaticCache(ids.shape[1])):
            first = model(ids[:, :prefix], past_key_values=cache).logits
            rest = [model(ids[:, i:i + 1], past_key_values=cache).logits for i in range(prefix, ids.shape[1])]
            assert torch.allclose(torch.cat([first, *rest], dim=1), full, atol=1e-5)
