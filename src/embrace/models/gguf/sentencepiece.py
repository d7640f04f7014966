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
GEMMA_ARCHITECTURES = ("gemma", "gemma2", "gemma3")


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

    Three shapes, by ``general.architecture``, as the Hugging Face reference builds them:

    * default (Llama, Mistral, ...): ``Metaspace`` pre-tokenizer prepending ``▁`` to the first word;
    * ``phi3``: the ``▁`` prefix and space replacement come from a normalizer instead (they differ on text
      starting with spaces);
    * Gemma: spaces become ``▁`` in a normalizer with nothing prepended, tokens written as runs of real spaces
      are respelled with ``▁``, and merges are ranked by vocabulary position (Gemma's scores do not follow its
      merge order).

    Differs from the reference in one case on purpose: a default-shape file with
    ``tokenizer.ggml.add_space_prefix = false`` gets no ``▁`` prepended (llama.cpp's behaviour); the reference
    ignores the flag and always prepends.
    """
    arch = meta.get("general.architecture")
    gemma = arch in GEMMA_ARCHITECTURES
    tokens = _tokens(meta)
    if gemma:
        tokens = [SPIECE_UNDERLINE * len(t) if " " in t and not t.strip() else t for t in tokens]
    scores = meta.get("tokenizer.ggml.scores")
    if gemma:
        scores = [-float(index) for index in range(len(tokens))]
    elif not isinstance(scores, list) or len(scores) != len(tokens):
        scores = [0.0] * len(tokens)
    merges = meta.get("tokenizer.ggml.merges")
    merge_pairs = [m.split(" ") for m in merges] if isinstance(merges, list) else merges_from_scores(tokens, scores)
    types = _token_types(meta, len(tokens))
    prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True)) and not gemma
    vocab = {token: index for index, token in enumerate(tokens)}

    specials = {
        meta.get(key)
        for key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id")
    }
    special_names = {"<unk>", "<bos>", "<eos>", "<pad>", "<mask>"} if gemma else set()
    added = [
        _added_token(i, token, special=kind != TOKEN_USER_DEFINED)
        for i, (token, kind) in enumerate(zip(tokens, types))
        if kind in (TOKEN_CONTROL, TOKEN_UNKNOWN, TOKEN_USER_DEFINED) or i in specials or token in special_names
    ]
    decoders: list[dict[str, Any]] = [
        {"type": "Replace", "pattern": {"String": SPIECE_UNDERLINE}, "content": " "},
        {"type": "ByteFallback"},
        {"type": "Fuse"},
    ]
    if prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    replace_spaces = {"type": "Replace", "pattern": {"String": " "}, "content": SPIECE_UNDERLINE}
    normalizer: dict[str, Any] | None = None
    pre_tokenizer: dict[str, Any] | None
    if gemma:
        normalizer = replace_spaces
        pre_tokenizer = {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False}
    elif arch == "phi3":
        prepend = [{"type": "Prepend", "prepend": SPIECE_UNDERLINE}] if prefix else []
        normalizer = {"type": "Sequence", "normalizers": [*prepend, replace_spaces]}
        pre_tokenizer = None
    else:
        pre_tokenizer = {
            "type": "Metaspace",
            "replacement": SPIECE_UNDERLINE,
            "prepend_scheme": "first" if prefix else "never",
            "split": False,
        }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": _post_processor(
            meta, tokens, _add_bos_default(meta), bool(meta.get("tokenizer.ggml.add_eos_token"))
        ),
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>" if gemma and "<unk>" in vocab else None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merge_pairs,
        },
    }
