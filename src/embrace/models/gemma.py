"""Gemma (1): a Llama variant with a zero-centred RMSNorm (``1 + weight``), token embeddings scaled by
``sqrt(hidden_size)``, a gelu-tanh gated MLP and an explicit ``head_dim``. Only the config differs from Llama.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from embrace.models.llama import LlamaConfig, LlamaForCausalLM, LlamaModel


@dataclass(kw_only=True)
class GemmaConfig(LlamaConfig):
    model_type: ClassVar[str] = "gemma"
    norm_offset: ClassVar[float] = 1.0
    scale_embeddings: ClassVar[bool] = True

    vocab_size: int = 256000
    hidden_size: int = 3072
    intermediate_size: int = 24576
    num_hidden_layers: int = 28
    num_attention_heads: int = 16
    num_key_value_heads: int | None = 16
    head_dim: int | None = 256
    hidden_act: str = "gelu_pytorch_tanh"
    max_position_embeddings: int = 8192
    tie_word_embeddings: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 2
    eos_token_id: int | list[int] | None = 1

    def __post_init__(self) -> None:
        # old Gemma files say "gelu" (or hidden_activation) but the models were trained with the tanh approximation
        legacy = self.extra.get("hidden_activation")
        if legacy is not None:
            self.hidden_act = legacy
        if self.hidden_act == "gelu":
            self.hidden_act = "gelu_pytorch_tanh"
        super().__post_init__()


class GemmaModel(LlamaModel):
    config_class = GemmaConfig


class GemmaForCausalLM(LlamaForCausalLM):
    config_class = GemmaConfig
    body_class = GemmaModel
