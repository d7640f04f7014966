"""Marian (Helsinki-NLP opus-mt) tokenizer: two SentencePiece models, one id table.

A Marian folder holds ``source.spm`` (segments source text), ``target.spm`` (segments targets), ``vocab.json``
(piece -> model id, shared by both sides) and, with ``separate_vocabs``, ``target_vocab.json``. SentencePiece only
cuts text into pieces; the ids come from the json vocabularies (a piece missing there is ``<unk>``). Multilingual
models take a target-language code such as ``>>fra<<`` at the start of the source text; it is kept whole.

``tokenizer(src, text_target=tgt)`` encodes targets with the target model (as ``labels``), and so does everything
inside ``with tokenizer.as_target_tokenizer():`` (the transformers 4.x spelling). No torch import here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from embrace.io import atomic_write_text, atomic_writer
from embrace.tokenization import _jsonable
from embrace.tokenizers.batch_encoding import BatchEncoding
from embrace.tokenizers.errors import InvalidTokenizerFileError, TokenizerError, TokenizerInputError
from embrace.tokenizers.sentencepiece_model import SentencePieceModel, parse_sentencepiece_model
from embrace.tokenizers.tokenizer import Tokenizer

SPIECE_UNDERLINE = "\u2581"
VOCAB_FILES = {"source_spm": "source.spm", "target_spm": "target.spm", "vocab": "vocab.json",
               "target_vocab_file": "target_vocab.json"}
_HUB_KWARGS = ("revision", "cache_dir", "token", "local_files_only")


def spm_piece_pipeline(spm: SentencePieceModel) -> Tokenizer:
    """A pipeline that segments text as SentencePiece's unigram model does: its normalisation rules, a ``\u2581``
    before every whitespace-separated word, then the best-scoring segmentation into the model's pieces."""
    if spm.model_type != "unigram":
        raise InvalidTokenizerFileError(f"Marian expects unigram SentencePiece models, got {spm.model_type!r}")
    import base64

    charsmap = spm.normalizer_spec.precompiled_charsmap
    return Tokenizer.from_dict({
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": ({"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode("ascii")}
                       if charsmap else None),
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": SPIECE_UNDERLINE, "prepend_scheme": "always", "split": True},
        ]},
        "post_processor": None, "decoder": None,
        "model": {"type": "Unigram", "unk_id": max(spm.trainer_spec.unk_id, 0),
                  "vocab": [[p.piece, p.score] for p in spm.pieces], "byte_fallback": False},
    })


def _read_vocab(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidTokenizerFileError(f"{path} is not a valid JSON vocabulary: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
        raise InvalidTokenizerFileError(f"{path} must map pieces to integer ids")
    return data


def _read_spm(path: Path) -> tuple[bytes, SentencePieceModel]:
    data = path.read_bytes()
    return data, parse_sentencepiece_model(data)


class MarianTokenizer:
    """transformers' ``MarianTokenizer``: same files, ids, special tokens and decoding."""

    model_input_names = ["input_ids", "attention_mask"]
    pad_token_type_id = 0

    def __init__(self, source_spm: str | os.PathLike[str], target_spm: str | os.PathLike[str],
                 vocab: str | os.PathLike[str], target_vocab_file: str | os.PathLike[str] | None = None,
                 source_lang: str | None = None, target_lang: str | None = None, unk_token: str = "<unk>",
                 eos_token: str = "</s>", pad_token: str = "<pad>", model_max_length: int = 512,
                 separate_vocabs: bool = False, **kwargs: Any) -> None:
        for path in (source_spm, target_spm, vocab):
            if not Path(path).is_file():
                raise TokenizerError(f"Marian tokenizer file {os.fspath(path)!r} not found; a Marian folder needs "
                                     "source.spm, target.spm and vocab.json")
        self.encoder = _read_vocab(Path(vocab))
        self.separate_vocabs = bool(separate_vocabs)
        if self.separate_vocabs:
            if target_vocab_file is None or not Path(target_vocab_file).is_file():
                raise TokenizerError("separate_vocabs=True needs target_vocab.json")
            self.target_encoder = _read_vocab(Path(target_vocab_file))
        else:
            self.target_encoder = self.encoder
        for name, token in (("unk_token", unk_token), ("eos_token", eos_token), ("pad_token", pad_token)):
            if token not in self.encoder:
                raise InvalidTokenizerFileError(f"{name} {token!r} is not in {os.fspath(vocab)}")
        self.decoder = {i: t for t, i in self.target_encoder.items()}
        self.source_lang, self.target_lang = source_lang, target_lang
        self.unk_token, self.eos_token, self.pad_token = unk_token, eos_token, pad_token
        self.model_max_length = int(model_max_length)
        self.padding_side = str(kwargs.pop("padding_side", "right"))
        self.truncation_side = str(kwargs.pop("truncation_side", "right"))
        self.name_or_path = str(kwargs.pop("name_or_path", ""))
        extra = kwargs.pop("additional_special_tokens", None) or []
        self.additional_special_tokens = [t["content"] if isinstance(t, dict) else str(t) for t in extra]
        for key in ("added_tokens_decoder", "tokenizer_class", "sp_model_kwargs", "backend", "clean_up_tokenization_spaces"):
            kwargs.pop(key, None)
        self.extra_config = {k: v for k, v in kwargs.items() if _jsonable(v)}
        self._spm_bytes: list[bytes] = []
        self._pieces: list[Tokenizer] = []
        self._spm_pieces: list[list[str]] = []
        for path in (source_spm, target_spm):
            data, spm = _read_spm(Path(path))
            self._spm_bytes.append(data)
            self._pieces.append(spm_piece_pipeline(spm))
            self._spm_pieces.append([p.piece for p in spm.pieces])
        self._target_mode = False
        specials = sorted(self.all_special_tokens, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(re.escape(t) for t in specials) + ")")

    # ---- special tokens and vocabulary --------------------------------------------------------------------------
    @property
    def all_special_tokens(self) -> list[str]:
        return [self.eos_token, self.unk_token, self.pad_token, *self.additional_special_tokens]

    @property
    def all_special_ids(self) -> list[int]:
        return [self.encoder.get(t, self.encoder[self.unk_token]) for t in self.all_special_tokens]

    @property
    def eos_token_id(self) -> int:
        return self.encoder[self.eos_token]

    @property
    def pad_token_id(self) -> int:
        return self.encoder[self.pad_token]

    @property
    def unk_token_id(self) -> int:
        return self.encoder[self.unk_token]

    @property
    def supported_language_codes(self) -> list[str]:
        """Target-language codes (``>>fra<<``) of a multilingual model's shared vocabulary."""
        if self.separate_vocabs:
            return []
        return [t for t in self.encoder if t.startswith(">>") and t.endswith("<<")]

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def __len__(self) -> int:
        return len(self.encoder)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.encoder)

    def get_src_vocab(self) -> dict[str, int]:
        return dict(self.encoder)

    def get_tgt_vocab(self) -> dict[str, int]:
        return dict(self.target_encoder)

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> Any:
        table = self.target_encoder if self._target_mode else self.encoder
        unk = table.get(self.unk_token, self.encoder[self.unk_token])
        if isinstance(tokens, str):
            return table.get(tokens, unk)
        return [table.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool = False) -> Any:
        """Ids -> pieces of the target vocabulary; the special tokens' (source) ids come first, as the reference
        registers them as added tokens."""
        return self._ids_to_tokens(ids, skip_special_tokens, use_source_spm=False)

    def _ids_to_tokens(self, ids: int | Sequence[int], skip_special_tokens: bool, use_source_spm: bool) -> Any:
        """Special tokens' (source) ids first, then the target vocabulary; an id in neither is read as a piece id
        of a SentencePiece model (as the reference falls back), else ``<unk>``."""
        specials = {self.encoder[t]: t for t in self.all_special_tokens if t in self.encoder}
        fallback = self._spm_pieces[0 if use_source_spm else 1]

        def token(i: int) -> str:
            found = specials.get(i) or self.decoder.get(i)
            if found is None:
                found = fallback[i] if 0 <= i < len(fallback) and fallback[i] else self.unk_token
            return found

        if isinstance(ids, int):
            return token(ids)
        skipped = set(specials) if skip_special_tokens else set()
        return [token(int(i)) for i in ids if int(i) not in skipped]

    # ---- encoding -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def as_target_tokenizer(self) -> Iterator[MarianTokenizer]:
        """Encode with the target SentencePiece model and vocabulary inside the block (transformers 4.x API)."""
        previous, self._target_mode = self._target_mode, True
        try:
            yield self
        finally:
            self._target_mode = previous

    def tokenize(self, text: str, **_: Any) -> list[str]:
        """Pieces of ``text``: special tokens and a leading ``>>lang<<`` code whole, the rest by SentencePiece."""
        if not isinstance(text, str):
            raise TokenizerInputError(f"text must be a str, got {type(text).__name__}")
        pieces_model = self._pieces[1 if self._target_mode else 0]
        out: list[str] = []
        for i, chunk in enumerate(self._special_split.split(text)):
            if i % 2:  # a special token
                out.append(chunk)
                continue
            if chunk.startswith(">>") and (end := chunk.find("<<")) != -1:
                out.append(chunk[:end + 2])
                chunk = chunk[end + 2:]
            if chunk.strip():
                out.extend(pieces_model.encode(chunk, add_special_tokens=False).tokens)
        return out

    def _encode_one(self, text: str, pair: str | None, add_special_tokens: bool, truncation: bool,
                    max_length: int | None) -> list[int]:
        ids = self.convert_tokens_to_ids(self.tokenize(text))
        if pair is not None:
            ids += self.convert_tokens_to_ids(self.tokenize(pair))
        extra = 1 if add_special_tokens else 0
        if truncation and max_length is not None and len(ids) + extra > max_length:
            keep = max(max_length - extra, 0)
            ids = ids[-keep:] if self.truncation_side == "left" and keep else ids[:keep]
        eos = (self.target_encoder if self._target_mode else self.encoder)[self.eos_token]
        return ids + [eos] if add_special_tokens else ids

    def __call__(self, text: Any = None, text_pair: Any = None, text_target: Any = None,
                 text_pair_target: Any = None, **kwargs: Any) -> BatchEncoding:
        """Encode source ``text`` (and/or ``text_target``, returned as ``labels`` when both are given)."""
        if text is None and text_target is None:
            raise TokenizerInputError("pass text= (and/or text_target=) to the tokenizer")
        out = self._encode(text, text_pair, **kwargs) if text is not None else None
        if text_target is None:
            assert out is not None
            return out
        previous, self._target_mode = self._target_mode, True
        try:
            target = self._encode(text_target, text_pair_target, **kwargs)
        finally:
            self._target_mode = previous
        if out is None:
            return target
        out["labels"] = target["input_ids"]
        return out

    def _encode(self, text: Any, text_pair: Any = None, add_special_tokens: bool = True,
                padding: bool | str = False, truncation: bool | str | None = None, max_length: int | None = None,
                pad_to_multiple_of: int | None = None, padding_side: str | None = None,
                return_tensors: str | None = None, return_attention_mask: bool | None = None,
                return_special_tokens_mask: bool = False, return_length: bool = False, **_: Any) -> BatchEncoding:
        batched = isinstance(text, (list, tuple))
        texts = list(text) if batched else [text]
        pairs = (list(text_pair) if batched else [text_pair]) if text_pair is not None else [None] * len(texts)
        if len(pairs) != len(texts):
            raise TokenizerInputError(f"batch length mismatch: {len(texts)} texts and {len(pairs)} text pairs")
        for item in texts + [p for p in pairs if p is not None]:
            if not isinstance(item, str):
                raise TokenizerInputError(f"text must be a str or a list of str, got {type(item).__name__}")
        truncate = bool(truncation) and truncation != "do_not_truncate"
        if truncate and max_length is None:
            max_length = self.model_max_length
        rows = [self._encode_one(t, p, add_special_tokens, truncate, max_length) for t, p in zip(texts, pairs)]
        data: dict[str, Any] = {"input_ids": rows}
        if return_special_tokens_mask:  # eos/pad (and extra specials), not <unk>, as the reference marks them
            marked = set(self.all_special_ids) - {self.unk_token_id}
            data["special_tokens_mask"] = [[int(i in marked) for i in row] for row in rows]
        if return_length:
            data["length"] = [len(row) for row in rows]
        if return_attention_mask is not False:
            data["attention_mask"] = [[1] * len(r) for r in rows]
        if padding and padding != "do_not_pad":
            from embrace.tokenizers.hf_files import pad_features

            data = dict(pad_features(self, data, padding=padding, max_length=max_length,  # type: ignore[arg-type]
                                     pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                                     return_attention_mask=return_attention_mask is not False))
        if not batched and return_tensors is None:
            data = {k: v[0] for k, v in data.items()}
        return BatchEncoding(data, tensor_type=return_tensors)

    def encode(self, text: str, text_pair: str | None = None, add_special_tokens: bool = True, **kwargs: Any
               ) -> list[int]:
        return list(self._encode(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"])

    def pad(self, encoded_inputs: Any, padding: bool | str = True, max_length: int | None = None,
            pad_to_multiple_of: int | None = None, padding_side: str | None = None,
            return_attention_mask: bool | None = None, return_tensors: str | None = None, **_: Any) -> BatchEncoding:
        """Pad already-encoded features (a list of dicts or a dict of lists), as data collators do."""
        from embrace.tokenizers.hf_files import pad_features

        return pad_features(self, encoded_inputs, padding, max_length, pad_to_multiple_of,  # type: ignore[arg-type]
                            padding_side=padding_side, return_attention_mask=return_attention_mask,
                            return_tensors=return_tensors)

    # ---- decoding -----------------------------------------------------------------------------------------------
    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        """Pieces to text: ``\u2581`` marks a space; special tokens are glued on with a space after them."""
        special = set(self.all_special_tokens)
        out, run = "", list[str]()
        for token in tokens:
            if token in special:
                out += _join_pieces(run) + token + " "
                run = []
            else:
                run.append(token)
        out += _join_pieces(run)
        return out.replace(SPIECE_UNDERLINE, " ").strip()

    def decode(self, token_ids: Any, skip_special_tokens: bool = False, use_source_tokenizer: bool | None = None,
               **_: Any) -> str:
        """Ids -> text. ``use_source_tokenizer`` (default: True unless the vocabularies are separate) picks the
        SentencePiece model whose pieces stand in for ids missing from the vocabulary."""
        ids = token_ids.tolist() if hasattr(token_ids, "tolist") else token_ids
        if isinstance(ids, int):
            ids = [ids]
        use_source = not self.separate_vocabs if use_source_tokenizer is None else use_source_tokenizer
        return self.convert_tokens_to_string(self._ids_to_tokens(list(ids), skip_special_tokens, use_source))

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = False, **kwargs: Any) -> list[str]:
        rows = sequences.tolist() if hasattr(sequences, "tolist") else sequences
        return [self.decode(row, skip_special_tokens=skip_special_tokens, **kwargs) for row in rows]

    # ---- files --------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike[str], *_: Any, **kwargs: Any
                        ) -> MarianTokenizer:
        """Load ``source.spm``, ``target.spm``, ``vocab.json`` (+ ``target_vocab.json``) and the settings of
        ``tokenizer_config.json`` from a folder or a hub repo."""
        from embrace.hub.resolve import cached_file

        hub = {k: kwargs.pop(k) for k in _HUB_KWARGS if k in kwargs}
        for unused in ("use_fast", "trust_remote_code", "_from_auto"):
            kwargs.pop(unused, None)

        def find(name: str) -> Path | None:
            return cached_file(pretrained_model_name_or_path, name, missing_ok=True, **hub)

        config: dict[str, Any] = {}
        config_path = find("tokenizer_config.json")
        if config_path is not None:
            try:
                config = json.loads(config_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise InvalidTokenizerFileError(f"{config_path} is not valid JSON: {exc}") from exc
        files = {key: find(name) for key, name in VOCAB_FILES.items()}
        missing = [VOCAB_FILES[k] for k in ("source_spm", "target_spm", "vocab") if files[k] is None]
        if missing:
            raise TokenizerError(f"{os.fspath(pretrained_model_name_or_path)!r} lacks {', '.join(missing)}: a Marian "
                                 "tokenizer needs source.spm, target.spm and vocab.json")
        config = {**config, **kwargs}
        for key in ("source_spm", "target_spm", "vocab", "target_vocab_file"):
            config.pop(key, None)
        config.setdefault("name_or_path", os.fspath(pretrained_model_name_or_path))
        return cls(files["source_spm"], files["target_spm"], files["vocab"],  # type: ignore[arg-type]
                   target_vocab_file=files["target_vocab_file"], **config)

    def save_pretrained(self, save_directory: str | os.PathLike[str], **_: Any) -> tuple[str, ...]:
        """Write the reference's files (each atomically): vocab json(s), both .spm models, tokenizer_config.json."""
        folder = Path(save_directory)
        if folder.is_file():
            raise TokenizerError(f"save_pretrained needs a folder, but {folder} is a file")
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / VOCAB_FILES["vocab"]]
        atomic_write_text(written[0], json.dumps(self.encoder, indent=2, ensure_ascii=False))
        if self.separate_vocabs:
            written.append(folder / VOCAB_FILES["target_vocab_file"])
            atomic_write_text(written[-1], json.dumps(self.target_encoder, indent=2, ensure_ascii=False))
        for name, data in zip((VOCAB_FILES["source_spm"], VOCAB_FILES["target_spm"]), self._spm_bytes):
            written.append(folder / name)
            with atomic_writer(written[-1], "wb") as handle:
                handle.write(data)
        specials = dict(zip(self.all_special_ids, self.all_special_tokens))
        config = {
            **self.extra_config,
            "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                              "single_word": False, "special": True}
                                     for i, t in sorted(specials.items())},
            "eos_token": self.eos_token, "pad_token": self.pad_token, "unk_token": self.unk_token,
            "model_max_length": self.model_max_length, "separate_vocabs": self.separate_vocabs,
            "source_lang": self.source_lang, "target_lang": self.target_lang, "sp_model_kwargs": {},
            "tokenizer_class": "MarianTokenizer",
        }
        if self.additional_special_tokens:
            config["additional_special_tokens"] = list(self.additional_special_tokens)
        written.append(folder / "tokenizer_config.json")
        atomic_write_text(written[-1], json.dumps(dict(sorted(config.items())), indent=2, ensure_ascii=False) + "\n")
        return tuple(str(p) for p in written)

    def __repr__(self) -> str:
        return (f"MarianTokenizer(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
                f"source_lang={self.source_lang!r}, target_lang={self.target_lang!r})")


def _join_pieces(pieces: list[str]) -> str:
    """SentencePiece's ``decode_pieces``: concatenate, ``\u2581`` -> space, drop the leading dummy-prefix space."""
    text = "".join(pieces).replace(SPIECE_UNDERLINE, " ")
    return text[1:] if text.startswith(" ") else text


def is_marian_folder(find: Any) -> bool:
    """True when a tokenizer folder is Marian's (``source.spm`` and no tokenizer.json); ``find(name)`` resolves
    a file name to a path or None."""
    return find("tokenizer.json") is None and find("source.spm") is not None  # tokenizer.json is looked up anyway
