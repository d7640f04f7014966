"""Reads SentencePiece ``.model`` files (a ``ModelProto`` protobuf) without sentencepiece or protobuf installed.

Only the fields a tokenizer needs are decoded into attributes; the protobuf wire format is parsed by a small
reader (varints, fixed32/64, length-delimited), so unknown fields of newer SentencePiece versions are skipped.
Field numbers and defaults follow sentencepiece_model.proto (proto2: absent fields take the declared default).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from embrace.errors import EmbraceError

# SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4
MODEL_TYPE_NAMES = {UNIGRAM: "unigram", BPE: "bpe", WORD: "word", CHAR: "char"}


class SentencePieceModelError(EmbraceError, ValueError):
    """The file is not a SentencePiece model (truncated or not a ModelProto)."""


@dataclass
class Piece:
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclass
class TrainerSpec:
    model_type: int = UNIGRAM
    vocab_size: int = 8000
    byte_fallback: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"
    unk_surface: str = " \u2047 "
    treat_whitespace_as_suffix: bool = False
    split_digits: bool = False
    max_sentencepiece_length: int = 16
    control_symbols: list[str] = field(default_factory=list)
    user_defined_symbols: list[str] = field(default_factory=list)


@dataclass
class NormalizerSpec:
    name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True
    normalization_rule_tsv: str = ""


@dataclass
class SentencePieceModel:
    """The decoded ``ModelProto``: ``pieces`` in id order plus the trainer and normalizer specs."""

    pieces: list[Piece]
    trainer_spec: TrainerSpec
    normalizer_spec: NormalizerSpec
    denormalizer_spec: NormalizerSpec | None = None

    @property
    def model_type(self) -> str:
        """``"unigram"``, ``"bpe"``, ``"word"`` or ``"char"``."""
        return MODEL_TYPE_NAMES.get(self.trainer_spec.model_type, "unigram")

    def vocab_scores(self) -> list[tuple[str, float]]:
        return [(p.piece, p.score) for p in self.pieces]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise SentencePieceModelError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise SentencePieceModelError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yields ``(field_number, wire_type, value)``; length-delimited values are bytes, fixed32/64 raw ints."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
        elif wire == 1:
            if pos + 8 > n:
                raise SentencePieceModelError("truncated fixed64 field")
            yield number, wire, struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > n:
                raise SentencePieceModelError(f"field {number} runs past the end of the data")
            yield number, wire, buf[pos : pos + length]
            pos += length
        elif wire == 5:
            if pos + 4 > n:
                raise SentencePieceModelError("truncated fixed32 field")
            yield number, wire, struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise SentencePieceModelError(f"unsupported protobuf wire type {wire} (field {number})")


def _int32(value: int | bytes) -> int:
    assert isinstance(value, int)
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _float(value: int | bytes) -> float:
    assert isinstance(value, int)
    return float(struct.unpack("<f", struct.pack("<I", value))[0])


def _text(value: int | bytes) -> str:
    assert isinstance(value, bytes)
    return value.decode("utf-8", errors="surrogateescape")


def _piece(buf: bytes) -> Piece:
    piece = Piece("")
    for number, _, value in _fields(buf):
        if number == 1:
            piece.piece = _text(value)
        elif number == 2:
            piece.score = _float(value)
        elif number == 3:
            piece.type = _int32(value)
    return piece


_TRAINER_INTS = {3: "model_type", 4: "vocab_size", 40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id",
                 20: "max_sentencepiece_length"}
_TRAINER_BOOLS = {35: "byte_fallback", 24: "treat_whitespace_as_suffix", 25: "split_digits"}
_TRAINER_STRS = {45: "unk_piece", 46: "bos_piece", 47: "eos_piece", 48: "pad_piece", 44: "unk_surface"}


def _trainer_spec(buf: bytes) -> TrainerSpec:
    spec = TrainerSpec()
    for number, _, value in _fields(buf):
        if number in _TRAINER_INTS:
            setattr(spec, _TRAINER_INTS[number], _int32(value))
        elif number in _TRAINER_BOOLS:
            setattr(spec, _TRAINER_BOOLS[number], bool(value))
        elif number in _TRAINER_STRS:
            setattr(spec, _TRAINER_STRS[number], _text(value))
        elif number == 30:
            spec.control_symbols.append(_text(value))
        elif number == 31:
            spec.user_defined_symbols.append(_text(value))
    return spec


def _normalizer_spec(buf: bytes) -> NormalizerSpec:
    spec = NormalizerSpec()
    for number, _, value in _fields(buf):
        if number == 1:
            spec.name = _text(value)
        elif number == 2:
            assert isinstance(value, bytes)
            spec.precompiled_charsmap = value
        elif number == 3:
            spec.add_dummy_prefix = bool(value)
        elif number == 4:
            spec.remove_extra_whitespaces = bool(value)
        elif number == 5:
            spec.escape_whitespaces = bool(value)
        elif number == 6:
            spec.normalization_rule_tsv = _text(value)
    return spec


def parse_sentencepiece_model(data: bytes) -> SentencePieceModel:
    """Decodes the bytes of a ``.model`` file."""
    pieces: list[Piece] = []
    trainer = TrainerSpec()
    normalizer = NormalizerSpec()
    denormalizer: NormalizerSpec | None = None
    try:
        for number, wire, value in _fields(data):
            if wire != 2 and number in (1, 2, 3, 5):
                raise SentencePieceModelError(f"field {number} should be a message")
            if number == 1:
                pieces.append(_piece(value))  # type: ignore[arg-type]
            elif number == 2:
                trainer = _trainer_spec(value)  # type: ignore[arg-type]
            elif number == 3:
                normalizer = _normalizer_spec(value)  # type: ignore[arg-type]
            elif number == 5:
                denormalizer = _normalizer_spec(value)  # type: ignore[arg-type]
    except (struct.error, AssertionError, UnicodeDecodeError) as exc:
        raise SentencePieceModelError(f"malformed SentencePiece model: {exc}") from exc
    if not pieces:
        raise SentencePieceModelError("no pieces found: this is not a SentencePiece .model file")
    return SentencePieceModel(pieces, trainer, normalizer, denormalizer)


def load_sentencepiece_model(path: str | os.PathLike[str]) -> SentencePieceModel:
    """Reads and decodes a SentencePiece ``.model`` file; a clear error names the file if it is not one."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        from embrace.errors import EmbraceFileNotFoundError

        raise EmbraceFileNotFoundError(f"SentencePiece model {path} does not exist") from exc
    try:
        return parse_sentencepiece_model(data)
    except SentencePieceModelError as exc:
        raise SentencePieceModelError(f"{path}: {exc}") from exc
