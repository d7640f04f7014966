"""Helpers for T5 parity tests: tiny random reference T5 checkpoints (v1.0 relu / v1.1 gated-gelu, tied or with
their own LM head) saved to a folder, and padded source batches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

VOCAB = 99
TINY = dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4, dropout_rate=0.0,
            relative_attention_num_buckets=8, relative_attention_max_distance=20, decoder_start_token_id=0,
            pad_token_id=0, eos_token_id=1)
# generation tests: a peakier init; random tiny models at the default init repeat tokens and beams meet near-ties
# that float rounding (1e-6) can break either way
PEAKY = {"initializer_factor": 3.0}

# name -> (config overrides, give the checkpoint its own lm_head like the original v1.1 / mT5 releases)
VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {
    "v1.0-relu-tied": ({"feed_forward_proj": "relu"}, False),
    "v1.1-gated-gelu-untied": ({"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False}, True),
    "gated-silu-tied": ({"feed_forward_proj": "gated-silu"}, False),
}


def save_reference(folder: Path, overrides: dict[str, Any], own_head: bool = False, seed: int = 0,
                   config_class: str = "T5Config", model_class: str = "T5ForConditionalGeneration") -> Any:
    """Build the reference model with seeded weights (non-trivial norms), save it; with ``own_head`` rewrite the
    checkpoint as the original v1.1 releases ship it (a separate ``lm_head.weight``, tie_word_embeddings false).
    Returns the reference model loaded back from the folder (eval mode)."""
    import transformers
    from safetensors.torch import load_file, save_file

    torch.manual_seed(seed)
    config = getattr(transformers, config_class)(**{**TINY, **overrides})
    model = getattr(transformers, model_class)(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "layer_norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
    model.save_pretrained(folder)
    if own_head:
        weights = load_file(folder / "model.safetensors")
        weights["lm_head.weight"] = torch.randn_like(weights["shared.weight"]) * 0.5
        save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
        data = json.loads((folder / "config.json").read_text())
        data["tie_word_embeddings"] = False
        data.pop("scale_decoder_outputs", None)
        (folder / "config.json").write_text(json.dumps(data))
    return getattr(transformers, model_class).from_pretrained(folder).eval()


def padded_sources(seed: int = 1, batch: int = 3, length: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded random source rows (as a T5 tokenizer pads) ending in eos, with their attention mask."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, VOCAB, (batch, length), generator=gen)
    mask = torch.ones_like(ids)
    for row in range(1, batch):
        real = length - 3 * row
        ids[row, real - 1] = 1
        ids[row, real:] = 0
        mask[row, real:] = 0
    return ids, mask


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Import into a test module: tiny models on the shared 2-core machine are far faster on one torch thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
