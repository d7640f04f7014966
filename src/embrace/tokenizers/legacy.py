"""Builds a tokenizer.json dict from legacy tokenizer files, the way ``transformers`` 5.x converts them.

Supported inputs (the folder may hold more files; ``tokenizer.json`` itself is not looked at here):

- ``vocab.txt`` — BERT WordPiece (``BertTokenizer`` and its aliases), honouring ``do_lower_case``,
  ``tokenize_chinese_chars`` and ``strip_accents`` from tokenizer_config.json;
- ``vocab.json`` + ``merges.txt`` — byte-level BPE (``GPT2Tokenizer``, ``RobertaTokenizer``/``BartTokenizer``);
- a SentencePiece ``.model`` — ``LlamaTokenizer`` (BPE + byte fallback), ``T5Tokenizer`` (Unigram + extra ids),
  and any other class through the generic SentencePiece conversion transformers applies.

The class is the ``tokenizer_class`` of tokenizer_config.json (``...Fast`` suffix ignored), else the
``model_type`` of config.json, else guessed from the files present. Special tokens follow transformers:
``added_tokens_decoder`` first (by id), then the named special tokens (bos, eos, unk, sep, pad, cls, mask),
then ``additional_special_tokens``/``extra_special_tokens``; a token already in the vocabulary keeps its id,
a new one gets the next free id.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embrace.errors import EmbraceError
from embrace.tokenizers.sentencepiece_model import (
    CONTROL,
    USER_DEFINED,
    SentencePieceModel,
    SentencePieceModelError,
    load_sentencepiece_model,
)

SPECIAL_TOKEN_ATTRIBUTES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
_SPM_FILES = ("tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "sentencepiece.model", "spm.model")


class LegacyTokenizerError(EmbraceError, ValueError):
    """Legacy tokenizer files are present but unreadable (bad JSON, malformed merges, unsupported class)."""


# -- small builders for tokenizer.json components ------------------------------------------------------------


def template_processing(single: list[str], pair: list[str], special: dict[str, int]) -> dict[str, Any]:
    """The tokenizer.json form of ``TemplateProcessing``; items are ``"$A:0"``-style or ``"token:type_id"``."""

    def piece(item: str) -> dict[str, Any]:
        name, sep, type_id = item.rpartition(":")
        if not sep or not type_id.isdigit():
            name, type_id = item, "0"
        if name.startswith("$"):
            return {"Sequence": {"id": "B" if name[1:] == "B" else "A", "type_id": int(type_id)}}
        return {"SpecialToken": {"id": name, "type_id": int(type_id)}}

    return {
        "type": "TemplateProcessing",
        "single": [piece(item) for item in single],
        "pair": [piece(item) for item in pair],
        "special_tokens": {tok: {"id": tok, "ids": [tid], "tokens": [tok]} for tok, tid in special.items()},
    }


def _replace(pattern: str, content: str) -> dict[str, Any]:
    return {"type": "Replace", "pattern": {"String": pattern}, "content": content}


def _byte_level(add_prefix_space: bool, trim_offsets: bool = True) -> dict[str, Any]:
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": True}


def _bpe(vocab: dict[str, int], merges: list[tuple[str, str]], **options: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
    model.update(options)
    model["vocab"] = vocab
    model["merges"] = [list(m) for m in merges]
    return model


def generate_merges(vocab: dict[str, int]) -> list[tuple[str, str]]:
    """Merges recovered from a BPE vocabulary alone (SentencePiece BPE stores none): every split of a token into
    two vocabulary tokens, ordered by the id of the merged token, then by the lengths of the parts."""
    merges: list[tuple[str, str, int]] = []
    for token, token_id in vocab.items():
        local = [(token[:i], token[i:], token_id) for i in range(1, len(token)) if token[:i] in vocab and token[i:] in vocab]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])))
    return [(a, b) for a, b, _ in merges]


# -- special tokens ------------------------------------------------------------------------------------------


def _token_entry(value: Any, special: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"content": value, "single_word": False, "lstrip": False, "rstrip": False, "normalized": not special,
                "special": special}
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        is_special = bool(value.get("special", special)) or special
        return {"content": value["content"], "single_word": bool(value.get("single_word", False)),
                "lstrip": bool(value.get("lstrip", False)), "rstrip": bool(value.get("rstrip", False)),
                "normalized": bool(value.get("normalized", not is_special)), "special": is_special}
    raise LegacyTokenizerError(f"special token {value!r} in tokenizer_config.json is neither a string nor an AddedToken dict")


class _Specials:
    """Collects the special tokens of a tokenizer class: class defaults overridden by the config."""

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any]) -> None:
        self.named: dict[str, dict[str, Any] | None] = {}
        for attr in SPECIAL_TOKEN_ATTRIBUTES:
            value = config[attr] if attr in config else defaults.get(attr)
            self.named[attr] = _token_entry(value, special=True)
        extra = config.get("extra_special_tokens", config.get("additional_special_tokens"))
        if extra is None:
            extra = defaults.get("additional_special_tokens")
        if isinstance(extra, dict):
            extra = list(extra.values())
        self.extra = [e for e in (_token_entry(t, special=True) for t in (extra or [])) if e is not None]
        decoder = config.get("added_tokens_decoder") or {}
        self.decoder = [
            (int(i), entry) for i, entry in sorted(((int(k), v) for k, v in decoder.items()), key=lambda kv: kv[0])
        ]

    def content(self, attr: str) -> str | None:
        entry = self.named.get(attr)
        return entry["content"] if entry else None

    def added_tokens(self, vocab_ids: Callable[[str], int | None], vocab_size: int) -> list[dict[str, Any]]:
        """The ``added_tokens`` list: ids from the vocabulary, or fresh ids after it in order of addition."""
        ordered: list[dict[str, Any]] = []
        seen: set[str] = set()
        named = {e["content"] for e in self.named.values() if e is not None}
        for _, raw in self.decoder:
            entry = _token_entry(raw, special=bool(raw.get("special", False)) if isinstance(raw, dict) else False)
            if entry is not None and entry["content"] in named:
                entry["special"] = True  # transformers marks a named special token special, keeping its flags
            if entry is not None and entry["content"] not in seen:
                ordered.append(entry)
                seen.add(entry["content"])
        for entry in [*self.named.values(), *self.extra]:
            if entry is not None and entry["content"] not in seen:
                ordered.append(entry)
                seen.add(entry["content"])
        result: list[dict[str, Any]] = []
        next_id = vocab_size
        for entry in ordered:
            token_id = vocab_ids(entry["content"])
            if token_id is None:
                token_id, next_id = next_id, next_id + 1
            result.append({"id": token_id, **entry})
        return sorted(result, key=lambda e: e["id"])


def _token_id(vocab: dict[str, int], added: list[dict[str, Any]], token: str | None) -> int | None:
    if token is None:
        return None
    if token in vocab:
        return vocab[token]
    return next((e["id"] for e in added if e["content"] == token), None)


def _bos_eos_template(config: dict[str, Any], specials: _Specials, vocab: dict[str, int],
                      added: list[dict[str, Any]], add_bos: bool = False, add_eos: bool = False) -> dict[str, Any]:
    """transformers' ``update_post_processor``: optional bos/eos around each sequence."""
    bos, eos = specials.content("bos_token"), specials.content("eos_token")
    add_bos = bool(config.get("add_bos_token", add_bos)) and bos is not None
    add_eos = bool(config.get("add_eos_token", add_eos)) and eos is not None
    single = ([f"{bos}:0"] if add_bos else []) + ["$A:0"] + ([f"{eos}:0"] if add_eos else [])
    pair = single + ([f"{bos}:1"] if add_bos else []) + ["$B:1"] + ([f"{eos}:1"] if add_eos else [])
    special: dict[str, int] = {}
    for flag, tok in ((add_bos, bos), (add_eos, eos)):
        if flag and tok is not None:
            tid = _token_id(vocab, added, tok)
            if tid is None:
                raise LegacyTokenizerError(f"special token {tok!r} has no id")
            special[tok] = tid
    return template_processing(single, pair, special)


def _assemble(model: dict[str, Any], added: list[dict[str, Any]], normalizer: Any, pre_tokenizer: Any,
              post_processor: Any, decoder: Any) -> dict[str, Any]:
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": normalizer,
            "pre_tokenizer": pre_tokenizer, "post_processor": post_processor, "decoder": decoder, "model": model}


# -- file readers --------------------------------------------------------------------------------------------


def read_vocab_txt(path: str | os.PathLike[str]) -> dict[str, int]:
    """``vocab.txt``: one token per line, id = line number (a repeated token keeps its last line)."""
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for index, line in enumerate(f):
            vocab[line.rstrip("\n")] = index
    return vocab


def read_vocab_json(path: str | os.PathLike[str]) -> dict[str, int]:
    try:
        with open(path, encoding="utf-8") as f:
            vocab = json.load(f)
    except json.JSONDecodeError as exc:
        raise LegacyTokenizerError(f"{path} is not valid JSON ({exc}); expected a {{token: id}} object") from exc
    if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
        raise LegacyTokenizerError(f"{path} must be a JSON object mapping tokens to integer ids")
    return vocab


def read_merges_txt(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``merges.txt``: an optional ``#version`` header, then ``left right`` per line, in rank order.

    Only ``#version`` lines are skipped: ``# #`` is a real merge in GPT-2's file.
    """
    merges: list[tuple[str, str]] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if line.startswith("#version") or not line:
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise LegacyTokenizerError(f"{path}, line {number}: expected two tokens separated by a space, got {line!r}")
            merges.append((parts[0], parts[1]))
    return merges


# -- per-class builders --------------------------------------------------------------------------------------


def _bert(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    vocab = read_vocab_txt(folder / "vocab.txt")
    defaults = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                "mask_token": "[MASK]"}
    specials = _Specials(config, defaults)
    added = specials.added_tokens(vocab.get, len(vocab))
    cls_tok, sep_tok = specials.content("cls_token"), specials.content("sep_token")
    cls_id = _token_id(vocab, added, cls_tok)
    sep_id = _token_id(vocab, added, sep_tok)
    post = template_processing(
        [f"{cls_tok}:0", "$A:0", f"{sep_tok}:0"],
        [f"{cls_tok}:0", "$A:0", f"{sep_tok}:0", "$B:1", f"{sep_tok}:1"],
        {str(cls_tok): cls_id if cls_id is not None else 2, str(sep_tok): sep_id if sep_id is not None else 3},
    )
    normalizer = {"type": "BertNormalizer", "clean_text": True,
                  "handle_chinese_chars": bool(config.get("tokenize_chinese_chars", True)),
                  "strip_accents": config.get("strip_accents"), "lowercase": bool(config.get("do_lower_case", True))}
    model = {"type": "WordPiece", "unk_token": str(specials.content("unk_token")), "continuing_subword_prefix": "##",
             "max_input_chars_per_word": 100, "vocab": vocab}
    return _assemble(model, added, normalizer, {"type": "BertPreTokenizer"}, post,
                     {"type": "WordPiece", "prefix": "##", "cleanup": True})


def _byte_level_bpe(folder: Path, config: dict[str, Any], roberta: bool) -> dict[str, Any]:
    vocab = read_vocab_json(folder / "vocab.json")
    merges = read_merges_txt(folder / "merges.txt") if (folder / "merges.txt").is_file() else []
    add_prefix_space = bool(config.get("add_prefix_space", False))
    if roberta:
        defaults = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                    "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    else:
        defaults = {"unk_token": "<|endoftext|>", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    specials = _Specials(config, defaults)
    added = specials.added_tokens(vocab.get, len(vocab))
    model = _bpe(vocab, merges, continuing_subword_prefix="", end_of_word_suffix="")
    if roberta:
        trim_offsets = bool(config.get("trim_offsets", True))
        sep, cls = specials.content("sep_token"), specials.content("cls_token")
        post: dict[str, Any] = {"type": "RobertaProcessing", "sep": [sep, _token_id(vocab, added, sep)],
                                "cls": [cls, _token_id(vocab, added, cls)], "trim_offsets": trim_offsets,
                                "add_prefix_space": add_prefix_space}
    else:
        post = _bos_eos_template(config, specials, vocab, added)
    return _assemble(model, added, None, _byte_level(add_prefix_space), post, _byte_level(True))


def _spm_extra_specials(spm: SentencePieceModel) -> list[dict[str, Any]]:
    """CONTROL and USER_DEFINED pieces become additional special tokens (special only for CONTROL)."""
    return [{"content": p.piece, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
             "special": p.type == CONTROL} for p in spm.pieces if p.type in (CONTROL, USER_DEFINED)]


def _charsmap(spm: SentencePieceModel) -> str | None:
    data = spm.normalizer_spec.precompiled_charsmap
    return base64.b64encode(data).decode("ascii") if data else None


def _llama(spm: SentencePieceModel, config: dict[str, Any]) -> dict[str, Any]:
    vocab = {p.piece: i for i, p in enumerate(spm.pieces)}
    merges = generate_merges(vocab)
    add_prefix_space = config.get("add_prefix_space")
    add_prefix_space = True if add_prefix_space is None else bool(add_prefix_space)
    legacy = bool(config.get("legacy", False))
    prepend = ("first" if not legacy else "always") if add_prefix_space else "never"
    config = {**config}
    if "extra_special_tokens" not in config and "additional_special_tokens" not in config:
        config["additional_special_tokens"] = _spm_extra_specials(spm)
    specials = _Specials(config, {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"})
    added = specials.added_tokens(vocab.get, len(vocab))
    model = _bpe(vocab, merges, fuse_unk=True, byte_fallback=True)
    decoders: list[dict[str, Any]] = [_replace("\u2581", " "), {"type": "ByteFallback"}, {"type": "Fuse"}]
    if add_prefix_space:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    pre = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": prepend, "split": False}
    post = _bos_eos_template(config, specials, vocab, added)
    return _assemble(model, added, None, pre, post, {"type": "Sequence", "decoders": decoders})


def _t5(spm: SentencePieceModel, config: dict[str, Any]) -> dict[str, Any]:
    extra_ids = int(config.get("extra_ids", 100))
    extra_tokens = [f"<extra_id_{i}>" for i in range(extra_ids - 1, -1, -1)]
    vocab_scores: list[list[Any]] = [[p.piece, p.score] for p in spm.pieces] + [[tok, 0.0] for tok in extra_tokens]
    ids: dict[str, int] = {tok: i for i, (tok, _) in enumerate(vocab_scores)}
    config = {**config}
    extra = config.get("extra_special_tokens", config.get("additional_special_tokens"))
    if extra is None:
        extra = _spm_extra_specials(spm)
    extra = list(extra.values()) if isinstance(extra, dict) else list(extra)
    if not any("<extra_id_" in str(t.get("content") if isinstance(t, dict) else t) for t in extra):
        extra += extra_tokens
    config.pop("extra_special_tokens", None)
    config["additional_special_tokens"] = extra
    specials = _Specials(config, {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"})
    added = specials.added_tokens(ids.get, len(ids))
    charsmap = _charsmap(spm)
    normalizer = {"type": "Precompiled", "precompiled_charsmap": charsmap} if charsmap else None
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    ]}
    eos_id = _token_id(ids, added, specials.content("eos_token"))
    post = template_processing(["$A", "</s>"], ["$A", "</s>", "$B", "</s>"], {"</s>": eos_id if eos_id is not None else 1})
    model = {"type": "Unigram", "unk_id": 2, "vocab": vocab_scores, "byte_fallback": False}
    decoder = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    return _assemble(model, added, normalizer, pre, post, decoder)


def _generic_spm(spm: SentencePieceModel, config: dict[str, Any]) -> dict[str, Any]:
    """transformers' ``build_tokenizer_from_spm_proto``: used for classes without their own conversion."""
    spec = spm.trainer_spec
    config = {**config}
    if "extra_special_tokens" not in config and "additional_special_tokens" not in config:
        config["additional_special_tokens"] = _spm_extra_specials(spm)
    defaults: dict[str, Any] = {}
    if spec.bos_id >= 0:
        defaults["bos_token"] = spec.bos_piece or "<s>"
    if spec.eos_id >= 0:
        defaults["eos_token"] = spec.eos_piece or "</s>"
    if spec.unk_id >= 0:
        defaults["unk_token"] = spec.unk_piece or "<unk>"
    specials = _Specials(config, defaults)
    if spm.model_type == "unigram":
        vocab_list: list[list[Any]] = [[p.piece, p.score] for p in spm.pieces]
        vocab: dict[str, int] = {p.piece: i for i, p in enumerate(spm.pieces)}
        model: dict[str, Any] = {"type": "Unigram", "unk_id": spec.unk_id, "vocab": vocab_list,
                                 "byte_fallback": spec.byte_fallback}
    else:
        vocab = {p.piece: i for i, p in enumerate(spm.pieces)}
        model = _bpe(vocab, generate_merges(vocab), unk_token=spec.unk_piece, fuse_unk=True,
                     byte_fallback=spec.byte_fallback)
    added = specials.added_tokens(vocab.get, len(vocab))
    charsmap = _charsmap(spm)
    norms = ([{"type": "Precompiled", "precompiled_charsmap": charsmap}] if charsmap else []) + [_replace(" ", "\u2581")]
    decoders = [_replace("\u2581", " ")]
    if spec.byte_fallback:
        decoders += [{"type": "ByteFallback"}, {"type": "Fuse"}]
    post = _bos_eos_template(config, specials, vocab, added)
    return _assemble(model, added, {"type": "Sequence", "normalizers": norms}, None, post,
                     {"type": "Sequence", "decoders": decoders})


# -- entry point ---------------------------------------------------------------------------------------------

_WORDPIECE_CLASSES = {"BertTokenizer", "DistilBertTokenizer", "ElectraTokenizer", "LayoutLMTokenizer",
                      "SqueezeBertTokenizer", "LxmertTokenizer", "RetriBertTokenizer"}
_ROBERTA_CLASSES = {"RobertaTokenizer", "BartTokenizer", "LongformerTokenizer"}
_GPT2_CLASSES = {"GPT2Tokenizer", "CodeGenTokenizer"}
_MODEL_TYPE_CLASSES = {"bert": "BertTokenizer", "distilbert": "DistilBertTokenizer", "electra": "ElectraTokenizer",
                       "gpt2": "GPT2Tokenizer", "roberta": "RobertaTokenizer", "bart": "BartTokenizer",
                       "llama": "LlamaTokenizer", "mistral": "LlamaTokenizer", "t5": "T5Tokenizer",
                       "mt5": "T5Tokenizer"}


def _tokenizer_class(folder: Path, config: dict[str, Any]) -> str | None:
    name = config.get("tokenizer_class")
    if isinstance(name, str) and name:
        return name.removesuffix("Fast")
    config_json = folder / "config.json"
    if config_json.is_file():
        try:
            model_type = json.loads(config_json.read_text(encoding="utf-8")).get("model_type")
        except (json.JSONDecodeError, AttributeError):
            model_type = None
        if model_type in _MODEL_TYPE_CLASSES:
            return _MODEL_TYPE_CLASSES[model_type]
    return None


def _spm_file(folder: Path, config: dict[str, Any]) -> Path | None:
    named = config.get("vocab_file")
    candidates = [named] if isinstance(named, str) else []
    candidates += list(_SPM_FILES)
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    models = sorted(folder.glob("*.model"))
    return models[0] if models else None


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LegacyTokenizerError(f"{path} is not valid JSON: {exc}") from exc
    return config if isinstance(config, dict) else {}


def _merge_special_tokens_map(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """special_tokens_map.json fills the special tokens tokenizer_config.json does not set (legacy folders)."""
    path = folder / "special_tokens_map.json"
    if config.get("added_tokens_decoder") or not path.is_file():
        return config
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LegacyTokenizerError(f"{path} is not valid JSON: {exc}") from exc
    merged = dict(config)
    for key, value in (mapping if isinstance(mapping, dict) else {}).items():
        if not merged.get(key):
            merged[key] = value
    return merged


def _merge_added_tokens_json(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Legacy ``added_tokens.json`` ({token: id}) becomes ``added_tokens_decoder`` when the config has none."""
    path = folder / "added_tokens.json"
    if config.get("added_tokens_decoder") or not path.is_file():
        return config
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LegacyTokenizerError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(mapping, dict) or not all(isinstance(v, int) for v in mapping.values()):
        raise LegacyTokenizerError(f"{path} must map tokens to integer ids")
    named = {_token_entry(config.get(k), True)["content"] for k in SPECIAL_TOKEN_ATTRIBUTES if config.get(k)}  # type: ignore[index]
    extra = config.get("extra_special_tokens", config.get("additional_special_tokens")) or []
    named.update(str(t.get("content") if isinstance(t, dict) else t) for t in (extra.values() if isinstance(extra, dict) else extra))
    decoder = {str(i): {"content": tok, "lstrip": False, "rstrip": False, "single_word": False,
                        "normalized": tok not in named, "special": tok in named} for tok, i in mapping.items()}
    return {**config, "added_tokens_decoder": decoder}


def tokenizer_json_from_legacy_files(
    folder: str | os.PathLike[str], tokenizer_config: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """A tokenizer.json-shaped dict built from the legacy files in ``folder``, or None when there are none.

    ``tokenizer_config`` is the parsed tokenizer_config.json (read from the folder when None). Raises
    ``LegacyTokenizerError`` when files exist but cannot be converted.
    """
    path = Path(folder)
    config = _read_config(path) if tokenizer_config is None else dict(tokenizer_config)
    config = _merge_added_tokens_json(path, _merge_special_tokens_map(path, config))
    cls = _tokenizer_class(path, config)
    has_vocab_txt = (path / "vocab.txt").is_file()
    has_vocab_json = (path / "vocab.json").is_file()
    spm_path = _spm_file(path, config)

    if cls in _WORDPIECE_CLASSES or (cls is None and has_vocab_txt and not has_vocab_json and spm_path is None):
        if not has_vocab_txt:
            raise LegacyTokenizerError(f"{cls} needs vocab.txt in {path}")
        return _bert(path, config)
    if cls in _ROBERTA_CLASSES or cls in _GPT2_CLASSES or (cls is None and has_vocab_json and spm_path is None):
        if not has_vocab_json:
            raise LegacyTokenizerError(f"{cls} needs vocab.json and merges.txt in {path}")
        return _byte_level_bpe(path, config, roberta=cls in _ROBERTA_CLASSES)
    if spm_path is not None:
        try:
            spm = load_sentencepiece_model(spm_path)
        except SentencePieceModelError as exc:
            raise LegacyTokenizerError(
                f"{exc}. If {spm_path.name} is a tiktoken vocabulary (e.g. Llama 3), embrace cannot convert it; "
                "use a folder that has tokenizer.json"
            ) from exc
        if cls == "LlamaTokenizer":
            return _llama(spm, config)
        if cls == "T5Tokenizer":
            return _t5(spm, config)
        if cls in ("MBartTokenizer", "MBart50Tokenizer"):  # fairseq id layout + language codes
            from embrace.tokenizers.mbart import mbart_tokenizer_json

            return mbart_tokenizer_json(spm, config)
        if cls == "PegasusTokenizer":  # 103 reserved ids before the pieces
            from embrace.tokenizers.pegasus import pegasus_tokenizer_json

            return pegasus_tokenizer_json(spm, config)
        return _generic_spm(spm, config)
    if cls is not None and (has_vocab_txt or has_vocab_json):
        raise LegacyTokenizerError(
            f"tokenizer_class {cls!r} in {path} has no legacy-file conversion in embrace; save the tokenizer with "
            "tokenizer.json (e.g. transformers' save_pretrained) to load it"
        )
    return None
