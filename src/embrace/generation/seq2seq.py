"""``generate()`` for encoder-decoder models (T5, BART, Marian ...).

The encoder runs once; its output (and mask) is repeated for beams / returned sequences, and decoding starts
from ``decoder_start_token_id``. :class:`DecoderSteps` makes the model look like a decoder-only LM to the shared
loops (:func:`~embrace.generation.generate.iter_tokens`, :func:`~embrace.generation.beam.beam_search`): each call
runs only the decoder, with an :class:`~embrace.models.cache.EncoderDecoderCache` whose cross-attention keys/values
are computed on the first step and reused. Beam search reorders only the self-attention cache: the beams of one
prompt share the same encoder output, so the cross-attention rows never need to move. Models that set
``encoder_rows_shared = True`` (T5) get the encoder output once per prompt rather than once per beam, and attend
from all of a prompt's beams to it in one call.
"""

from __future__ import annotations

from typing import Any

import torch

from embrace.generation.config import GenerationConfig, GenerationConfigError
from embrace.generation.generate import (
    GenerateDecoderOnlyOutput,
    GenerationInputError,
    expand_rows,
    stopping_list,
    stream_decode,
)
from embrace.generation.logits import LogitsProcessor, build_processors
from embrace.generation.stopping import StoppingCriteria
from embrace.models.cache import DynamicCache, EncoderDecoderCache, KVCache, StaticCache
from embrace.models.outputs import BaseModelOutput
from embrace.models.seq2seq import MissingDecoderStartError, as_encoder_output

GenerateEncoderDecoderOutput = GenerateDecoderOnlyOutput  # same fields: sequences are the decoder's tokens


class DecoderSteps:
    """Callable like a decoder-only LM (``input_ids`` = decoder tokens) over a fixed encoder output."""

    def __init__(self, model: Any, encoder_hidden: torch.Tensor, encoder_mask: torch.Tensor | None) -> None:
        self.model = model
        self.encoder_outputs = BaseModelOutput(last_hidden_state=encoder_hidden)
        self.encoder_mask = encoder_mask
        self.caches: dict[int, EncoderDecoderCache] = {}

    @property
    def device(self) -> torch.device:
        return self.encoder_outputs.last_hidden_state.device

    def cache_for(self, self_attention_cache: KVCache | None) -> EncoderDecoderCache | None:
        """The encoder-decoder cache wrapping the loop's self-attention cache (one per loop cache)."""
        if self_attention_cache is None:
            return None
        if isinstance(self_attention_cache, EncoderDecoderCache):
            return self_attention_cache
        key = id(self_attention_cache)
        if key not in self.caches:
            assert isinstance(self_attention_cache, DynamicCache | StaticCache)
            self.caches[key] = EncoderDecoderCache(self_attention_cache, DynamicCache())
        return self.caches[key]

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 past_key_values: KVCache | None = None, use_cache: bool | None = None, logits_to_keep: int = 0,
                 **_: Any) -> Any:
        return self.model(encoder_outputs=self.encoder_outputs, attention_mask=self.encoder_mask,
                          decoder_input_ids=input_ids, decoder_attention_mask=attention_mask,
                          past_key_values=self.cache_for(past_key_values), use_cache=bool(use_cache),
                          logits_to_keep=logits_to_keep)


def decoder_start_ids(model: Any, config: GenerationConfig, batch: int, device: torch.device,
                      decoder_input_ids: torch.Tensor | None) -> torch.Tensor:
    """(batch, n) decoder prompt: the start token, followed by ``decoder_input_ids`` when given (as the reference:
    the start token is prepended unless the given ids already begin with it)."""
    start = config.decoder_start_token_id
    if start is None:
        start = getattr(model.config, "decoder_start_token_id", None)
    if start is None:
        start = config.bos_token_id
    if start is None:
        raise MissingDecoderStartError(
            "encoder-decoder generation needs decoder_start_token_id (or bos_token_id): set it in the model's "
            "config / generation_config, or pass generate(..., decoder_start_token_id=ID)")
    start_ids = torch.full((batch, 1), int(start), dtype=torch.long, device=device)
    if decoder_input_ids is None:
        return start_ids
    decoder_input_ids = decoder_input_ids.to(device)
    if decoder_input_ids.dim() == 1:
        decoder_input_ids = decoder_input_ids.unsqueeze(0)
    if decoder_input_ids.shape[0] != batch:
        raise GenerationInputError(f"decoder_input_ids has {decoder_input_ids.shape[0]} rows but input_ids has "
                                   f"{batch}")
    if decoder_input_ids.shape[1] and bool((decoder_input_ids[:, 0] == start).all()):
        return decoder_input_ids
    return torch.cat((start_ids, decoder_input_ids), dim=1)


def encoder_inputs(model: Any, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
                   config: GenerationConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validated source ids (batch, src) and their mask (inferred from pad ids when not given)."""
    if input_ids is None:
        raise GenerationInputError("generate() needs input_ids (batch, src_len) for the encoder: tokenize the "
                                   "source text first (or pass encoder_outputs=)")
    if input_ids.dim() == 1:
        input_ids = input_ids.unsqueeze(0)
    if input_ids.dim() != 2 or input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        raise GenerationInputError(f"input_ids must be a non-empty (batch, src_len) tensor, got "
                                   f"{tuple(input_ids.shape)}")
    input_ids = input_ids.to(model.device)
    if attention_mask is None and config.pad_token_id is not None and config.pad_token_id != config.eos_token_id \
            and bool((input_ids == config.pad_token_id).any()):
        attention_mask = input_ids.ne(config.pad_token_id).long()
    if attention_mask is not None:
        if attention_mask.shape != input_ids.shape:
            raise GenerationInputError(f"attention_mask {tuple(attention_mask.shape)} must match input_ids "
                                       f"{tuple(input_ids.shape)}")
        attention_mask = attention_mask.to(input_ids.device)
    return input_ids, attention_mask


def generate_seq2seq(model: Any, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
                     config: GenerationConfig, logits_processor: list[LogitsProcessor] | None = None,
                     stopping_criteria: list[StoppingCriteria] | None = None, streamer: Any = None,
                     generator: torch.Generator | None = None, tokenizer: Any = None,
                     encoder_outputs: Any = None, decoder_input_ids: torch.Tensor | None = None
                     ) -> torch.Tensor | GenerateDecoderOnlyOutput:
    """Encode once, then decode with greedy / sampling / beam search; returns the decoder sequences
    (batch * num_return_sequences, target_len) starting with the decoder start token, as the reference."""
    beams = int(config.num_beams or 1)
    if beams > 1 and streamer is not None:
        raise GenerationConfigError("streaming is not available with beam search (num_beams > 1)")
    model_was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if encoder_outputs is None:
                input_ids, attention_mask = encoder_inputs(model, input_ids, attention_mask, config)
                encoder_outputs = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)
            encoded = as_encoder_output(encoder_outputs).last_hidden_state
            if attention_mask is not None:
                attention_mask = attention_mask.to(encoded.device)
            batch = encoded.shape[0]
            prompt = decoder_start_ids(model, config, batch, encoded.device, decoder_input_ids)
            prompt_len = prompt.shape[1]
            max_length = prompt_len + config.max_new_tokens if config.max_new_tokens is not None \
                else config.max_length
            assert max_length is not None
            max_length = max(max_length, prompt_len)
            criteria = stopping_list(stopping_criteria, config, tokenizer, prompt_len)
            processors = build_processors(config, prompt_len, logits_processor, None, max_length)
            times = beams if beams > 1 else int(config.num_return_sequences or 1)
            if beams > 1 and getattr(model, "encoder_rows_shared", False):
                # the beams of a prompt attend to one shared encoder row: no copies, cross-attention K/V once
                steps = DecoderSteps(model, encoded, attention_mask)
            else:
                encoded_rows = expand_rows(encoded, times)
                assert encoded_rows is not None
                steps = DecoderSteps(model, encoded_rows, expand_rows(attention_mask, times))
            if beams > 1:
                from embrace.generation.beam import beam_search

                return beam_search(steps, prompt, None, config, max_length, processors, criteria, generator)
            prompt_rows = expand_rows(prompt, times)
            assert prompt_rows is not None
            out = stream_decode(model, steps, prompt_rows, None, config, max_length, processors, criteria,
                                generator, streamer)
    finally:
        model.train(model_was_training)
    if isinstance(out, GenerateDecoderOnlyOutput):
        out.past_key_values = steps.cache_for(out.past_key_values)
    return out
