"""Decoders (tokenizer.json ``decoder``): turn a list of token strings back into text.

``decode_chain(tokens) -> tokens`` is the composable step (as in the reference); ``decode`` joins the result.
"""

from __future__ import annotations

from typing import Any, ClassVar

import regex

from embrace.tokenizers.errors import require, unknown_type
from embrace.tokenizers.normalizers import compile_pattern
from embrace.tokenizers.pre_tokenizers import CHAR_TO_BYTE

_BYTE_TOKEN = regex.compile(r"<0x([0-9A-Fa-f]{2})>")


def cleanup_tokenization(text: str) -> str:
    """The reference's ``clean_up_tokenization_spaces``: glue punctuation and English contractions."""
    return (
        text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
    )


class Decoder:
    type_name: ClassVar[str] = ""

    def decode_chain(self, tokens: list[str]) -> list[str]:
        raise NotImplementedError

    def decode(self, tokens: list[str]) -> str:
        return "".join(self.decode_chain(tokens))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name}


class WordPiece(Decoder):
    type_name = "WordPiece"

    def __init__(self, prefix: str = "##", cleanup: bool = True) -> None:
        self.prefix, self.cleanup = prefix, cleanup

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for i, token in enumerate(tokens):
            if i != 0:
                token = token.replace(self.prefix, "", 1) if token.startswith(self.prefix) else " " + token
            if self.cleanup:
                token = cleanup_tokenization(token).replace(" do not", " don't")
            out.append(token)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "prefix": self.prefix, "cleanup": self.cleanup}


class ByteLevel(Decoder):
    type_name = "ByteLevel"

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True) -> None:
        self.add_prefix_space, self.trim_offsets, self.use_regex = add_prefix_space, trim_offsets, use_regex

    def decode_chain(self, tokens: list[str]) -> list[str]:
        data = bytearray()
        for token in tokens:
            try:
                data += bytes(CHAR_TO_BYTE[c] for c in token)
            except KeyError:  # e.g. an added token: its text is kept as is
                data += token.encode("utf-8")
        return [bytes(data).decode("utf-8", errors="replace")]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "add_prefix_space": self.add_prefix_space,
            "trim_offsets": self.trim_offsets,
            "use_regex": self.use_regex,
        }


class Metaspace(Decoder):
    type_name = "Metaspace"

    def __init__(self, replacement: str = "▁", prepend_scheme: str = "always", split: bool = True) -> None:
        self.replacement, self.prepend_scheme, self.split = replacement, prepend_scheme, split

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = [t.replace(self.replacement, " ") for t in tokens]
        if out and self.prepend_scheme != "never":
            out[0] = tokens[0].replace(self.replacement, "")  # the reference drops every ▁ of the first token
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "replacement": self.replacement,
            "prepend_scheme": self.prepend_scheme,
            "split": self.split,
        }


class BPEDecoder(Decoder):
    type_name = "BPEDecoder"

    def __init__(self, suffix: str = "</w>") -> None:
        self.suffix = suffix

    def decode_chain(self, tokens: list[str]) -> list[str]:
        n = len(tokens)
        return [t.replace(self.suffix, "" if i == n - 1 else " ") for i, t in enumerate(tokens)]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "suffix": self.suffix}


class ByteFallback(Decoder):
    """Runs of ``<0xXX>`` tokens become the UTF-8 text they spell (one U+FFFD per byte when invalid)."""

    type_name = "ByteFallback"

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        pending = bytearray()
        pending_count = 0

        def flush() -> None:
            nonlocal pending, pending_count
            if pending_count:
                try:
                    out.append(bytes(pending).decode("utf-8"))
                except UnicodeDecodeError:
                    out.extend(["\ufffd"] * pending_count)
                pending, pending_count = bytearray(), 0

        for token in tokens:
            m = _BYTE_TOKEN.fullmatch(token) if len(token) == 6 else None
            if m is not None:
                pending.append(int(m.group(1), 16))
                pending_count += 1
            else:
                flush()
                out.append(token)
        flush()
        return out


class Fuse(Decoder):
    type_name = "Fuse"

    def decode_chain(self, tokens: list[str]) -> list[str]:
        return ["".join(tokens)]


class Strip(Decoder):
    type_name = "Strip"

    def __init__(self, content: str = " ", start: int = 0, stop: int = 0) -> None:
        self.content, self.start, self.stop = content, start, stop

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for token in tokens:
            begin, end = 0, len(token)
            for _ in range(self.start):
                if begin < end and token[begin] == self.content:
                    begin += 1
                else:
                    break
            for _ in range(self.stop):
                if end > begin and token[end - 1] == self.content:
                    end -= 1
                else:
                    break
            out.append(token[begin:end])
        return out

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "content": self.content, "start": self.start, "stop": self.stop}


class Replace(Decoder):
    type_name = "Replace"

    def __init__(self, pattern: Any, content: str) -> None:
        self.regex, self.pattern = compile_pattern(pattern, "Replace decoder")
        self.content = content

    def decode_chain(self, tokens: list[str]) -> list[str]:
        return [self.regex.sub(lambda _m: self.content, t) for t in tokens]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "pattern": self.pattern, "content": self.content}


class CTC(Decoder):
    type_name = "CTC"

    def __init__(self, pad_token: str = "<pad>", word_delimiter_token: str = "|", cleanup: bool = True) -> None:
        self.pad_token, self.word_delimiter_token, self.cleanup = pad_token, word_delimiter_token, cleanup

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        prev = None
        for t in tokens:
            if t != prev and t != self.pad_token:
                text = cleanup_tokenization(t) if self.cleanup else t
                out.append(text.replace(self.word_delimiter_token, " "))
            prev = t
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "pad_token": self.pad_token,
            "word_delimiter_token": self.word_delimiter_token,
            "cleanup": self.cleanup,
        }


class Sequence(Decoder):
    type_name = "Sequence"

    def __init__(self, decoders: list[Decoder]) -> None:
        self.decoders = decoders

    def decode_chain(self, tokens: list[str]) -> list[str]:
        for d in self.decoders:
            tokens = d.decode_chain(tokens)
        return tokens

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "decoders": [d.to_json() for d in self.decoders]}


def from_json(d: dict[str, Any] | None) -> Decoder | None:
    if d is None:
        return None
    kind = require(d, "type", "decoder")
    if kind == "WordPiece":
        return WordPiece(d.get("prefix", "##"), d.get("cleanup", True))
    if kind == "ByteLevel":
        return ByteLevel(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))
    if kind == "Metaspace":
        scheme = d.get("prepend_scheme") or ("always" if d.get("add_prefix_space", True) else "never")
        return Metaspace(d.get("replacement", "▁"), scheme, d.get("split", True))
    if kind == "BPEDecoder":
        return BPEDecoder(d.get("suffix", "</w>"))
    if kind == "ByteFallback":
        return ByteFallback()
    if kind == "Fuse":
        return Fuse()
    if kind == "Strip":
        return Strip(d.get("content", " "), d.get("start", 0), d.get("stop", 0))
    if kind == "Replace":
        return Replace(require(d, "pattern", "Replace decoder"), str(require(d, "content", "Replace decoder")))
    if kind == "CTC":
        return CTC(d.get("pad_token", "<pad>"), d.get("word_delimiter_token", "|"), d.get("cleanup", True))
    if kind == "Sequence":
        return Sequence([x for x in (from_json(y) for y in require(d, "decoders", "Sequence decoder")) if x])  # type: ignore[attr-defined]
    raise unknown_type(
        "decoder",
        kind,
        ["WordPiece", "ByteLevel", "Metaspace", "BPEDecoder", "ByteFallback", "Fuse", "Strip", "Replace", "CTC", "Sequence"],
    )
