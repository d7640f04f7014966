"""transformers-side tokenizer files: tokenizer_config.json, special_tokens_map.json, chat templates, and
``pad`` for already-encoded features (used by data collators)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embrace.tokenizers.errors import InvalidTokenizerFileError, TokenizerError
from embrace.tokenizers.tokenizer import Tokenizer

if TYPE_CHECKING:
    from embrace.tokenization import BatchEncoding, PreTrainedTokenizerFast

_HUB_KWARGS = ("revision", "cache_dir", "token", "local_files_only")


def _read_json(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidTokenizerFileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidTokenizerFileError(f"{path} must hold a JSON object")
    return data


def load_tokenizer_files(source: str | os.PathLike[str], kwargs: dict[str, Any]) -> tuple[Tokenizer, dict[str, Any]]:
    """Resolve and read a tokenizer folder or hub repo; returns the pipeline and the merged init settings."""
    from embrace.hub.resolve import cached_file

    hub = {k: kwargs.pop(k) for k in _HUB_KWARGS if k in kwargs}
    for unused in ("use_fast", "trust_remote_code", "subfolder", "force_download", "proxies", "_from_auto"):
        kwargs.pop(unused, None)

    gguf_file = kwargs.pop("gguf_file", None)
    if gguf_file is not None:
        return _from_gguf(source, gguf_file, hub, kwargs)

    def find(name: str) -> Path | None:
        return cached_file(source, name, missing_ok=True, **hub)

    config = _read_json(find("tokenizer_config.json"))
    for key, value in _read_json(find("special_tokens_map.json")).items():
        config.setdefault(key, value)
    template_path = find("chat_template.jinja")
    if template_path is not None:
        config["chat_template"] = template_path.read_text(encoding="utf-8")
    elif "chat_template" not in config:
        legacy_template = _read_json(find("chat_template.json")).get("chat_template")
        if legacy_template is not None:
            config["chat_template"] = legacy_template
    if isinstance(config.get("chat_template"), list):  # named templates: [{"name": ..., "template": ...}]
        config["chat_template"] = {t["name"]: t["template"] for t in config["chat_template"]}
    tokenizer_path = find("tokenizer.json")
    if tokenizer_path is not None:
        tokenizer = Tokenizer.from_file(tokenizer_path)
    else:
        tokenizer = _from_legacy(source, find, config)
    _class_default_specials(find, config, tokenizer)
    config.update(kwargs)
    config.setdefault("name_or_path", os.fspath(source))
    for key in ("auto_map", "processor_class", "is_local", "backend"):
        config.pop(key, None)
    return tokenizer, config


# Special-token roles a transformers tokenizer class sets by default, so a tokenizer_config.json may omit them.
CLASS_SPECIAL_TOKENS: dict[str, dict[str, str]] = {
    "T5Tokenizer": {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"},
}


def _class_default_specials(find: Any, config: dict[str, Any], tokenizer: Tokenizer) -> None:
    """Fill the class's default special-token roles (e.g. T5's ``<pad>``/``</s>``) that the config leaves out,
    when the token is in the vocabulary. The class comes from ``tokenizer_class`` or config.json's model_type."""
    from embrace.tokenizers.legacy import _MODEL_TYPE_CLASSES

    name = str(config.get("tokenizer_class") or "").removesuffix("Fast")
    if not name:
        model_type = _read_json(find("config.json")).get("model_type")
        name = _MODEL_TYPE_CLASSES.get(model_type, "") if isinstance(model_type, str) else ""
    for role, content in CLASS_SPECIAL_TOKENS.get(name, {}).items():
        if role not in config and tokenizer.token_to_id(content) is not None:
            config[role] = content


def _from_gguf(source: str | os.PathLike[str], gguf_file: str, hub: dict[str, Any], kwargs: dict[str, Any]
               ) -> tuple[Tokenizer, dict[str, Any]]:
    """The tokenizer and chat template stored in a llama.cpp GGUF file's metadata."""
    from embrace.models.gguf import read_gguf_tokenizer
    from embrace.models.gguf_loading import resolve_gguf_path

    tokenizer_json, config = read_gguf_tokenizer(resolve_gguf_path(source, gguf_file, **hub))
    # decoder-only tokenizers (as transformers' GGUF conversion builds them) return no token_type_ids
    config = {"model_input_names": ["input_ids", "attention_mask"], **config, **kwargs}
    config.setdefault("name_or_path", os.fspath(source))
    return Tokenizer.from_dict(tokenizer_json), config


def _from_legacy(source: str | os.PathLike[str], find: Any, config: dict[str, Any]) -> Tokenizer:
    from embrace.tokenizers import legacy

    names = ("vocab.txt", "vocab.json", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
             "added_tokens.json", "config.json")
    folder = None
    for name in names:
        path = find(name)
        if path is not None:
            folder = path.parent
    data = legacy.tokenizer_json_from_legacy_files(folder, config) if folder is not None else None
    if data is None:
        raise TokenizerError(
            f"{os.fspath(source)!r} has no tokenizer.json and no legacy tokenizer files (vocab.txt, vocab.json + "
            "merges.txt, tokenizer.model); pass the folder of a saved tokenizer"
        )
    return Tokenizer.from_dict(data)


def pad_features(
    tokenizer: PreTrainedTokenizerFast,
    encoded_inputs: Any,
    padding: bool | str = True,
    max_length: int | None = None,
    pad_to_multiple_of: int | None = None,
    padding_side: str | None = None,
    return_attention_mask: bool | None = None,
    return_tensors: str | None = None,
) -> BatchEncoding:
    """transformers' ``tokenizer.pad``: a list of feature dicts (or a dict of lists) padded to one length."""
    from embrace.tokenization import BatchEncoding

    if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], dict):
        encoded_inputs = {k: [f[k] for f in encoded_inputs] for k in encoded_inputs[0]}
    if not isinstance(encoded_inputs, dict) or "input_ids" not in encoded_inputs:
        raise TokenizerError("pad() takes a dict with 'input_ids' or a list of such dicts")
    data = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in dict(encoded_inputs).items()}
    batched = bool(data["input_ids"]) and isinstance(data["input_ids"][0], (list, tuple))
    if not batched:
        data = {k: [v] for k, v in data.items()}
    lengths = [len(ids) for ids in data["input_ids"]]
    if padding in (False, "do_not_pad"):
        target = None
    elif padding == "max_length" and max_length is not None:
        target = max_length
    else:
        target = max(lengths, default=0)
    if target is not None and pad_to_multiple_of and target % pad_to_multiple_of:
        target += pad_to_multiple_of - target % pad_to_multiple_of
    if return_attention_mask is None:
        return_attention_mask = "attention_mask" in tokenizer.model_input_names
    if return_attention_mask and "attention_mask" not in data:
        data["attention_mask"] = [[1] * n for n in lengths]
    if target is not None:
        if tokenizer.pad_token_id is None:
            raise TokenizerError("padding needs a pad token: set tokenizer.pad_token first")
        side = padding_side or tokenizer.padding_side
        fill = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0, "token_type_ids": tokenizer.pad_token_type_id,
                "special_tokens_mask": 1}
        for key, rows in data.items():
            if key not in fill:  # like transformers: other keys (labels, ...) are left as they are
                continue
            value = fill[key]
            data[key] = [
                (list(r) + [value] * (target - len(r))) if side == "right" else ([value] * (target - len(r)) + list(r))
                for r in rows
            ]
    if not batched and return_tensors is None:
        data = {k: v[0] for k, v in data.items()}
    return BatchEncoding(data, tensor_type=return_tensors)
