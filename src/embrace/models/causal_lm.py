"""Pieces shared by every decoder-only family: the output type, the causal/sliding/padding attention bias,
the LM-head forward (logits_to_keep, shifted loss) and the ``from_pretrained`` extras (generation config, GGUF).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F

from embrace.models.cache import KVCache
from embrace.models.generation_support import GenerationConfigMixin
from embrace.models.modeling import PreTrainedModel
from embrace.models.outputs import Hidden, ModelOutput

_ModelT = TypeVar("_ModelT", bound="CausalLMBase")


@dataclass
class BaseModelOutputWithPast(ModelOutput):
    last_hidden_state: torch.Tensor
    past_key_values: KVCache | None = None
    hidden_states: Hidden = None
    attentions: Hidden = None


@dataclass
class CausalLMOutputWithPast(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    past_key_values: KVCache | None = None
    hidden_states: Hidden = None
    attentions: Hidden = None


def attention_bias(attention_mask: torch.Tensor | None, q_len: int, past_len: int, dtype: torch.dtype,
                   device: torch.device, sliding_window: int | None = None) -> tuple[torch.Tensor | None, bool]:
    """``(additive bias (batch|1, 1, q_len, past_len + q_len) or None, is_causal)`` for one attention call.

    Queries sit at absolute positions ``past_len .. past_len + q_len - 1``; a key is visible when it is not in the
    future, inside the sliding window (``key > query - window``) and not padding (``attention_mask`` 0). Fully
    masked rows (left padding) get a uniform row instead of NaN. Returns ``(None, True)`` when SDPA's own causal
    flag is exact, ``(None, False)`` when nothing is masked (one new token, no padding, no window).
    """
    k_len = past_len + q_len
    window_matters = sliding_window is not None and k_len > sliding_window
    if attention_mask is None and not window_matters:
        if q_len == 1:
            return None, False
        if past_len == 0:
            return None, True
    q_pos = torch.arange(past_len, k_len, device=device)[:, None]
    k_pos = torch.arange(k_len, device=device)[None, :]
    keep = k_pos <= q_pos
    if sliding_window is not None:
        keep = keep & (k_pos > q_pos - sliding_window)
    keep = keep[None, None]
    if attention_mask is not None:
        keep = keep & attention_mask[:, None, None, -k_len:].to(torch.bool)
    bias = torch.zeros(keep.shape, dtype=dtype, device=device)
    return bias.masked_fill_(~keep, torch.finfo(dtype).min), False


def default_position_ids(past_len: int, q_len: int, batch: int, device: torch.device) -> torch.Tensor:
    return torch.arange(past_len, past_len + q_len, device=device).unsqueeze(0).expand(batch, -1)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross entropy: position t predicts label t+1; labels of -100 are ignored (as the reference)."""
    shifted = F.pad(labels, (0, 1), value=-100)[..., 1:].to(logits.device)
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=-100)


def check_token_inputs(input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> None:
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids (batch, seq) or inputs_embeds (batch, seq, hidden)")
    if input_ids is not None and input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}; "
                         "add a batch dimension with input_ids.unsqueeze(0)")


class CausalLMBase(GenerationConfigMixin, PreTrainedModel):
    """Base of ``*ForCausalLM`` classes: ``generate()``, the LM head forward, and generation-config loading.

    Subclasses build ``self.<base_model_prefix>`` (the body) and ``self.lm_head`` and set
    ``learned_positions`` when position ids index an embedding table (prompt + new tokens must fit it).
    """

    learned_positions: ClassVar[bool] = False
    quantization: str | None = None   # "int8"/"bf16" once :meth:`quantize` ran

    def get_output_embeddings(self) -> torch.nn.Module:
        head = self.get_submodule("lm_head")
        return head

    def max_positions(self) -> int:
        return int(getattr(self.config, "max_position_embeddings", 0) or getattr(self.config, "n_positions", 0))

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                use_cache: bool | None = None, output_hidden_states: bool | None = None,
                logits_to_keep: int = 0, **_: Any) -> CausalLMOutputWithPast:
        """Ids (batch, seq) -> logits (batch, seq or logits_to_keep, vocab); ``labels`` (batch, seq) adds the loss.

        ``attention_mask`` (batch, past + seq) covers cached and new positions. ``past_key_values`` is updated in
        place; pass ``use_cache=True`` without one to get a fresh :class:`DynamicCache` back.
        """
        body = getattr(self, self.base_model_prefix)
        out = body(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                   output_hidden_states=output_hidden_states)
        hidden = out.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.get_output_embeddings()(hidden)
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=out.past_key_values,
                                      hidden_states=out.hidden_states)

    @classmethod
    def from_pretrained(cls: type[_ModelT], path_or_repo_id: str | os.PathLike[str], **kwargs: Any) -> _ModelT:
        """As :meth:`PreTrainedModel.from_pretrained`, plus ``generation_config.json``, ``gguf_file=`` and
        ``quantization="int8"|"bf16"`` (or a reference-style ``quantization_config``; see :meth:`quantize`)."""
        quantization = kwargs.pop("quantization", None) or kwargs.pop("quantization_config", None)
        gguf_file = kwargs.pop("gguf_file", None)
        if gguf_file is not None:
            from embrace.models.gguf_loading import causal_lm_from_gguf

            model = causal_lm_from_gguf(cls, path_or_repo_id, gguf_file, **kwargs)
        else:
            hub = {k: kwargs[k] for k in ("revision", "cache_dir", "token", "local_files_only") if k in kwargs}
            model = super().from_pretrained(path_or_repo_id, **kwargs)
            model.load_generation_config(path_or_repo_id, **hub)
        return model.quantize(quantization) if quantization is not None else model

    def compile_decode(self: _ModelT, **compile_kwargs: Any) -> _ModelT:
        """Run the one-token decode step through ``torch.compile`` (the prompt's forward stays eager); returns
        the model. The first ``generate()`` pays the compile time (tens of seconds on a CPU), later ones reuse
        it. ``compile_kwargs`` go to ``torch.compile`` (default ``dynamic=True``: the cache grows every step).
        Undo with :meth:`uncompile_decode`."""
        eager = type(self).forward.__get__(self)
        compiled = torch.compile(eager, **{"dynamic": True, **compile_kwargs})

        def forward(*args: Any, **kwargs: Any) -> Any:
            ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0] if args else None
            step = (ids is not None and ids.shape[1] == 1 and kwargs.get("past_key_values") is not None
                    and not torch.is_grad_enabled())
            return compiled(*args, **kwargs) if step else eager(*args, **kwargs)

        vars(self)["forward"] = forward
        return self

    def uncompile_decode(self: _ModelT) -> _ModelT:
        vars(self).pop("forward", None)
        return self

    def quantize(self: _ModelT, quantization: Any = "int8", *, skip: tuple[str, ...] = ()) -> _ModelT:
        """Swap the linear layers for weight-only ``"int8"`` or ``"bf16"`` ones in place (less memory);
        returns the model. ``skip``: regexes of module names to keep in float. See
        :mod:`embrace.models.quantization`."""
        from embrace.models.quantization import quantize_model

        quantize_model(self, quantization, skip=skip)
        return self

    def save_pretrained(self, save_directory: str | os.PathLike[str], **kwargs: Any) -> None:
        if self.quantization is not None:
            from embrace.models.quantization import QuantizationError

            raise QuantizationError(f"this model was quantised ({self.quantization}) and cannot be saved in the "
                                    "reference format; save the float model and pass quantization= when loading")
        super().save_pretrained(save_directory, **kwargs)
        self.save_generation_config(save_directory)

    def generate(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 generation_config: Any = None, **kwargs: Any) -> Any:
        """Generate continuations; see :func:`embrace.generation.generate.generate` for the arguments."""
        from embrace.generation.generate import generate

        return generate(self, input_ids, attention_mask=attention_mask, generation_config=generation_config,
                        **kwargs)
