"""Choosing the next token for every running sequence at once, each with its own settings.

Greedy rows take the argmax of the raw logits (the same token ``generate(do_sample=False)`` picks). Sampled rows
apply their temperature and top-p in one batched pass, then draw with their own ``torch.Generator`` so a request
with a ``seed`` gets the same tokens whatever else is in the batch. Log-probabilities are those of the model's
distribution (raw logits), as the OpenAI API reports them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch


@dataclass
class SamplingParams:
    """One sequence's decoding settings (OpenAI request fields). ``temperature == 0`` means greedy."""

    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    ignore_eos: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def make_generator(self, offset: int = 0) -> torch.Generator | None:
        if self.greedy:
            return None
        seed = self.seed + offset if self.seed is not None else random.getrandbits(63)
        return torch.Generator().manual_seed(seed)


@dataclass
class TokenChoice:
    """The token picked for one row and, when asked, its log-probability and the top alternatives."""

    token: int
    logprob: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)


def _top_p_mask(scores: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Mask (rows, vocab) of tokens outside each row's nucleus (the smallest set reaching ``top_p`` mass)."""
    sorted_scores, order = torch.sort(scores, descending=False, dim=-1)
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= (1 - top_p)[:, None]
    remove_sorted[:, -1] = False
    return remove_sorted.scatter(1, order, remove_sorted)


def choose_tokens(logits: torch.Tensor, params: list[SamplingParams],
                  generators: list[torch.Generator | None]) -> list[TokenChoice]:
    """``logits`` (rows, vocab) float32 -> one :class:`TokenChoice` per row."""
    chosen = torch.argmax(logits, dim=-1)
    sampled = [i for i, p in enumerate(params) if not p.greedy]
    if sampled:
        index = torch.tensor(sampled, device=logits.device)
        temperature = torch.tensor([params[i].temperature for i in sampled], device=logits.device)
        scores = logits.index_select(0, index) / temperature[:, None]
        top_p = torch.tensor([params[i].top_p for i in sampled], device=logits.device)
        if bool((top_p < 1.0).any()):
            scores = scores.masked_fill(_top_p_mask(scores, top_p), float("-inf"))
        probs = torch.softmax(scores, dim=-1).cpu()
        for slot, row in enumerate(sampled):
            chosen[row] = int(torch.multinomial(probs[slot], 1, generator=generators[row]))
    tokens = chosen.tolist()
    want_logprobs = [i for i, p in enumerate(params) if p.logprobs]
    choices = [TokenChoice(int(t)) for t in tokens]
    if want_logprobs:
        index = torch.tensor(want_logprobs, device=logits.device)
        logp = torch.log_softmax(logits.index_select(0, index), dim=-1)
        picked = logp.gather(1, chosen.index_select(0, index)[:, None]).squeeze(1).tolist()
        k = max(params[i].top_logprobs for i in want_logprobs)
        top_values, top_ids = torch.topk(logp, k, dim=-1) if k else (None, None)
        for slot, row in enumerate(want_logprobs):
            choices[row].logprob = float(picked[slot])
            count = params[row].top_logprobs
            if count and top_values is not None and top_ids is not None:
                choices[row].top = list(zip(top_ids[slot, :count].tolist(), top_values[slot, :count].tolist()))
    return choices
