"""GGUF tokenizer metadata -> ``tokenizer.json`` and ``tokenizer_config.json`` dicts.

A GGUF file stores its tokenizer as ``tokenizer.ggml.*`` metadata: the model kind (``gpt2`` = byte-level BPE,
``llama`` = SentencePiece-style BPE with byte fallback), the tokens, their scores and types, the merges, the
pre-tokenizer name and the special token ids, plus ``tokenizer.chat_template``. The dicts built here are the
same ``tokenizer.json`` the Hugging Face reference builds from the same file, so every tokenizer that reads
``tokenizer.json`` (ours included) can load them.
"""

from __future__ import annotations

from typing import Any

from embrace.models.gguf.errors import GGUFArchitectureError, GGUFFormatError
from embrace.tokenizers.pre_tokenizers import BYTE_TO_CHAR

# tokenizer.ggml.token_type values (llama.cpp's llama_token_type)
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6

_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_TEKKEN_SPLIT = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_GPT4O_SPLIT = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# tokenizer.ggml.pre -> the split regex its merges were learned with. Names not listed (e.g. "default",
# "gpt-2", "smollm") use the GPT-2 byte-level regex.
PRE_TOKENIZER_SPLITS: dict[str, str] = {
    **dict.fromkeys(
        ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "dbrx", "smaug-bpe"),
        _LLAMA3_SPLIT,
    ),
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen", "megrez"), _QWEN2_SPLIT),
    "tekken": _TEKKEN_SPLIT,
    **dict.fromkeys(("gpt-4o", "llama4", "minimax-m2"), _GPT4O_SPLIT),
}

_SPECIAL_IDS = {
    "bos_token": "tokenizer.ggml.bos_token_id",
    "eos_token": "tokenizer.ggml.eos_token_id",
    "unk_token": "tokenizer.ggml.unknown_token_id",
    "pad_token": "tokenizer.ggml.padding_token_id",
}


def _tokens(meta: dict[str, Any]) -> list[str]:
    tokens = meta.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens:
        raise GGUFFormatError("GGUF metadata has no tokenizer.ggml.tokens: the file carries no tokenizer")
    return tokens


def _token_types(meta: dict[str, Any], count: int) -> list[int]:
    types = meta.get("tokenizer.ggml.token_type")
    return list(types) if isinstance(types, list) and len(types) == count else [TOKEN_NORMAL] * count


def _added_token(token_id: int, content: str, special: bool) -> dict[str, Any]:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": special,
    }


def _post_processor(meta: dict[str, Any], tokens: list[str], add_bos: bool, add_eos: bool) -> dict[str, Any]:
    """TemplateProcessing adding BOS/EOS as ``add_bos_token``/``add_eos_token`` say (HF's update_post_processor)."""
    bos_id, eos_id = _token_id(meta, "bos_token", tokens), _token_id(meta, "eos_token", tokens)
    bos = tokens[bos_id] if add_bos and bos_id is not None else None
    eos = tokens[eos_id] if add_eos and eos_id is not None else None
    add_bos, add_eos = bos is not None, eos is not None

    def piece(seq_id: str, type_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if add_bos:
            items.append({"SpecialToken": {"id": bos, "type_id": type_id}})
        items.append({"Sequence": {"id": seq_id, "type_id": type_id}})
        if add_eos:
            items.append({"SpecialToken": {"id": eos, "type_id": type_id}})
        return items

    special_tokens: dict[str, Any] = {}
    for token, token_id in ((bos, bos_id), (eos, eos_id)):
        if token is not None and token_id is not None:
            special_tokens[token] = {"id": token, "ids": [token_id], "tokens": [token]}
    return {"type": "TemplateProcessing", "single": piece("A", 0), "pair": piece("A", 0) + piece("B", 1),
            "special_tokens": special_tokens}


def _token_id(meta: dict[str, Any], name: str, tokens: list[str]) -> int | None:
    """Id of special token ``name`` ("bos_token", ...) when the metadata names a valid one."""
    token_id = meta.get(_SPECIAL_IDS[name])
    return token_id if isinstance(token_id, int) and 0 <= token_id < len(tokens) else None


def _add_bos_default(meta: dict[str, Any]) -> bool:
    # llama.cpp adds BOS to SentencePiece vocabularies whose file does not say otherwise
    default = meta.get("tokenizer.ggml.model") == "llama"
    return bool(meta.get("tokenizer.ggml.add_bos_token", default))


def _byte_level_json(meta: dict[str, Any]) -> dict[str, Any]:
    tokens = _tokens(meta)
    spelling = BYTE_TO_CHAR
    alphabet = set(spelling.values())
    vocab = {
        token if set(token) <= alphabet else "".join(spelling[b] for b in token.encode("utf-8", "surrogateescape")): i
        for i, token in enumerate(tokens)
    }
    merges = [merge.split(" ") for merge in meta.get("tokenizer.ggml.merges", [])]
    split = PRE_TOKENIZER_SPLITS.get(str(meta.get("tokenizer.ggml.pre", "")))
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": split is None}
    pre_tokenizer: dict[str, Any] = byte_level
    if split is not None:
        pre_tokenizer = {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": False},
                byte_level,
            ],
        }
    types = _token_types(meta, len(tokens))
    added = [
        _added_token(i, token, special=True)
        for i, (token, kind) in enumerate(zip(tokens, types))
        # a "control" token outside the byte alphabet is a llama.cpp mislabel that HF skips too
        if kind == TOKEN_CONTROL and set(token) <= alphabet
    ]
    added += [
        _added_token(i, token, special=False)
        for i, (token, kind) in enumerate(zip(tokens, types))
        if kind == TOKEN_USER_DEFINED and token in vocab
    ]
    added.sort(key=lambda item: item["id"])
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": _post_processor(meta, tokens, _add_bos_default(meta), bool(meta.get("tokenizer.ggml.add_eos_token"))),
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def gguf_to_tokenizer_json(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``tokenizer.json`` dict the GGUF metadata describes.

    Raises:
        GGUFFormatError: the file has no tokenizer.
        GGUFArchitectureError: ``tokenizer.ggml.model`` is a kind not supported here.
    """
    kind = meta.get("tokenizer.ggml.model")
    if kind is None:
        _tokens(meta)  # a file without tokenizer metadata: say so
    if kind == "gpt2":
        return _byte_level_json(meta)
    if kind == "llama":
        from embrace.models.gguf.sentencepiece import sentencepiece_json

        return sentencepiece_json(meta)
    raise GGUFArchitectureError(
        f"GGUF tokenizer.ggml.model={kind!r} is not supported; supported: 'gpt2' (byte-level BPE), "
        "'llama' (SentencePiece BPE)"
    )


def gguf_to_tokenizer_config(meta: dict[str, Any]) -> dict[str, Any]:
    """The ``tokenizer_config.json`` dict: special tokens, ``add_bos_token``/``add_eos_token``, chat template."""
    tokens = _tokens(meta)
    config: dict[str, Any] = {}
    for name in _SPECIAL_IDS:
        token_id = _token_id(meta, name, tokens)
        config[name] = tokens[token_id] if token_id is not None else None
    config["add_bos_token"] = _add_bos_default(meta)
    config["add_eos_token"] = bool(meta.get("tokenizer.ggml.add_eos_token", False))
    if meta.get("tokenizer.ggml.model") == "llama":
        config["add_prefix_space"] = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
    template = meta.get("tokenizer.chat_template")
    if isinstance(template, str):
        config["chat_template"] = template
    config["clean_up_tokenization_spaces"] = False
    return config
