"""Pegasus tokenizer from a folder that only has ``spiece.model`` (no tokenizer.json).

Pegasus reserves the first ``offset`` (103) ids: ``<pad> </s> <mask_1> <mask_2>`` and ``<unk_2> .. <unk_102>``
(pre-training placeholders); the SentencePiece pieces follow from its ``<unk>`` on, so piece ``i`` gets id
``i + offset``. Rows end with ``</s>``. This is the layout of transformers' Pegasus conversion.
"""

from __future__ import annotations

import base64
from typing import Any

from embrace.tokenizers.legacy import template_processing
from embrace.tokenizers.sentencepiece_model import SentencePieceModel

SPIECE_UNDERLINE = "\u2581"


def pegasus_tokenizer_json(spm: SentencePieceModel, config: dict[str, Any]) -> dict[str, Any]:
    """The tokenizer.json dict for Pegasus' ``spiece.model`` with the settings of ``tokenizer_config.json``."""
    offset = int(config.get("offset", 103))
    pad, eos = _content(config, "pad_token", "<pad>"), _content(config, "eos_token", "</s>")
    masks = [_content(config, "mask_token_sent", "<mask_1>"), _content(config, "mask_token", "<mask_2>")]
    reserved = [pad, eos, *dict.fromkeys(masks)] + [f"<unk_{i}>" for i in range(2, offset)]
    vocab: list[list[Any]] = [[t, 0.0 if not t.startswith("<unk_") else -100.0] for t in reserved]
    vocab += [[p.piece, p.score] for p in spm.pieces[2:]]
    ids = {str(token): i for i, (token, _) in enumerate(vocab)}
    unk = _content(config, "unk_token", "<unk>")
    charsmap = spm.normalizer_spec.precompiled_charsmap
    first = ({"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")} if charsmap
             else {"type": "Replace", "pattern": {"Regex": "\n"}, "content": " "})
    metaspace = {"type": "Metaspace", "replacement": SPIECE_UNDERLINE, "prepend_scheme": "always", "split": True}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for t in [*reserved, unk] if t in ids],
        "normalizer": {"type": "Sequence", "normalizers": [
            first, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": metaspace,
        "model": {"type": "Unigram", "unk_id": ids.get(unk, offset), "vocab": vocab, "byte_fallback": False},
        "post_processor": template_processing(["$A", eos], ["$A", "$B", eos], {eos: ids[eos]}),
        "decoder": metaspace,
    }


def _content(config: dict[str, Any], key: str, default: str) -> str:
    """A special token from tokenizer_config.json: a string or an AddedToken dict (``{"content": ...}``)."""
    value = config.get(key)
    if isinstance(value, dict):
        value = value.get("content")
    return str(value) if value else default
