"""The user-facing tokenizer: ``AutoTokenizer.from_pretrained(...)`` and ``tokenizer(text, padding=..., ...)``.

One class (``PreTrainedTokenizerFast``, also exported as ``PreTrainedTokenizer``) wraps the pipeline
``embrace.tokenizers.Tokenizer`` loaded from ``tokenizer.json`` (or converted from legacy vocab files) plus the
settings of ``tokenizer_config.json`` / ``special_tokens_map.json`` / ``chat_template.jinja``. Importing this module
does not import torch or numpy; they load only for ``return_tensors="pt"`` / ``"np"``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embrace.errors import EmbraceError
from embrace.tokenizers import AddedToken, Encoding, Tokenizer
from embrace.tokenizers.batch_encoding import BatchEncoding, TensorConversionError
from embrace.tokenizers.errors import TokenizerError, TokenizerInputError
from embrace.tokenizers.tokenizer import write_text_atomic

__all__ = [
    "AutoTokenizer",
    "BatchEncoding",
    "PreTrainedTokenizer",
    "PreTrainedTokenizerBase",
    "PreTrainedTokenizerFast",
    "TensorConversionError",
    "TokenizersBackend",
]

VERY_LARGE_INTEGER = int(1e30)
SPECIAL_TOKENS_ATTRIBUTES = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]
_NO_TOKEN_TYPE_CLASSES = (
    "GPT2", "Llama", "Whisper", "Roberta", "T5", "Qwen", "Bart", "Mistral", "Gemma", "MPNet", "DistilBert",
    "Phi", "Bloom", "Falcon", "CodeGen", "GPTNeoX", "Mbart", "Marian", "Pegasus", "Camembert", "XLMRoberta",
)


def _token_content(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, AddedToken):
        return value.content
    if isinstance(value, dict) and "content" in value:
        return str(value["content"])
    raise TokenizerError(f"a special token must be a str or {{'content': ...}}, got {value!r}")


class PreTrainedTokenizerFast:
    """A tokenizer with the transformers API, backed by ``embrace.tokenizers.Tokenizer``."""

    padding_side: str = "right"
    truncation_side: str = "right"
    model_input_names: list[str] = ["input_ids", "token_type_ids", "attention_mask"]

    def __init__(self, tokenizer_object: Tokenizer | None = None, tokenizer_file: str | None = None, **kwargs: Any) -> None:
        if tokenizer_object is None:
            if tokenizer_file is None:
                raise TokenizerError("PreTrainedTokenizerFast needs tokenizer_object= or tokenizer_file=")
            tokenizer_object = Tokenizer.from_file(tokenizer_file)
        self._tokenizer = tokenizer_object
        backend_trunc, backend_pad = tokenizer_object.truncation, tokenizer_object.padding
        tokenizer_object.no_truncation()
        tokenizer_object.no_padding()
        if backend_pad:
            kwargs.setdefault("pad_token", backend_pad["pad_token"])
        self.init_kwargs = dict(kwargs)
        self.name_or_path = kwargs.pop("name_or_path", "")
        self.model_max_length = int(kwargs.pop("model_max_length", None) or VERY_LARGE_INTEGER)
        self.padding_side = kwargs.pop("padding_side", None) or (backend_pad or {}).get("direction", "right")
        self.truncation_side = kwargs.pop("truncation_side", None) or (backend_trunc or {}).get("direction", "right")
        self.pad_token_type_id = kwargs.pop("pad_token_type_id", 0)
        self.clean_up_tokenization_spaces = bool(kwargs.pop("clean_up_tokenization_spaces", False))
        self.clean_up_bpe_anyway = bool(
            kwargs.pop("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False)
        )
        self.chat_template = kwargs.pop("chat_template", None)
        self.tokenizer_class = kwargs.pop("tokenizer_class", None)
        names = kwargs.pop("model_input_names", None)
        if names is not None:
            self.model_input_names = list(names)
        elif self.tokenizer_class and self.tokenizer_class.startswith(_NO_TOKEN_TYPE_CLASSES):
            self.model_input_names = ["input_ids", "attention_mask"]
        for id_str, spec in (kwargs.pop("added_tokens_decoder", None) or {}).items():
            if self._tokenizer.id_to_token(int(id_str)) != spec["content"]:
                self._tokenizer.add_tokens([_added_token(spec)])
        self._special: dict[str, str | None] = {}
        for attr in SPECIAL_TOKENS_ATTRIBUTES:
            self._special[attr] = _token_content(kwargs.pop(attr, None))
        extra = kwargs.pop("additional_special_tokens", None) or kwargs.pop("extra_special_tokens", None) or []
        if isinstance(extra, dict):  # transformers 5 named extras: {"image_token": "<image>"}
            for name, value in extra.items():
                setattr(self, name, _token_content(value))
            extra = list(extra.values())
        self.additional_special_tokens: list[str] = [t for t in (_token_content(v) for v in extra) if t]
        missing = [t for t in self.all_special_tokens if self._tokenizer.token_to_id(t) is None]
        if missing:
            self._tokenizer.add_special_tokens(missing)
        self.extra_config = kwargs  # unknown keys are kept and written back by save_pretrained

    # ------------------------------------------------------------------ special tokens
    def __getattr__(self, name: str) -> Any:
        if name.endswith("_token_id") and name[:-3] in SPECIAL_TOKENS_ATTRIBUTES:
            token = self.__dict__["_special"].get(name[:-3])
            return None if token is None else self.convert_tokens_to_ids(token)
        if name in SPECIAL_TOKENS_ATTRIBUTES and "_special" in self.__dict__:
            return self.__dict__["_special"].get(name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in SPECIAL_TOKENS_ATTRIBUTES:
            content = _token_content(value)
            self._special[name] = content
            if content is not None and self._tokenizer.token_to_id(content) is None:
                self._tokenizer.add_special_tokens([content])
            return
        if name.endswith("_token_id") and name[:-3] in SPECIAL_TOKENS_ATTRIBUTES:
            setattr(self, name[:-3], None if value is None else self.convert_ids_to_tokens(int(value)))
            return
        super().__setattr__(name, value)

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self._special.items() if v is not None}
        if self.additional_special_tokens:
            out["additional_special_tokens"] = list(self.additional_special_tokens)
        return out

    @property
    def all_special_tokens(self) -> list[str]:
        seen: list[str] = []
        for t in [*(v for v in self._special.values() if v), *self.additional_special_tokens]:
            if t not in seen:
                seen.append(t)
        return seen

    @property
    def all_special_ids(self) -> list[int]:
        return [self.convert_tokens_to_ids(t) for t in self.all_special_tokens]

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return [self.convert_tokens_to_ids(t) for t in self.additional_special_tokens]

    # ------------------------------------------------------------------ vocabulary
    @property
    def backend_tokenizer(self) -> Tokenizer:
        return self._tokenizer

    @property
    def is_fast(self) -> bool:
        return True

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def vocab(self) -> dict[str, int]:
        return self.get_vocab()

    def get_added_vocab(self) -> dict[str, int]:
        return dict(self._tokenizer.added_vocab.ids)

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._tokenizer.added_vocab.tokens.items()))

    def add_tokens(self, new_tokens: str | AddedToken | Sequence[str | AddedToken], special_tokens: bool = False) -> int:
        if isinstance(new_tokens, (str, AddedToken)):
            new_tokens = [new_tokens]
        if special_tokens:
            return self._tokenizer.add_special_tokens(new_tokens)
        return self._tokenizer.add_tokens(new_tokens)

    def add_special_tokens(self, special_tokens_dict: dict[str, Any], replace_additional_special_tokens: bool = True) -> int:
        """``{"pad_token": "[PAD]", "additional_special_tokens": [...]}``: sets the attributes, adds new tokens."""
        before = len(self)
        for key, value in special_tokens_dict.items():
            if key in ("additional_special_tokens", "extra_special_tokens"):
                tokens = [t for t in (_token_content(v) for v in value) if t]
                self._tokenizer.add_special_tokens(tokens)
                kept = [] if replace_additional_special_tokens else self.additional_special_tokens
                self.additional_special_tokens = kept + [t for t in tokens if t not in kept]
            elif key in SPECIAL_TOKENS_ATTRIBUTES:
                content = _token_content(value)
                if content is not None:
                    self._tokenizer.add_special_tokens([value if isinstance(value, AddedToken) else content])
                self._special[key] = content
            else:
                raise TokenizerError(f"add_special_tokens: unknown key {key!r}; use one of {SPECIAL_TOKENS_ATTRIBUTES}")
        return len(self) - before

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> Any:
        if isinstance(tokens, str):
            id_ = self._tokenizer.token_to_id(tokens)
            if id_ is None:
                unk = self._special.get("unk_token")
                return self._tokenizer.token_to_id(unk) if unk is not None else None
            return id_
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> Any:
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        special = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._tokenizer.id_to_token(int(i)) for i in _as_ids(ids) if int(i) not in special]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        decoder = self._tokenizer.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs: Any) -> list[str]:
        return self._tokenizer.encode(_check_text(text), pair, add_special_tokens=add_special_tokens).tokens

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._tokenizer.num_special_tokens_to_add(pair)

    # ------------------------------------------------------------------ encoding
    def __call__(self, text: Any = None, text_pair: Any = None, text_target: Any = None, **kwargs: Any) -> BatchEncoding:
        if text is None and text_target is None:
            raise TokenizerInputError("pass text= (and/or text_target=) to the tokenizer")
        out = self._call_one(text, text_pair, **kwargs) if text is not None else None
        if text_target is not None:
            target = self._call_one(text_target, kwargs.pop("text_pair_target", None), **kwargs)
            if out is None:
                return target
            out["labels"] = target["input_ids"]
        return out  # type: ignore[return-value]

    def _call_one(
        self,
        text: Any,
        text_pair: Any = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        **kwargs: Any,
    ) -> BatchEncoding:
        batched = _is_batched(text, is_split_into_words)
        if text_pair is not None and batched != _is_batched(text_pair, is_split_into_words):
            raise TokenizerInputError("text and text_pair must both be single examples or both be batches")
        if batched:
            if text_pair is not None and len(text_pair) != len(text):
                raise TokenizerInputError(f"batch length mismatch: {len(text)} texts and {len(text_pair)} text_pairs")
            inputs = list(zip(text, text_pair)) if text_pair is not None else list(text)
        else:
            inputs = [(text, text_pair)] if text_pair is not None else [text]
        for item in inputs:
            for part in item if isinstance(item, tuple) else (item,):
                _check_input(part, is_split_into_words)
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of)
        backend = self._tokenizer
        if trunc is None:
            backend.no_truncation()
        else:
            backend.enable_truncation(max_length, stride, trunc, self.truncation_side)  # type: ignore[arg-type]
        if pad is None:
            backend.no_padding()
        else:
            if self.pad_token is None:
                raise TokenizerError(
                    "padding needs a pad token: set tokenizer.pad_token = tokenizer.eos_token or add one with "
                    "tokenizer.add_special_tokens({'pad_token': '[PAD]'})"
                )
            side = padding_side or self.padding_side
            backend.enable_padding(side, self.pad_token_id, self.pad_token_type_id, self.pad_token,
                                   max_length if pad == "max_length" else None, pad_to_multiple_of)
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        settings = (backend.truncation, backend.padding)
        try:
            if (text_pair is None and not is_split_into_words and trunc != "only_second" and not return_overflowing_tokens
                    and not return_offsets_mapping and not return_special_tokens_mask):
                texts: list[str] = inputs  # type: ignore[assignment]  # no pairs on this path
                return self._ids_only(texts, batched, add_special_tokens, return_token_type_ids,
                                      return_attention_mask, return_length, return_tensors, settings)
            encodings = backend.encode_batch(inputs, is_pretokenized=is_split_into_words, add_special_tokens=add_special_tokens)
        finally:
            backend.no_truncation()
            backend.no_padding()
        data: dict[str, list[Any]] = {"input_ids": []}
        for key, wanted in (("token_type_ids", return_token_type_ids), ("attention_mask", return_attention_mask),
                            ("special_tokens_mask", return_special_tokens_mask),
                            ("offset_mapping", return_offsets_mapping), ("length", return_length)):
            if wanted:
                data[key] = []
        flat: list[Encoding] = []
        mapping: list[int] = []
        for i, enc in enumerate(encodings):
            for e in [enc, *enc.overflowing] if return_overflowing_tokens else [enc]:
                flat.append(e)
                mapping.append(i)
                data["input_ids"].append(e.ids)
                if return_token_type_ids:
                    data["token_type_ids"].append(e.type_ids)
                if return_attention_mask:
                    data["attention_mask"].append(e.attention_mask)
                if return_special_tokens_mask:
                    data["special_tokens_mask"].append(e.special_tokens_mask)
                if return_offsets_mapping:
                    data["offset_mapping"].append(e.offsets)
                if return_length:
                    data["length"].append(len(e.ids))
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = mapping
        if not batched and return_tensors is None and not return_overflowing_tokens:
            single = {k: (v[0] if v and isinstance(v[0], list) else v) for k, v in data.items()}
            return BatchEncoding(single, flat, n_sequences=1 if text_pair is None else 2)
        return BatchEncoding(data, flat, tensor_type=return_tensors, n_sequences=1 if text_pair is None else 2)

    def _ids_only(self, texts: list[str], batched: bool, add_special_tokens: bool, want_types: bool, want_mask: bool,
                  want_length: bool, return_tensors: str | None, settings: tuple[Any, Any]) -> BatchEncoding:
        """Single sequences without offsets: the cached ids-only path; ``.encodings`` are computed on first use."""
        backend = self._tokenizer
        pad = settings[1]
        backend.padding = None  # pad here, knowing each row's real length (a pad id may also be a real token)
        ids = backend.encode_batch_ids(texts, add_special_tokens=add_special_tokens)
        n_real = [len(row) for row in ids]
        left = bool(pad) and pad["direction"] == "left"
        if pad and ids:
            length = pad["length"] if pad["length"] is not None else max(n_real)
            if pad["pad_to_multiple_of"] and length % pad["pad_to_multiple_of"]:
                length += pad["pad_to_multiple_of"] - length % pad["pad_to_multiple_of"]
            ids = [_place(row, max(length, len(row)), pad["pad_id"], left) for row in ids]
        data: dict[str, Any] = {"input_ids": ids}
        padded = bool(pad) and any(len(row) != n for row, n in zip(ids, n_real))
        if want_types:
            before, seq_type, after = self._type_template(add_special_tokens)
            pad_type = self.pad_token_type_id
            if not padded and all(t == seq_type for t in (*before, *after)):  # one type id per row: no templates
                data["token_type_ids"] = [[seq_type] * n for n in n_real]
            else:
                data["token_type_ids"] = [
                    _place([*before, *[seq_type] * (n - len(before) - len(after)), *after], len(row), pad_type, left)
                    for row, n in zip(ids, n_real)
                ]
        if want_mask:
            data["attention_mask"] = ([_place([1] * n, len(row), 0, left) for row, n in zip(ids, n_real)] if padded
                                      else [[1] * n for n in n_real])
        if want_length:
            data["length"] = [len(row) for row in ids]

        def encodings() -> list[Encoding]:
            old = (backend.truncation, backend.padding)
            backend.truncation, backend.padding = settings
            try:
                return backend.encode_batch(texts, add_special_tokens=add_special_tokens)
            finally:
                backend.truncation, backend.padding = old

        if not batched and return_tensors is None:
            return BatchEncoding({k: v[0] for k, v in data.items()}, encodings, n_sequences=1)
        return BatchEncoding(data, encodings, tensor_type=return_tensors, n_sequences=1)

    def _type_template(self, add_special_tokens: bool) -> tuple[list[int], int, list[int]]:
        """Type ids the post-processor gives around one sequence: (before, sequence type, after)."""
        post = self._tokenizer.post_processor
        if post is None or not add_special_tokens:
            return [], 0, []
        probe = Encoding([-1], [0], [""], [(0, 0)], [1], [0], [None])
        out = post.process(probe, None, True)
        i = out.ids.index(-1)
        return out.type_ids[:i], out.type_ids[i], out.type_ids[i + 1 :]

    def _strategies(
        self, padding: bool | str, truncation: bool | str | None, max_length: int | None, pad_to_multiple_of: int | None
    ) -> tuple[str | None, str | None, int | None]:
        """transformers' resolution of padding / truncation / max_length into backend settings."""
        pad = {False: None, None: None, "do_not_pad": None, True: "longest", "longest": "longest",
               "max_length": "max_length"}.get(padding, "?")
        if pad == "?":
            raise TokenizerError(f"padding must be True/False/'longest'/'max_length'/'do_not_pad', not {padding!r}")
        if truncation is None and max_length is not None and pad is None:
            truncation = "longest_first"
        trunc = {False: None, None: None, "do_not_truncate": None, True: "longest_first",
                 "longest_first": "longest_first", "only_first": "only_first",
                 "only_second": "only_second"}.get(truncation, "?")
        if trunc == "?":
            raise TokenizerError(
                f"truncation must be True/False/'longest_first'/'only_first'/'only_second', not {truncation!r}"
            )
        if max_length is None:
            if pad == "max_length":
                if self.model_max_length >= VERY_LARGE_INTEGER:
                    pad = "longest"
                else:
                    max_length = self.model_max_length
            if trunc is not None:
                if self.model_max_length >= VERY_LARGE_INTEGER:
                    trunc = None
                else:
                    max_length = self.model_max_length
        if trunc is not None and pad is not None and pad_to_multiple_of and max_length and max_length % pad_to_multiple_of:
            raise TokenizerError(
                f"truncation length ({max_length}) must be a multiple of pad_to_multiple_of ({pad_to_multiple_of})"
            )
        return pad, trunc, max_length

    def encode(self, text: Any, text_pair: Any = None, add_special_tokens: bool = True, **kwargs: Any) -> Any:
        """The ``input_ids`` of one text (or pair); with return_tensors a (1, n) tensor."""
        out = self._call_one(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)
        return out["input_ids"]

    def encode_plus(self, text: Any, text_pair: Any = None, **kwargs: Any) -> BatchEncoding:
        return self._call_one(text, text_pair, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs: list[Any], **kwargs: Any) -> BatchEncoding:
        texts = [t[0] if isinstance(t, tuple) else t for t in batch_text_or_text_pairs]
        pairs = [t[1] for t in batch_text_or_text_pairs if isinstance(t, tuple)]
        return self._call_one(texts, pairs or None, **kwargs)

    def pad(self, encoded_inputs: Any, padding: bool | str = True, max_length: int | None = None,
            pad_to_multiple_of: int | None = None, padding_side: str | None = None,
            return_attention_mask: bool | None = None, return_tensors: str | None = None) -> BatchEncoding:
        """Pad already-encoded features (a dict of lists, or a list of dicts) as transformers' ``pad`` does."""
        from embrace.tokenizers.hf_files import pad_features

        return pad_features(self, encoded_inputs, padding, max_length, pad_to_multiple_of, padding_side,
                            return_attention_mask, return_tensors)

    # ------------------------------------------------------------------ decoding
    def decode(self, token_ids: Any, skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool | None = None, **kwargs: Any) -> str:
        ids = _as_ids(token_ids)
        if ids and isinstance(ids[0], list):
            raise TokenizerInputError("decode takes one sequence of ids; use batch_decode for a batch")
        text = self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        clean = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces
        # like transformers 5: the cleanup is meant for WordPiece and would delete real spaces in BPE output
        if clean and (self._tokenizer.model.type_name != "BPE" or self.clean_up_bpe_anyway):
            from embrace.tokenizers.decoders import cleanup_tokenization

            text = cleanup_tokenization(text)
        return text

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs: Any) -> list[str]:
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in _as_ids(sequences)]

    # ------------------------------------------------------------------ chat templates
    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
        from embrace.chat_template import apply_chat_template

        return apply_chat_template(self, conversation, **kwargs)

    # ------------------------------------------------------------------ files
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike[str], *inputs: Any, **kwargs: Any) -> PreTrainedTokenizerFast:
        from embrace.tokenizers.hf_files import load_tokenizer_files

        tokenizer, config = load_tokenizer_files(pretrained_model_name_or_path, kwargs)
        return cls(tokenizer_object=tokenizer, **config)

    def save_pretrained(self, save_directory: str | os.PathLike[str], legacy_format: bool | None = None,
                        filename_prefix: str | None = None, push_to_hub: bool = False, **kwargs: Any) -> tuple[str, ...]:
        """Write tokenizer.json, tokenizer_config.json and chat_template.jinja (atomically); returns the paths."""
        folder = Path(save_directory)
        if folder.is_file():
            raise TokenizerError(f"save_pretrained needs a folder, but {folder} is a file")
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        config: dict[str, Any] = {k: v for k, v in self.extra_config.items() if _jsonable(v)}
        config.update({k: v for k, v in self._special.items() if v is not None})
        if self.additional_special_tokens:
            config["additional_special_tokens"] = list(self.additional_special_tokens)
        config.update({
            "added_tokens_decoder": {str(i): t.to_json(i) | {"id": None} for i, t in self.added_tokens_decoder.items()},
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "tokenizer_class": self.tokenizer_class or "PreTrainedTokenizerFast",
        })
        for spec in config["added_tokens_decoder"].values():
            spec.pop("id")
        if "token_type_ids" not in self.model_input_names:
            config["model_input_names"] = list(self.model_input_names)
        paths = [folder / f"{prefix}tokenizer_config.json", folder / f"{prefix}tokenizer.json"]
        write_text_atomic(paths[0], json.dumps(dict(sorted(config.items())), indent=2, ensure_ascii=False) + "\n")
        self._tokenizer.save(paths[1])
        if isinstance(self.chat_template, str):
            paths.append(folder / f"{prefix}chat_template.jinja")
            write_text_atomic(paths[-1], self.chat_template)
        if push_to_hub:  # as the reference: save here, then upload the folder (repo_id= or the folder's name)
            self.push_to_hub(kwargs.pop("repo_id", None) or folder.resolve().name, **kwargs)
        return tuple(str(p) for p in paths)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Upload the tokenizer files to a hub repo in one commit (``embrace.hub.push_folder_to_hub`` options:
        ``commit_message``, ``private``, ``token``, ``revision``, ``create_pr``)."""
        from embrace.hub import push_saved_to_hub

        return push_saved_to_hub(self.save_pretrained, repo_id, **kwargs)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r}, "
                f"special_tokens={self.special_tokens_map})")


PreTrainedTokenizer = PreTrainedTokenizerFast
PreTrainedTokenizerBase = PreTrainedTokenizerFast
TokenizersBackend = PreTrainedTokenizerFast


class AutoTokenizer:
    """``AutoTokenizer.from_pretrained(folder_or_repo_id)``: every tokenizer is a ``PreTrainedTokenizerFast``."""

    def __init__(self) -> None:
        raise EmbraceError("AutoTokenizer is a factory: use AutoTokenizer.from_pretrained(path_or_repo_id)")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike[str], *inputs: Any, **kwargs: Any) -> Any:
        from embrace.hub.resolve import cached_file
        from embrace.tokenizers.marian import MarianTokenizer, is_marian_folder

        hub = {k: kwargs[k] for k in ("revision", "cache_dir", "token", "local_files_only") if k in kwargs}
        if not kwargs.get("gguf_file") and is_marian_folder(
                lambda name: cached_file(pretrained_model_name_or_path, name, missing_ok=True, **hub)):
            return MarianTokenizer.from_pretrained(pretrained_model_name_or_path, *inputs, **kwargs)
        from embrace.tokenizers.hf_files import load_tokenizer_files
        from embrace.tokenizers.mbart import MBART_TOKENIZER_CLASSES

        tokenizer, config = load_tokenizer_files(pretrained_model_name_or_path, kwargs)
        name = str(config.get("tokenizer_class") or "").removesuffix("Fast")
        return MBART_TOKENIZER_CLASSES.get(name, PreTrainedTokenizerFast)(tokenizer_object=tokenizer, **config)


def _place(values: list[int], length: int, fill: int, left: bool) -> list[int]:
    pad = [fill] * (length - len(values))
    return pad + values if left else values + pad


def _added_token(spec: dict[str, Any]) -> AddedToken:
    return AddedToken(spec["content"], spec.get("single_word", False), spec.get("lstrip", False),
                      spec.get("rstrip", False), spec.get("normalized"), spec.get("special", False))


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TokenizerInputError(f"text must be a str, got {type(text).__name__}: {text!r:.80}")
    return text


def _is_batched(text: Any, is_split_into_words: bool) -> bool:
    if isinstance(text, str):
        return False
    if not isinstance(text, (list, tuple)):
        raise TokenizerInputError(
            "text input must be a str (one example), a list of str (a batch, or one pre-split example) or a list "
            f"of lists of str (a batch of pre-split examples); got {type(text).__name__}"
        )
    if is_split_into_words:
        return bool(text) and isinstance(text[0], (list, tuple))
    return True


def _check_input(part: Any, is_split_into_words: bool) -> None:
    if is_split_into_words:
        if not isinstance(part, (list, tuple)) or not all(isinstance(w, str) for w in part):
            raise TokenizerInputError(f"with is_split_into_words=True each example must be a list of str, got {part!r:.80}")
    elif not isinstance(part, str):
        raise TokenizerInputError(f"each text must be a str, got {type(part).__name__}: {part!r:.80}")


def _as_ids(value: Any) -> Any:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, int):
        return [value]
    if isinstance(value, (list, tuple)):
        return [_as_ids(v) if isinstance(v, (list, tuple)) or hasattr(v, "tolist") and not isinstance(v, int)
                else v for v in value]
    raise TokenizerInputError(f"expected token ids (int, list of int, or a tensor), got {type(value).__name__}")
