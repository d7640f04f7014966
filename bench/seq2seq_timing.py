"""Shared by the seq2seq benchmarks: time ``generate`` of ours and the reference, interleaved, after a warm-up."""

from __future__ import annotations

import time
from typing import Any

import torch


def timed_generate(model: Any, ids: torch.Tensor, mask: torch.Tensor, kwargs: dict[str, Any]
                   ) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
    return time.perf_counter() - start, out


def interleaved(ours: Any, reference: Any, ids: torch.Tensor, mask: torch.Tensor, kwargs: dict[str, Any],
                rounds: int) -> tuple[list[float], list[float], bool]:
    """``(our seconds per round, reference seconds per round, outputs token-identical)``; a 2-token warm-up of
    each first, then ``rounds`` alternating runs (ours first) so load changes hit both sides alike."""
    warm = {**kwargs, "max_new_tokens": 2, "min_new_tokens": 2}
    ours_s: list[float] = []
    ref_s: list[float] = []
    with torch.inference_mode():
        timed_generate(ours, ids, mask, warm)
        timed_generate(reference, ids, mask, warm)
        for _ in range(rounds):
            seconds, ours_out = timed_generate(ours, ids, mask, kwargs)
            ours_s.append(seconds)
            seconds, ref_out = timed_generate(reference, ids, mask, kwargs)
            ref_s.append(seconds)
    return ours_s, ref_s, torch.equal(ours_out, ref_out)
