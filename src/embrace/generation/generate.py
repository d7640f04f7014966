"""``generate()``: greedy and multinomial decoding (beam search lives in :mod:`embrace.generation.beam`).

The loop is :func:`iter_tokens`, a generator yielding each step's new tokens ``(batch,)``; :func:`generate`
drains it into the full sequences. Tokens are written by index into a preallocated buffer and the KV cache is
preallocated too, so a step allocates no sequence-length tensors. The only read of device values per step is
the "all rows finished?" check, and only when an eos id or a stopping criterion exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from embrace.errors import EmbraceError
from embrace.generation.config import GenerationConfig, GenerationConfigError
from embrace.generation.logits import LogitsProcessor, LogitsProcessorList, build_processors
from embrace.generation.stopping import StoppingCriteria, StoppingCriteriaList, StopStringCriteria
from embrace.models.cache import DynamicCache, KVCache, StaticCache
from embrace.models.linear import packed_for_rows
from embrace.models.outputs import ModelOutput


class GenerationInputError(EmbraceError, ValueError):
    """The prompt cannot be generated from (empty, wrong shape, longer than the model's context)."""


@dataclass
class GenerateDecoderOnlyOutput(ModelOutput):
    """``return_dict_in_generate=True``: sequences (batch, seq) and, on request, per-step scores/logits."""

    sequences: torch.Tensor
    scores: tuple[torch.Tensor, ...] | None = None
    logits: tuple[torch.Tensor, ...] | None = None
    past_key_values: KVCache | None = None
    sequences_scores: torch.Tensor | None = None
    beam_indices: torch.Tensor | None = None


@dataclass
class DecodeState:
    """What :func:`iter_tokens` works on; ``tokens[:, :length]`` are the sequences so far."""

    tokens: torch.Tensor          # (batch, prompt + max_new) preallocated
    length: int
    prompt_length: int
    unfinished: torch.Tensor      # (batch,) bool
    scores: list[torch.Tensor]
    raw_logits: list[torch.Tensor]
    cache: KVCache | None = None


def resolve_config(model: Any, generation_config: GenerationConfig | None, kwargs: dict[str, Any]
                   ) -> tuple[GenerationConfig, dict[str, Any]]:
    """The model's (or given) config updated with ``kwargs``, defaults filled, validated; returns unused kwargs."""
    import copy

    base = generation_config if generation_config is not None else getattr(model, "generation_config", None)
    config = copy.deepcopy(base) if base is not None else GenerationConfig()
    unused = config.update(**kwargs)
    if config.pad_token_id is None and config.eos_token_id is not None:
        eos = config.eos_token_id
        config.pad_token_id = eos if isinstance(eos, int) else eos[0]
    return config.resolved(), unused


def prepare_inputs(model: Any, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
                   config: GenerationConfig) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """Validate the prompt; return ``(input_ids, attention_mask or None when nothing is padded, max_length)``."""
    if input_ids is None:
        raise GenerationInputError("generate() needs input_ids (batch, seq): tokenize a prompt first")
    if input_ids.dim() == 1:
        input_ids = input_ids.unsqueeze(0)
    if input_ids.dim() != 2:
        raise GenerationInputError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}")
    batch, prompt_len = input_ids.shape
    if prompt_len == 0 or batch == 0:
        raise GenerationInputError("the prompt is empty: generate() needs at least one token per row "
                                   "(e.g. the tokenizer's bos token)")
    input_ids = input_ids.to(model.device)
    limit = model.max_positions() if hasattr(model, "max_positions") else 0
    if limit and prompt_len > limit:
        raise GenerationInputError(f"the prompt has {prompt_len} tokens but the model's context is {limit} "
                                   "(max_position_embeddings); truncate the prompt")
    max_length = prompt_len + config.max_new_tokens if config.max_new_tokens is not None else config.max_length
    assert max_length is not None
    if limit and getattr(model, "learned_positions", False) and max_length > limit:
        raise GenerationInputError(f"prompt ({prompt_len}) + new tokens would reach {max_length} positions, but "
                                   f"this model has {limit} learned positions; lower max_new_tokens")
    if attention_mask is None and config.pad_token_id is not None and config.pad_token_id != config.eos_token_id \
            and bool((input_ids == config.pad_token_id).any()):
        attention_mask = input_ids.ne(config.pad_token_id).long()
    if attention_mask is not None:
        if attention_mask.shape != input_ids.shape:
            raise GenerationInputError(f"attention_mask {tuple(attention_mask.shape)} must match input_ids "
                                       f"{tuple(input_ids.shape)}")
        attention_mask = attention_mask.to(input_ids.device)
        if bool(attention_mask.all()):
            attention_mask = None
    return input_ids, attention_mask, max(max_length, prompt_len)


def initial_positions(attention_mask: torch.Tensor | None, batch: int, prompt_len: int,
                      device: torch.device) -> torch.Tensor:
    """Left-padding-aware position ids (batch, prompt_len): count real tokens; pads get 1 (as the reference)."""
    if attention_mask is None:
        return torch.arange(prompt_len, device=device).unsqueeze(0).expand(batch, -1)
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 1)


def make_cache(config: GenerationConfig, max_length: int) -> KVCache:
    return DynamicCache() if config.cache_implementation == "dynamic" else StaticCache(max_length)


def rerun_whole_sequence(model: Any, past: int, length: int) -> bool:
    """Whether ``model`` wants its KV cache dropped and all ``length`` tokens re-run at this step (Phi-3's LongRoPE
    changes frequencies once the sequence outgrows the original context; the reference re-runs there too)."""
    stale = getattr(model, "cache_is_stale", None)
    return past > 0 and stale is not None and bool(stale(past, length))


def expand_rows(tensor: torch.Tensor | None, times: int) -> torch.Tensor | None:
    return tensor.repeat_interleave(times, dim=0) if tensor is not None and times > 1 else tensor


def iter_tokens(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                config: GenerationConfig, max_length: int, processors: LogitsProcessorList,
                criteria: StoppingCriteriaList, generator: torch.Generator | None = None,
                state: DecodeState | None = None) -> Iterator[torch.Tensor]:
    """Yield the next tokens (batch,) step by step until every row is finished or ``max_length`` is reached.

    Finished rows keep receiving ``pad_token_id``. ``state`` (optional, filled in place) exposes the buffers.
    """
    batch, prompt_len = input_ids.shape
    device = input_ids.device
    state = state or DecodeState(torch.empty(0), 0, 0, torch.empty(0), [], [])
    state.tokens = torch.empty(batch, max_length, dtype=input_ids.dtype, device=device)
    state.tokens[:, :prompt_len] = input_ids
    state.length = state.prompt_length = prompt_len
    state.unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    mask_buffer = None
    if attention_mask is not None:
        mask_buffer = torch.ones(batch, max_length, dtype=attention_mask.dtype, device=device)
        mask_buffer[:, :prompt_len] = attention_mask
    positions = initial_positions(attention_mask, batch, prompt_len, device)
    cache = make_cache(config, max_length) if config.use_cache else None
    state.cache = cache
    eos = config.eos_token_id
    eos_ids = torch.tensor([eos] if isinstance(eos, int) else eos, device=device) if eos is not None else None
    pad = config.pad_token_id
    must_check = eos_ids is not None or len(criteria) > 0
    step_ids = input_ids
    while state.length < max_length:
        length = state.length
        mask = mask_buffer[:, :length] if mask_buffer is not None else None
        if cache is not None and rerun_whole_sequence(model, length - step_ids.shape[1], length):
            cache = state.cache = make_cache(config, max_length)
            step_ids, positions = state.tokens[:, :length], initial_positions(mask, batch, length, device)
        with torch.no_grad():
            if cache is not None:
                out = model(input_ids=step_ids, attention_mask=mask, position_ids=positions,
                            past_key_values=cache, use_cache=True, logits_to_keep=1)
            else:  # no cache: run the whole sequence again (slow; for checking the cache)
                full_pos = initial_positions(mask, batch, length, device)
                out = model(input_ids=state.tokens[:, :length], attention_mask=mask, position_ids=full_pos,
                            logits_to_keep=1)
        logits = out.logits[:, -1, :].to(dtype=torch.float32, copy=True)
        sequences = state.tokens[:, :length]
        scores = processors(sequences, logits)
        if config.output_scores:
            state.scores.append(scores)
        if config.output_logits:
            state.raw_logits.append(logits)
        if config.do_sample:
            probs = torch.softmax(scores, dim=-1)
            next_tokens = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)
        else:
            next_tokens = torch.argmax(scores, dim=-1)
        if eos_ids is not None and pad is not None:
            next_tokens = torch.where(state.unfinished, next_tokens, torch.full_like(next_tokens, pad))
        state.tokens[:, length] = next_tokens
        state.length = length + 1
        if eos_ids is not None:
            state.unfinished = state.unfinished & ~torch.isin(next_tokens, eos_ids)
        if len(criteria):
            state.unfinished = state.unfinished & ~criteria(state.tokens[:, :state.length], scores)
        yield next_tokens
        step_ids = next_tokens[:, None]
        positions = positions[:, -1:] + 1
        if must_check and not bool(state.unfinished.any()):  # the one host sync per step
            break


def generate(model: Any, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
             generation_config: GenerationConfig | None = None,
             logits_processor: list[LogitsProcessor] | None = None,
             stopping_criteria: list[StoppingCriteria] | None = None, streamer: Any = None,
             generator: torch.Generator | None = None, tokenizer: Any = None, **kwargs: Any
             ) -> torch.Tensor | GenerateDecoderOnlyOutput:
    """Continue ``input_ids`` (batch, seq); returns the sequences (batch * num_return_sequences, seq + new) or a
    :class:`GenerateDecoderOnlyOutput` with ``return_dict_in_generate=True``.

    Encoder-decoder models (``config.is_encoder_decoder``): ``input_ids`` is the source; the encoder runs once and
    the result holds only decoder tokens, starting with ``decoder_start_token_id`` (see
    :mod:`embrace.generation.seq2seq`; ``encoder_outputs=`` and ``decoder_input_ids=`` are accepted too).

    Settings come from ``generation_config`` (default: the model's, from generation_config.json) updated by
    ``kwargs`` (``max_new_tokens=32, do_sample=True, top_p=0.9 ...``). Left-pad batched prompts and pass their
    ``attention_mask``. ``generator`` makes sampling reproducible without touching the global RNG.
    ``stop_strings`` needs ``tokenizer``. ``streamer`` receives the prompt, then each new token (batch 1).
    """
    config, unused = resolve_config(model, generation_config, kwargs)
    unused.pop("use_model_defaults", None)
    beams = config.num_beams or 1
    rows = (input_ids.shape[0] if input_ids is not None else 1) * (
        beams if beams > 1 else config.num_return_sequences or 1)
    with packed_for_rows(rows, model):   # beams / batch rows: weights laid out once for that many rows
        return _generate(model, input_ids, attention_mask, config, unused, logits_processor, stopping_criteria,
                         streamer, generator, tokenizer)


def _generate(model: Any, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
              config: GenerationConfig, unused: dict[str, Any], logits_processor: list[LogitsProcessor] | None,
              stopping_criteria: list[StoppingCriteria] | None, streamer: Any, generator: torch.Generator | None,
              tokenizer: Any) -> torch.Tensor | GenerateDecoderOnlyOutput:
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        from embrace.generation.seq2seq import generate_seq2seq

        encoder_outputs, decoder_input_ids = unused.pop("encoder_outputs", None), unused.pop("decoder_input_ids", None)
        if unused:
            raise GenerationConfigError(f"unknown generate() arguments: {sorted(unused)}; see GenerationConfig fields")
        return generate_seq2seq(model, input_ids, attention_mask, config, logits_processor, stopping_criteria,
                                streamer, generator, tokenizer, encoder_outputs, decoder_input_ids)
    if unused:
        raise GenerationConfigError(f"unknown generate() arguments: {sorted(unused)}; see GenerationConfig fields")
    input_ids, attention_mask, max_length = prepare_inputs(model, input_ids, attention_mask, config)
    prompt_len = input_ids.shape[1]
    criteria = stopping_list(stopping_criteria, config, tokenizer, prompt_len)
    processors = build_processors(config, prompt_len, logits_processor, attention_mask)
    if (config.num_beams or 1) > 1:
        if streamer is not None:
            raise GenerationConfigError("streaming is not available with beam search (num_beams > 1)")
        from embrace.generation.beam import beam_search

        return beam_search(model, input_ids, attention_mask, config, max_length, processors, criteria, generator)
    times = config.num_return_sequences or 1
    input_ids = input_ids.repeat_interleave(times, dim=0) if times > 1 else input_ids
    attention_mask = expand_rows(attention_mask, times)
    return stream_decode(model, model, input_ids, attention_mask, config, max_length, processors, criteria, generator,
                         streamer)


def stopping_list(stopping_criteria: list[StoppingCriteria] | None, config: GenerationConfig, tokenizer: Any,
                  prompt_len: int) -> StoppingCriteriaList:
    """The user's criteria plus ``stop_strings`` (which needs the tokenizer)."""
    criteria = StoppingCriteriaList(stopping_criteria or [])
    if config.stop_strings is not None:
        if tokenizer is None:
            raise GenerationConfigError("stop_strings needs the tokenizer: call generate(..., tokenizer=tokenizer)")
        criteria.append(StopStringCriteria(tokenizer, config.stop_strings, prompt_len))
    return criteria


def stream_decode(module: Any, step: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                  config: GenerationConfig, max_length: int, processors: LogitsProcessorList,
                  criteria: StoppingCriteriaList, generator: torch.Generator | None, streamer: Any
                  ) -> torch.Tensor | GenerateDecoderOnlyOutput:
    """Run :func:`iter_tokens` with ``step`` (the model, or a wrapper calling it) while ``module`` is in eval mode,
    feeding ``streamer`` (batch 1) the prompt and each new token; return the sequences or the dict output."""
    if streamer is not None:
        if input_ids.shape[0] != 1:
            raise GenerationConfigError("streamers support batch size 1 only")
        streamer.put(input_ids.cpu())
    state = DecodeState(torch.empty(0), 0, 0, torch.empty(0), [], [])
    was_training = module.training
    module.eval()
    try:
        for tokens in iter_tokens(step, input_ids, attention_mask, config, max_length, processors, criteria,
                                  generator, state):
            if streamer is not None:
                streamer.put(tokens.cpu())
    finally:
        module.train(was_training)
        if streamer is not None:
            streamer.end()
    sequences = state.tokens[:, :state.length]
    if not config.return_dict_in_generate:
        return sequences
    return GenerateDecoderOnlyOutput(
        sequences=sequences, scores=tuple(state.scores) if config.output_scores else None,
        logits=tuple(state.raw_logits) if config.output_logits else None, past_key_values=state.cache)
