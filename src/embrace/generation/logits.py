"""Logits processors: composable, user-extensible transforms of next-token scores.

Each is a callable ``(input_ids (batch, seq), scores (batch, vocab)) -> scores``; a :class:`LogitsProcessorList`
applies them in order. :func:`build_processors` assembles the list for a :class:`GenerationConfig` in the
reference's order (penalties and bans first, then the sampling warpers), so seeded sampling matches it.
Removed tokens get ``-inf``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from embrace.generation.config import GenerationConfig

NEG_INF = -math.inf


class LogitsProcessor:
    """Base class: subclass and implement ``__call__(input_ids, scores) -> scores`` (do not modify in place)."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(input_ids, scores)")


LogitsWarper = LogitsProcessor  # the reference's old name for the sampling-only processors


class LogitsProcessorList(list[LogitsProcessor]):
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class TemperatureLogitsWarper(LogitsProcessor):
    def __init__(self, temperature: float) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be a strictly positive float, got {temperature}")
        self.temperature = temperature

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    def __init__(self, top_k: int, min_tokens_to_keep: int = 1) -> None:
        if top_k <= 0:
            raise ValueError(f"top_k must be a positive integer, got {top_k}")
        self.top_k = max(top_k, min_tokens_to_keep)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        k = min(self.top_k, scores.shape[-1])
        return scores.masked_fill(scores < torch.topk(scores, k)[0][..., -1, None], NEG_INF)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus sampling: keep the smallest set of most likely tokens whose probability mass reaches ``top_p``."""

    def __init__(self, top_p: float, min_tokens_to_keep: int = 1) -> None:
        if not 0.0 <= top_p <= 1.0:
            raise ValueError(f"top_p must be in [0, 1], got {top_p}")
        self.top_p = top_p
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= (1 - self.top_p)
        remove_sorted[..., -self.min_tokens_to_keep:] = False
        remove = remove_sorted.scatter(1, sorted_indices, remove_sorted)
        return scores.masked_fill(remove, NEG_INF)


class MinPLogitsWarper(LogitsProcessor):
    """Keep tokens whose probability is at least ``min_p`` times the top token's."""

    def __init__(self, min_p: float, min_tokens_to_keep: int = 1) -> None:
        if not 0.0 <= min_p <= 1.0:
            raise ValueError(f"min_p must be in [0, 1], got {min_p}")
        self.min_p = min_p
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores, dim=-1)
        remove = probs < self.min_p * probs.amax(dim=-1, keepdim=True)
        keep = torch.topk(probs, min(self.min_tokens_to_keep, probs.shape[-1]), dim=-1).indices
        remove.scatter_(-1, keep, False)
        return scores.masked_fill(remove, NEG_INF)


class TypicalLogitsWarper(LogitsProcessor):
    """Locally typical sampling: keep tokens whose surprise is closest to the entropy, up to mass ``mass``."""

    def __init__(self, mass: float = 0.9, min_tokens_to_keep: int = 1) -> None:
        if not 0.0 < mass < 1.0:
            raise ValueError(f"typical_p must be in (0, 1), got {mass}")
        self.mass = mass
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        normalized = torch.nn.functional.log_softmax(scores, dim=-1)
        entropy = -(normalized * normalized.exp()).nansum(-1, keepdim=True)
        shifted = torch.abs(-normalized - entropy)
        sorted_scores, sorted_indices = torch.sort(shifted, descending=False)
        cumulative = scores.gather(-1, sorted_indices).softmax(dim=-1).cumsum(dim=-1)
        last = (cumulative < self.mass).sum(dim=1).clamp_(max=sorted_scores.shape[-1] - 1)
        remove_sorted = sorted_scores > sorted_scores.gather(1, last.view(-1, 1))
        remove_sorted[..., : self.min_tokens_to_keep] = False
        return scores.masked_fill(remove_sorted.scatter(1, sorted_indices, remove_sorted), NEG_INF)


class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Divide positive (multiply negative) scores of tokens already in the sequence by ``penalty``.

    ``padding_lengths`` (batch,): left-padding tokens to skip per row, so pad ids are not penalised.
    """

    def __init__(self, penalty: float, padding_lengths: torch.Tensor | None = None) -> None:
        if not penalty > 0:
            raise ValueError(f"repetition_penalty must be a strictly positive float, got {penalty}")
        self.penalty = penalty
        self.padding_lengths = padding_lengths

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        vocab = scores.shape[-1]
        input_ids = input_ids.clamp(max=vocab)
        if self.padding_lengths is not None:
            pads = self.padding_lengths.to(input_ids.device)
            if pads.shape[0] != input_ids.shape[0]:  # rows expanded for beams / return sequences
                pads = pads.repeat_interleave(input_ids.shape[0] // pads.shape[0])
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            input_ids = input_ids.masked_fill(positions[None, :] < pads[:, None], vocab)
        padded = torch.nn.functional.pad(scores, (0, 1))  # column `vocab` absorbs the skipped ids
        seen = torch.gather(padded, 1, input_ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return padded.scatter(1, input_ids, seen)[..., :vocab]


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Ban any token that would repeat an n-gram of size ``ngram_size`` already in the sequence."""

    def __init__(self, ngram_size: int) -> None:
        if ngram_size <= 0:
            raise ValueError(f"no_repeat_ngram_size must be a positive integer, got {ngram_size}")
        self.n = ngram_size

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        cur_len = input_ids.shape[-1]
        if cur_len + 1 < self.n:
            return scores
        scores = scores.clone()
        for row, tokens in enumerate(input_ids.tolist()):
            prefix = tuple(tokens[cur_len + 1 - self.n:]) if self.n > 1 else ()
            banned_ids = [tokens[i + self.n - 1] for i in range(cur_len - self.n + 1)
                          if tuple(tokens[i:i + self.n - 1]) == prefix]
            if banned_ids:
                scores[row, banned_ids] = NEG_INF
        return scores


class NoBadWordsLogitsProcessor(LogitsProcessor):
    """Ban token sequences: a single-token entry is always banned; a longer one bans its last token when the
    sequence ends with the rest. Entries equal to an eos id are ignored (as in the reference)."""

    def __init__(self, bad_words_ids: list[list[int]], eos_token_id: int | list[int] | None = None) -> None:
        if not bad_words_ids or any(not w or any(t < 0 for t in w) for w in bad_words_ids):
            raise ValueError(f"bad_words_ids must be a non-empty list of non-empty id lists, got {bad_words_ids!r}")
        eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id or [])
        words = [w for w in bad_words_ids if not (len(w) == 1 and w[0] in eos)]
        self.single = sorted({w[0] for w in words if len(w) == 1})
        self.multi = [w for w in words if len(w) > 1]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        if self.single:
            scores[:, self.single] = NEG_INF
        if self.multi:
            rows = input_ids.tolist()
            for row, tokens in enumerate(rows):
                for word in self.multi:
                    prefix = word[:-1]
                    if len(tokens) >= len(prefix) and tokens[len(tokens) - len(prefix):] == prefix:
                        scores[row, word[-1]] = NEG_INF
        return scores


def _eos_mask(scores: torch.Tensor, eos: torch.Tensor) -> torch.Tensor:
    return torch.isin(torch.arange(scores.shape[-1], device=scores.device), eos)


class MinLengthLogitsProcessor(LogitsProcessor):
    """Forbid eos while the whole sequence (prompt included) is shorter than ``min_length``."""

    def __init__(self, min_length: int, eos_token_id: int | list[int]) -> None:
        self.min_length = min_length
        self.eos = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else eos_token_id)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[-1] < self.min_length:
            return torch.where(_eos_mask(scores, self.eos.to(scores.device)), NEG_INF, scores)
        return scores


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """Forbid eos until ``min_new_tokens`` tokens follow the prompt of length ``prompt_length``."""

    def __init__(self, prompt_length: int, min_new_tokens: int, eos_token_id: int | list[int]) -> None:
        self.prompt_length = prompt_length
        self.min_new_tokens = min_new_tokens
        self.eos = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else eos_token_id)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[-1] - self.prompt_length < self.min_new_tokens:
            return torch.where(_eos_mask(scores, self.eos.to(scores.device)), NEG_INF, scores)
        return scores


class ForcedBOSTokenLogitsProcessor(LogitsProcessor):
    """Force ``bos_token_id`` as the first generated token (sequence length 1: the decoder start token)."""

    def __init__(self, bos_token_id: int) -> None:
        self.bos_token_id = bos_token_id

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[-1] != 1:
            return scores
        forced = torch.full_like(scores, NEG_INF)
        forced[:, self.bos_token_id] = 0
        return forced


class ForcedEOSTokenLogitsProcessor(LogitsProcessor):
    """Force one of ``eos_token_id`` as the last token when the sequence reaches ``max_length - 1``."""

    def __init__(self, max_length: int, eos_token_id: int | list[int]) -> None:
        self.max_length = max_length
        self.eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        if any(t < 0 for t in self.eos):
            raise ValueError(f"forced_eos_token_id must hold non-negative ids, got {eos_token_id}")

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[-1] != self.max_length - 1:
            return scores
        forced = torch.full_like(scores, NEG_INF)
        forced[:, self.eos] = 0
        return forced


class LogitNormalization(LogitsProcessor):
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.log_softmax(dim=-1)


def build_processors(config: GenerationConfig, prompt_length: int,
                     extra: Iterable[LogitsProcessor] | None = None,
                     attention_mask: torch.Tensor | None = None, max_length: int | None = None) -> LogitsProcessorList:
    """The processors a resolved ``config`` asks for, in the reference's order, then the user's ``extra`` ones.
    ``max_length``: the total sequence length the loop stops at (for ``forced_eos_token_id``)."""
    out = LogitsProcessorList()
    if config.repetition_penalty not in (None, 1.0):
        pads = (attention_mask != 0).int().argmax(dim=1) if attention_mask is not None else None
        out.append(RepetitionPenaltyLogitsProcessor(float(config.repetition_penalty), pads))
    if config.no_repeat_ngram_size:
        out.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    if config.bad_words_ids is not None:
        out.append(NoBadWordsLogitsProcessor(config.bad_words_ids, config.eos_token_id))
    if config.eos_token_id is not None and config.min_length:
        out.append(MinLengthLogitsProcessor(config.min_length, config.eos_token_id))
    if config.eos_token_id is not None and config.min_new_tokens:
        out.append(MinNewTokensLengthLogitsProcessor(prompt_length, config.min_new_tokens, config.eos_token_id))
    if config.forced_bos_token_id is not None:
        out.append(ForcedBOSTokenLogitsProcessor(config.forced_bos_token_id))
    if config.forced_eos_token_id is not None:
        limit = max_length if max_length is not None else config.max_length
        assert limit is not None
        out.append(ForcedEOSTokenLogitsProcessor(limit, config.forced_eos_token_id))
    if config.do_sample:
        eos_count = 1 if isinstance(config.eos_token_id, int) else len(config.eos_token_id or [])
        keep = (eos_count + 1 if eos_count else 2) if (config.num_beams or 1) > 1 else 1
        if config.temperature not in (None, 1.0):
            out.append(TemperatureLogitsWarper(float(config.temperature)))
        if config.top_k:
            out.append(TopKLogitsWarper(config.top_k, keep))
        if config.top_p is not None and config.top_p < 1.0:
            out.append(TopPLogitsWarper(config.top_p, keep))
        if config.min_p is not None:
            out.append(MinPLogitsWarper(config.min_p, keep))
        if config.typical_p is not None and config.typical_p < 1.0:
            out.append(TypicalLogitsWarper(config.typical_p, keep))
    out.extend(extra or ())
    if config.renormalize_logits:
        out.append(LogitNormalization())
    return out
