"""GGUF (llama.cpp) files: read them, dequantise their tensors, and convert them to Hugging Face form.

    from embrace.models.gguf import load_gguf_checkpoint

    ckpt = load_gguf_checkpoint("SmolLM2-135M-Instruct.Q4_1.gguf")
    ckpt.config            # config.json dict (model_type "llama", ...)
    ckpt.state_dict        # {"model.embed_tokens.weight": tensor, ...}, float32 unless dtype= is given
    ckpt.tokenizer         # tokenizer.json dict
    ckpt.tokenizer_config  # tokenizer_config.json dict (special tokens, add_bos_token, chat_template)

``from_pretrained(folder, gguf_file=...)`` of models and tokenizers is built on this.
"""

from __future__ import annotations

from embrace.models.gguf.checkpoint import GGUFCheckpoint, load_gguf_checkpoint, read_gguf_config, read_gguf_tokenizer
from embrace.models.gguf.errors import (
    GGUFArchitectureError,
    GGUFError,
    GGUFFormatError,
    GGUFQuantTypeError,
    GGUFTruncatedError,
    GGUFVersionError,
)
from embrace.models.gguf.reader import GGUFReader, GGUFTensorInfo

__all__ = [
    "GGUFArchitectureError",
    "GGUFCheckpoint",
    "GGUFError",
    "GGUFFormatError",
    "GGUFQuantTypeError",
    "GGUFReader",
    "GGUFTensorInfo",
    "GGUFTruncatedError",
    "GGUFVersionError",
    "load_gguf_checkpoint",
    "read_gguf_config",
    "read_gguf_tokenizer",
]
