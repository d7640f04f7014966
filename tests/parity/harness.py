"""The parity harness: build a tiny random model with the reference library, save it, load it with embrace,
and compare outputs on the same inputs (with padding, token types and labels). Also checks the reverse direction:
saved by embrace, loaded by the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

ATOL = 1e-4


def make_inputs(vocab_size: int, *, batch: int = 3, seq: int = 9, with_token_types: bool = True,
                pad_id: int = 0, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random ids with a right-padded row (mask 0 and pad id past position 5) and two-segment token types."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab_size, (batch, seq), generator=gen)
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[-1, 5:] = 0
    ids[-1, 5:] = pad_id
    inputs = {"input_ids": ids, "attention_mask": mask}
    if with_token_types:
        token_types = torch.zeros_like(ids)
        token_types[:, seq // 2:] = 1
        inputs["token_type_ids"] = token_types
    return inputs


def labels_for(head: str, config: Any, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    batch, seq = inputs["input_ids"].shape
    gen = torch.Generator().manual_seed(1)
    if head == "masked-lm":
        labels = torch.full((batch, seq), -100)
        labels[:, 2] = inputs["input_ids"][:, 2]
        return {"labels": labels}
    if head == "sequence-classification":
        return {"labels": torch.randint(0, config.num_labels, (batch,), generator=gen)}
    if head == "token-classification":
        labels = torch.randint(0, config.num_labels, (batch, seq), generator=gen)
        labels[-1, 5:] = -100
        return {"labels": labels}
    if head == "question-answering":
        return {"start_positions": torch.tensor([1, 2, 3])[:batch], "end_positions": torch.tensor([4, 20, 4])[:batch]}
    return {}


def assert_close(ours: Any, ref: Any, keys: list[str], mask: torch.Tensor | None = None) -> None:
    for key in keys:
        a, b = getattr(ours, key, None), getattr(ref, key, None)
        if b is None:
            continue
        assert a is not None, f"embrace output lacks {key}"
        if isinstance(b, tuple):
            assert len(a) == len(b), f"{key}: {len(a)} vs {len(b)} items"
            pairs = list(zip(a, b))
        else:
            pairs = [(a, b)]
        for x, y in pairs:
            assert x.shape == y.shape, f"{key}: shape {tuple(x.shape)} vs reference {tuple(y.shape)}"
            diff = (x.float() - y.float()).abs().max().item()
            assert diff <= ATOL, f"{key}: max abs diff {diff:.3g} > {ATOL}"


HEAD_OUTPUTS = {
    "base": ["last_hidden_state", "pooler_output", "hidden_states", "attentions"],
    "masked-lm": ["loss", "logits", "hidden_states"],
    "sequence-classification": ["loss", "logits"],
    "token-classification": ["loss", "logits"],
    "question-answering": ["loss", "start_logits", "end_logits"],
}

REF_AUTO = {
    "base": "AutoModel",
    "masked-lm": "AutoModelForMaskedLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "question-answering": "AutoModelForQuestionAnswering",
}


def check_parity(ref_config: Any, head: str, tmp_path: Path, *, with_token_types: bool = True) -> None:
    """Reference-saved -> embrace-loaded outputs match; embrace-saved -> reference-loaded outputs match."""
    import transformers

    import embrace.models.auto as auto

    ours_auto = getattr(auto, REF_AUTO[head])
    torch.manual_seed(0)
    ref = getattr(transformers, REF_AUTO[head]).from_config(ref_config, attn_implementation="eager").eval()
    ref.save_pretrained(tmp_path / "ref")
    ours = ours_auto.from_pretrained(tmp_path / "ref")
    assert not ours.training

    pad = ref_config.pad_token_id if ref_config.pad_token_id is not None else 0
    inputs = make_inputs(ref_config.vocab_size, with_token_types=with_token_types, pad_id=pad)
    inputs |= labels_for(head, ref_config, inputs)
    extra = {"output_hidden_states": True, "output_attentions": head == "base"}
    with torch.no_grad():
        expected = ref(**inputs, **extra)
        got = ours(**inputs, **extra)
    assert_close(got, expected, HEAD_OUTPUTS[head])

    # the other way round: embrace saves, the reference loads
    ours.save_pretrained(tmp_path / "ours")
    back = getattr(transformers, REF_AUTO[head]).from_pretrained(tmp_path / "ours", attn_implementation="eager").eval()
    with torch.no_grad():
        again = back(**inputs, **extra)
    assert_close(got, again, HEAD_OUTPUTS[head])
