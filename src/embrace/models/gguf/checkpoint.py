"""One call from a GGUF file to everything ``from_pretrained`` needs: config, state dict, tokenizer files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from embrace.models.gguf.convert import gguf_to_hf_config, iter_hf_state_dict
from embrace.models.gguf.reader import GGUFReader
from embrace.models.gguf.tokenizer import gguf_to_tokenizer_config, gguf_to_tokenizer_json

if TYPE_CHECKING:
    import torch


@dataclass
class GGUFCheckpoint:
    """A GGUF file in Hugging Face form.

    Attributes:
        config: ``config.json`` dict.
        state_dict: Hugging Face parameter name -> tensor (``lm_head.weight`` absent when embeddings are tied).
        tokenizer: ``tokenizer.json`` dict, or None when not asked for.
        tokenizer_config: ``tokenizer_config.json`` dict (special tokens, add_bos/eos, chat_template), or None.
        metadata: the raw GGUF metadata.
    """

    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor] = field(default_factory=dict)
    tokenizer: dict[str, Any] | None = None
    tokenizer_config: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _config(reader: GGUFReader) -> dict[str, Any]:
    embed = reader.tensors.get("token_embd.weight")
    rope_factors = reader.tensor("rope_freqs.weight").tolist() if "rope_freqs.weight" in reader.tensors else None
    longrope = None
    if "rope_factors_long.weight" in reader.tensors and "rope_factors_short.weight" in reader.tensors:
        longrope = (reader.tensor("rope_factors_long.weight").tolist(),
                    reader.tensor("rope_factors_short.weight").tolist())
    return gguf_to_hf_config(reader.metadata, reader.tensors, embed.shape[0] if embed else None, rope_factors,
                             longrope)


def load_gguf_checkpoint(
    path: str | os.PathLike[str],
    dtype: torch.dtype | None = None,
    *,
    load_tensors: bool = True,
    load_tokenizer: bool = True,
) -> GGUFCheckpoint:
    """Read a GGUF file and convert it to Hugging Face form.

    Args:
        path: the ``.gguf`` file.
        dtype: dtype of the returned tensors (float32 by default; every quantised type dequantises to float32
            first, exactly as llama.cpp does).
        load_tensors: dequantise the weights (False: config and tokenizer only, which is fast).
        load_tokenizer: build the tokenizer dicts.

    Raises:
        GGUFError subclasses: bad magic, unsupported version, truncated file, unsupported quant type or
        architecture.
    """
    with GGUFReader(path) as reader:
        config = _config(reader)
        state_dict = dict(iter_hf_state_dict(reader, config, dtype)) if load_tensors else {}
        tokenizer = tokenizer_config = None
        if load_tokenizer:
            tokenizer = gguf_to_tokenizer_json(reader.metadata)
            tokenizer_config = gguf_to_tokenizer_config(reader.metadata)
        return GGUFCheckpoint(config, state_dict, tokenizer, tokenizer_config, dict(reader.metadata))


def read_gguf_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` dict of a GGUF file (reads only the header)."""
    with GGUFReader(path) as reader:
        return _config(reader)


def read_gguf_tokenizer(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(tokenizer.json dict, tokenizer_config dict)`` of a GGUF file."""
    with GGUFReader(path) as reader:
        return gguf_to_tokenizer_json(reader.metadata), gguf_to_tokenizer_config(reader.metadata)
