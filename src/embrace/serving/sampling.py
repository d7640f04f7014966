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


NUCLEUS_CANDIDATES = 256


def _top_p_mask(scores: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Mask (rows, vocab) of tokens outside each row's nucleus (the smallest set reaching ``top_p`` mass; the
    reference's ``TopPLogitsWarper`` rule). A full sort: the fallback of :func:`_sample_rows`."""
    sorted_scores, order = torch.sort(scores, descending=False, dim=-1)
    cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative <= (1 - top_p)[:, None]
    remove_sorted[:, -1] = False
    return remove_sorted.scatter(1, order, remove_sorted)


def _sample_rows(scores: torch.Tensor, top_p: torch.Tensor, generators: list[torch.Generator | None]) -> list[int]:
    """One token per row of ``scores`` (rows, vocab; temperature applied), from its top-p nucleus when
    ``top_p < 1``.

    A row whose ``NUCLEUS_CANDIDATES`` most likely tokens already hold ``top_p`` of the mass (nearly always) keeps
    a token when the mass of the tokens before it is below ``top_p`` (the full-sort rule) and draws among those
    candidates only; other nucleus rows take the full sort; rows with ``top_p == 1`` draw from the whole vocabulary.
    """
    probs = torch.softmax(scores, dim=-1)
    k = min(NUCLEUS_CANDIDATES, scores.shape[-1])
    top_probs, top_ids = probs.topk(k, dim=-1)
    nucleus = top_p < 1.0
    fits = (nucleus & (top_probs.sum(dim=-1) >= top_p)).tolist()
    slow = nucleus & ~torch.tensor(fits, device=scores.device)
    if bool(slow.any()):
        rows = scores[slow]
        probs[slow] = torch.softmax(rows.masked_fill(_top_p_mask(rows, top_p[slow]), float("-inf")), dim=-1)
    before = top_probs.cumsum(dim=-1) - top_probs
    candidates, top_ids = top_probs.masked_fill(before >= top_p[:, None], 0.0).cpu(), top_ids.cpu()
    whole = probs.cpu() if not all(fits) else None
    tokens = []
    for i, generator in enumerate(generators):
        if fits[i]:
            tokens.append(int(top_ids[i, torch.multinomial(candidates[i], 1, generator=generator)]))
        else:
            assert whole is not None
            tokens.append(int(torch.multinomial(whole[i], 1, generator=generator)))
    return tokens


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
        for row, token in zip(sampled, _sample_rows(scores, top_p, [generators[i] for i in sampled])):
            chosen[row] = token
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
