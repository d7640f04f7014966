"""``tokenizer.ggml.model == "llama"``: a SentencePiece BPE vocabulary -> ``tokenizer.json`` dict.

llama.cpp stores SentencePiece vocabularies as tokens with scores and types (byte tokens ``<0x0A>`` have type
BYTE) and usually without merges. Hugging Face's fast Llama tokenizer is a BPE model with byte fallback, so the
merges are recovered from the vocabulary: every split of a token into two tokens of the vocabulary is a merge,
ranked by the merged token's score (the order SentencePiece's BPE applies them).
"""

from __future__ import annotations

from typing import Any

from embrace.models.gguf.tokenizer import (
    TOKEN_CONTROL,
    TOKEN_UNKNOWN,
    TOKEN_USER_DEFINED,
    _add_bos_default,
    _added_token,
    _post_processor,
    _token_types,
    _tokens,
)

SPIECE_UNDERLINE = "▁"


def merges_from_scores(tokens: list[str], scores: list[float]) -> list[list[str]]:
    """Merges implied by a scored vocabulary, best first (as ``transformers``' ``generate_merges``).

    For each token (in vocabulary order), every split into two in-vocabulary pieces is a candidate, the
    candidates of one token ordered by the pieces' ids; all candidates are then ranked by the merged token's
    score, longer left then longer right piece first among equal scores.
    """
    vocab = {token: index for index, token in enumerate(tokens)}
    candidates: list[tuple[str, str, float]] = []
    for token, score in dict(zip(tokens, scores)).items():
        local = [
            (token[:cut], token[cut:], score)
            for cut in range(1, len(token))
            if token[:cut] in vocab and token[cut:] in vocab
        ]
        local.sort(key=lambda item: (vocab[item[0]], vocab[item[1]]))
        candidates.extend(local)
    candidates.sort(key=lambda item: (item[2], len(item[0]), len(item[1])), reverse=True)
    return [[left, right] for left, right, _ in candidates]


def sentencepiece_json(meta: dict[str, Any]) -> dict[str, Any]:
    """``tokenizer.json`` dict for a GGUF SentencePiece (``llama``) vocabulary.

    Differs from the Hugging Face reference in one case on purpose: a file with
    ``tokenizer.ggml.add_space_prefix = false`` gets no ``▁`` prepended (llama.cpp's behaviour); the reference
    ignores the flag and always prepends.
    """
    tokens = _tokens(meta)
    scores = meta.get("tokenizer.ggml.scores")
    if not isinstance(scores, list) or len(scores) != len(tokens):
        scores = [0.0] * len(tokens)
    merges = meta.get("tokenizer.ggml.merges")
    merge_pairs = [m.split(" ") for m in merges] if isinstance(merges, list) else merges_from_scores(tokens, scores)
    types = _token_types(meta, len(tokens))
    prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
    vocab = {token: index for index, token in enumerate(tokens)}

    specials = {
        meta.get(key)
        for key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id")
    }
    added = [
        _added_token(i, token, special=kind != TOKEN_USER_DEFINED)
        for i, (token, kind) in enumerate(zip(tokens, types))
        if kind in (TOKEN_CONTROL, TOKEN_UNKNOWN, TOKEN_USER_DEFINED) or i in specials
    ]
    decoders: list[dict[str, Any]] = [
        {"type": "Replace", "pattern": {"String": SPIECE_UNDERLINE}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
    ]
    if prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Metaspace",
            "replacement": SPIECE_UNDERLINE,
            "prepend_scheme": "first" if prefix else "never",
            "split": False,
        },
        "post_processor": _post_processor(
            meta, tokens, _add_bos_default(meta), bool(meta.get("tokenizer.ggml.add_eos_token"))
        ),
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merge_pairs,
        },
    }
