"""Tiny random BART-family checkpoints (BART, mBART, Marian, Pegasus) built with the reference, for parity tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

VOCAB = 99
COMMON: dict[str, Any] = dict(
    vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
    decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=80, dropout=0.0,
    attention_dropout=0.0, activation_dropout=0.0,
)
# family -> (reference config class, reference LM class, embrace LM class, config overrides)
FAMILIES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "bart": ("BartConfig", "BartForConditionalGeneration", "BartForConditionalGeneration", {}),
    "mbart": ("MBartConfig", "MBartForConditionalGeneration", "MBartForConditionalGeneration",
              dict(scale_embedding=True, decoder_start_token_id=2)),
    "marian": ("MarianConfig", "MarianMTModel", "MarianMTModel",
               dict(scale_embedding=True, pad_token_id=VOCAB - 1, decoder_start_token_id=VOCAB - 1, eos_token_id=0,
                    forced_eos_token_id=0)),
    "marian-separate-vocab": ("MarianConfig", "MarianMTModel", "MarianMTModel",
                              dict(scale_embedding=True, pad_token_id=VOCAB - 1, decoder_start_token_id=VOCAB - 1,
                                   eos_token_id=0, forced_eos_token_id=0, share_encoder_decoder_embeddings=False,
                                   decoder_vocab_size=VOCAB + 21, activation_function="swish")),
    "pegasus": ("PegasusConfig", "PegasusForConditionalGeneration", "PegasusForConditionalGeneration",
                dict(scale_embedding=True, activation_function="relu")),
}


def reference_config(family: str, **overrides: Any) -> Any:
    import transformers

    config_name, _, _, extra = FAMILIES[family]
    return getattr(transformers, config_name)(**{**COMMON, **extra, **overrides})


def perturb(model: Any) -> None:
    """Make norms, biases and final_logits_bias non-trivial so a wrong wiring shows in the outputs."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
        for name, buf in model.named_buffers():
            if name.endswith("final_logits_bias"):
                buf.add_(torch.randn_like(buf) * 0.1)


def save_reference(family: str, folder: Path, seed: int = 0, **overrides: Any) -> Any:
    """The reference LM for ``family`` with seeded random weights, saved to ``folder``; returned in eval mode."""
    import transformers

    torch.manual_seed(seed)
    model = getattr(transformers, FAMILIES[family][1])(reference_config(family, **overrides)).eval()
    perturb(model)
    model.save_pretrained(folder)
    return model


def load_ours(family: str, folder: Path) -> Any:
    from embrace.models import bart

    return getattr(bart, FAMILIES[family][2]).from_pretrained(folder).eval()


def padded_source(pad: int, eos: int, seed: int = 1, length: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """Two right-padded source rows ending in eos (the second with 4 pads) and their attention mask."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB - 2, (2, length), generator=gen)
    mask = torch.ones_like(ids)
    ids[:, -1] = eos
    ids[1, -5] = eos
    ids[1, -4:] = pad
    mask[1, -4:] = 0
    return ids, mask


def decoder_ids(start: int, seed: int = 2, length: int = 7) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, VOCAB - 2, (2, length), generator=gen)
    ids[:, 0] = start
    return ids
