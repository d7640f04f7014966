"""Stopping criteria: user-extensible objects deciding, per row, that a sequence is finished.

A criterion is a callable ``(input_ids (batch, seq), scores (batch, vocab)) -> done (batch,) bool tensor``.
Length limits and eos are handled by the decoding loop itself (no device read per token); these objects cover
the rest, and :class:`StoppingCriteriaList` combines them with OR.
"""

from __future__ import annotations

from typing import Any

import torch


class StoppingCriteria:
    """Base class: implement ``__call__(input_ids, scores) -> BoolTensor (batch,)`` (True = this row is done)."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(input_ids, scores)")


class StoppingCriteriaList(list[StoppingCriteria]):
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for criterion in self:
            done = done | criterion(input_ids, scores)
        return done


class MaxLengthCriteria(StoppingCriteria):
    """Done once the sequence (prompt included) has ``max_length`` tokens."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), input_ids.shape[-1] >= self.max_length, device=input_ids.device)


class EosTokenCriteria(StoppingCriteria):
    """Done when the last token is one of ``eos_token_id`` (an id or a list of ids)."""

    def __init__(self, eos_token_id: int | list[int]) -> None:
        self.eos = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else eos_token_id)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return torch.isin(input_ids[:, -1], self.eos.to(input_ids.device))


class StopStringCriteria(StoppingCriteria):
    """Done when the decoded text of the last tokens ends with (or contains, within the newest token's reach)
    one of ``stop_strings``. Needs the tokenizer: pass ``tokenizer=`` to ``generate``."""

    def __init__(self, tokenizer: Any, stop_strings: str | list[str], prompt_length: int = 0) -> None:
        self.tokenizer = tokenizer
        self.stop_strings = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings)
        if not self.stop_strings or any(not s for s in self.stop_strings):
            raise ValueError(f"stop_strings must be non-empty strings, got {stop_strings!r}")
        self.prompt_length = prompt_length
        self.window = max(len(s) for s in self.stop_strings) + 2  # every token decodes to >= 1 char, mostly

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        done = []
        for row in input_ids[:, self.prompt_length:].tolist():
            tail = row[-self.window:]
            text = self.tokenizer.decode(tail, skip_special_tokens=False)
            before = self.tokenizer.decode(tail[:-1], skip_special_tokens=False) if len(tail) > 1 else ""
            # the stop string must end inside the newest token's text, not already be complete before it
            done.append(any(s in text and s not in before for s in self.stop_strings))
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)
