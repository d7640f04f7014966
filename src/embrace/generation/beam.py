"""Beam search, vectorised over the batch as in the reference (same candidate counts, tie-breaking and
early-stopping heuristic, so outputs are token-identical).

Per step: log-softmax -> processors -> add running beam scores -> top ``K = max(2, 1 + n_eos) * num_beams``
candidates per prompt -> candidates that hit a stopping criterion (eos, max length, user criteria) may enter
the finished set (score divided by ``generated_length ** length_penalty``) -> the best ``num_beams`` live
candidates continue, and the KV cache rows are reordered to follow them.
"""

from __future__ import annotations

from typing import Any

import torch

from embrace.generation.config import GenerationConfig
from embrace.generation.generate import (
    GenerateDecoderOnlyOutput,
    initial_positions,
    make_cache,
    rerun_whole_sequence,
)
from embrace.generation.logits import LogitsProcessorList
from embrace.generation.stopping import (
    EosTokenCriteria,
    MaxLengthCriteria,
    StoppingCriteriaList,
)

NEG = -1.0e9


def _gather(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Select beams ``index`` (batch, k) along dim 1 of ``tensor`` (batch, beams, ...)."""
    while index.dim() < tensor.dim():
        index = index.unsqueeze(-1)
    return torch.take_along_dim(tensor, index, dim=1)


def _flat(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(tensor.shape[0] * tensor.shape[1], *tensor.shape[2:])


def beam_search(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, config: GenerationConfig,
                max_length: int, processors: LogitsProcessorList, criteria: StoppingCriteriaList,
                generator: torch.Generator | None = None) -> torch.Tensor | GenerateDecoderOnlyOutput:
    """Beam search for ``input_ids`` (batch, prompt); returns (batch * num_return_sequences, seq)."""
    num_beams = int(config.num_beams or 1)
    length_penalty = float(config.length_penalty if config.length_penalty is not None else 1.0)
    early_stopping = config.early_stopping
    batch, prompt_len = input_ids.shape
    device = input_ids.device
    eos = config.eos_token_id
    eos_list = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    stops = StoppingCriteriaList([MaxLengthCriteria(max_length), *criteria])
    if eos_list:
        stops.append(EosTokenCriteria(eos_list))
    keep = max(2, 1 + len(eos_list)) * num_beams
    top_beam_mask = torch.cat((torch.ones(num_beams, dtype=torch.bool), torch.zeros(keep - num_beams, dtype=torch.bool)))
    top_beam_mask = top_beam_mask.to(device)

    flat_ids = input_ids.repeat_interleave(num_beams, dim=0)
    mask = attention_mask.repeat_interleave(num_beams, dim=0) if attention_mask is not None else None
    # the reference's `pad or eos[0]`: a pad id of 0 falls through to eos
    fill = (config.pad_token_id or eos_list[0]) if eos_list else -1
    running = torch.full((batch, num_beams, max_length), fill, dtype=torch.int64, device=device)
    running[:, :, :prompt_len] = flat_ids.view(batch, num_beams, prompt_len)
    sequences = running.clone()
    running_scores = torch.zeros(batch, num_beams, device=device)
    running_scores[:, 1:] = NEG
    beam_scores = torch.full((batch, num_beams), NEG, device=device)
    finished = torch.zeros(batch, num_beams, dtype=torch.bool, device=device)
    improvable = torch.ones(batch, 1, dtype=torch.bool, device=device)
    running_indices = torch.full((batch, num_beams, max_length - prompt_len), -1, dtype=torch.int32, device=device)
    beam_indices = running_indices.clone()
    all_scores: list[torch.Tensor] = []
    raw_logits: list[torch.Tensor] = []

    cache = make_cache(config, max_length)
    positions = initial_positions(mask, flat_ids.shape[0], prompt_len, device)
    step_ids = flat_ids
    cur_len = prompt_len
    batch_offset = torch.arange(batch, device=device).view(-1, 1) * num_beams
    while True:
        full_mask = None
        if mask is not None:
            full_mask = torch.cat((mask, mask.new_ones(mask.shape[0], cur_len - prompt_len)), dim=1)
        if rerun_whole_sequence(model, cur_len - step_ids.shape[1], cur_len):
            cache = make_cache(config, max_length)
            step_ids = _flat(running[:, :, :cur_len])
            positions = initial_positions(full_mask, step_ids.shape[0], cur_len, device)
        with torch.no_grad():
            out = model(input_ids=step_ids, attention_mask=full_mask, position_ids=positions, past_key_values=cache,
                        use_cache=True, logits_to_keep=1)
        logits = out.logits[:, -1, :].to(dtype=torch.float32, copy=True)
        log_probs = processors(_flat(running[:, :, :cur_len]), torch.log_softmax(logits, dim=-1))
        if config.output_scores:
            all_scores.append(log_probs.clone())
        if config.output_logits:
            raw_logits.append(logits)
        vocab = log_probs.shape[-1]
        accumulated = (log_probs.view(batch, num_beams, vocab) + running_scores[:, :, None]).view(batch, -1)
        if config.do_sample:
            top_idx = torch.multinomial(torch.softmax(accumulated, dim=-1), num_samples=keep, generator=generator)
            top_logp = torch.gather(accumulated, 1, top_idx)
        else:
            top_logp, top_idx = torch.topk(accumulated, k=keep)
        source_beam = top_idx // vocab
        top_indices = _gather(running_indices, source_beam)
        top_sequences = _gather(running, source_beam)
        top_sequences[:, :, cur_len] = top_idx % vocab
        top_indices[:, :, cur_len - prompt_len] = (source_beam + batch_offset).to(top_indices.dtype)

        hits = stops(_flat(top_sequences[:, :, :cur_len + 1]), log_probs).view(batch, keep)

        # live beams for the next step: best candidates that did not stop
        live_logp = top_logp + hits.float() * NEG
        next_idx = torch.topk(live_logp, k=num_beams)[1]
        running = _gather(top_sequences, next_idx)
        running_scores = _gather(live_logp, next_idx)
        running_indices = _gather(top_indices, next_idx)

        # finished set: merge candidates that just stopped (among the top num_beams) with the old finished beams
        just_finished = hits & top_beam_mask[None, :]
        cand = top_logp / ((cur_len + 1 - prompt_len) ** length_penalty)
        full = torch.all(finished, dim=-1, keepdim=True) & (early_stopping is True)
        cand = cand + full.float() * NEG + (~improvable).float() * NEG + (~just_finished).float() * NEG
        merged_scores = torch.cat((beam_scores, cand), dim=1)
        best = torch.topk(merged_scores, k=num_beams)[1]
        sequences = _gather(torch.cat((sequences, top_sequences), dim=1), best)
        beam_scores = _gather(merged_scores, best)
        beam_indices = _gather(torch.cat((beam_indices, top_indices), dim=1), best)
        finished = _gather(torch.cat((finished, just_finished), dim=1), best)

        cache.reorder(_flat(running_indices[..., cur_len - prompt_len]).long())
        cur_len += 1
        if early_stopping == "never" and length_penalty > 0.0:
            best_len = max_length - prompt_len
        else:
            best_len = cur_len - prompt_len
        best_running = running_scores[:, :1] / (best_len ** length_penalty)
        worst_finished = torch.where(finished, torch.min(beam_scores, dim=1, keepdim=True)[0], NEG)
        improvable = improvable & torch.any(best_running > worst_finished, dim=-1, keepdim=True)
        go_on = torch.any(improvable) & ~(torch.all(finished) & (early_stopping is True)) & ~torch.all(hits)
        if not bool(go_on):
            break
        step_ids = _flat(running[:, :, cur_len - 1:cur_len])
        positions = positions[:, -1:] + 1
        # the reorder moved rows, and positions follow their beam's row
        positions = positions.view(batch, num_beams, 1)
        positions = _flat(_gather(positions, running_indices[..., cur_len - 1 - prompt_len].long() - batch_offset))

    nrs = int(config.num_return_sequences or 1)
    sequences = _flat(sequences[:, :nrs])
    scores = _flat(beam_scores[:, :nrs])
    indices = _flat(beam_indices[:, :nrs])
    generated = int((indices + 1).bool().sum(dim=1).max())
    sequences = sequences[:, :prompt_len + generated]
    if not config.return_dict_in_generate:
        return sequences
    return GenerateDecoderOnlyOutput(sequences=sequences, scores=tuple(all_scores) if config.output_scores else None,
                                     logits=tuple(raw_logits) if config.output_logits else None,
                                     past_key_values=cache, sequences_scores=scores if config.output_scores else None,
                                     beam_indices=indices[:, :generated])
