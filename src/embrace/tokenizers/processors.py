"""Post-processors (tokenizer.json ``post_processor``): add special tokens, set type ids, trim byte-level offsets."""

from __future__ import annotations

from typing import Any, ClassVar

from embrace.tokenizers.encoding import Encoding
from embrace.tokenizers.errors import InvalidTokenizerFileError, require, unknown_type
from embrace.tokenizers.models import WordCache
from embrace.tokenizers.pre_tokenizers import BYTE_TO_CHAR

_SPACE_CHAR = BYTE_TO_CHAR[ord(" ")]


class PostProcessor:
    type_name: ClassVar[str] = ""

    def added_tokens(self, is_pair: bool) -> int:
        return 0

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        raise NotImplementedError

    def process_ids(self, ids: list[int]) -> list[int]:
        """Ids-only post-processing of a single sequence with special tokens (the fast path)."""
        n = len(ids)
        enc = Encoding(ids, [0] * n, [""] * n, [(0, 0)] * n, [1] * n, [0] * n, [None] * n)
        return self.process(enc, None, True).ids

    def process(self, encoding: Encoding, pair: Encoding | None, add_special_tokens: bool = True) -> Encoding:
        encodings = [encoding] if pair is None else [encoding, pair]
        for i, enc in enumerate(encodings):
            enc.set_sequence_id(i)
            for o in enc.overflowing:
                o.set_sequence_id(i)
            enc.type_ids = [i] * len(enc.ids)
        return Encoding.merge(self.process_encodings(encodings, add_special_tokens))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name}


def _special(ids: list[int], tokens: list[str], type_id: int) -> Encoding:
    n = len(ids)
    return Encoding(list(ids), [type_id] * n, list(tokens), [(0, 0)] * n, [1] * n, [1] * n, [None] * n)


class TemplateProcessing(PostProcessor):
    """``single``/``pair`` templates of ``{"Sequence": {"id": "A"|"B", "type_id"}}`` and ``{"SpecialToken": ...}``."""

    type_name = "TemplateProcessing"

    def __init__(self, single: list[dict], pair: list[dict], special_tokens: dict[str, dict]) -> None:
        self.single = self._parse(single, "single")
        self.pair = self._parse(pair, "pair")
        self.special_tokens = special_tokens
        for piece in self.single + self.pair:
            if piece[0] == "SpecialToken" and piece[1] not in special_tokens:
                raise InvalidTokenizerFileError(f"TemplateProcessing: special token {piece[1]!r} has no entry in special_tokens")

    @staticmethod
    def _parse(template: list[Any], which: str) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        for piece in template:
            if isinstance(piece, str):  # the "$A:0" / "[CLS]:1" shorthand
                name, _, type_id = piece.partition(":")
                if name.startswith("$"):
                    out.append(("Sequence", name[1:] or "A", int(type_id or 0)))
                else:
                    out.append(("SpecialToken", name, int(type_id or 0)))
                continue
            if not isinstance(piece, dict) or len(piece) != 1:
                raise InvalidTokenizerFileError(f"TemplateProcessing.{which}: bad template piece {piece!r}")
            (kind, body), = piece.items()
            if kind not in ("Sequence", "SpecialToken"):
                raise InvalidTokenizerFileError(f"TemplateProcessing.{which}: unknown piece kind {kind!r}")
            out.append((kind, str(require(body, "id", "template piece")), int(body.get("type_id", 0))))
        return out

    def added_tokens(self, is_pair: bool) -> int:
        template = self.pair if is_pair else self.single
        return sum(len(self.special_tokens[name]["ids"]) for kind, name, _ in template if kind == "SpecialToken")

    def process_ids(self, ids: list[int]) -> list[int]:
        out: list[int] = []
        for kind, name, _type_id in self.single:
            out.extend(ids if kind == "Sequence" else self.special_tokens[name]["ids"])
        return out

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        template = self.pair if len(encodings) == 2 else self.single
        out: list[Encoding] = []
        for kind, name, type_id in template:
            if kind == "Sequence":
                i = 0 if name == "A" else 1
                if i >= len(encodings):
                    continue
                enc = encodings[i].copy()
                enc.type_ids = [type_id] * len(enc.ids)
                enc.set_sequence_id(i)
                out.append(enc)
            elif add_special_tokens:
                tok = self.special_tokens[name]
                out.append(_special(tok["ids"], tok["tokens"], type_id))
        return out

    def to_json(self) -> dict[str, Any]:
        def dump(template: list[tuple[str, str, int]]) -> list[dict]:
            return [{kind: {"id": name, "type_id": type_id}} for kind, name, type_id in template]

        return {
            "type": self.type_name,
            "single": dump(self.single),
            "pair": dump(self.pair),
            "special_tokens": self.special_tokens,
        }


_SPACES = _SPACE_CHAR + " \t\n\r"


def _count_spaces(token: str) -> tuple[int, int]:
    return len(token) - len(token.lstrip(_SPACES)), len(token) - len(token.rstrip(_SPACES))


SPACE_COUNTS = WordCache(_count_spaces)  # token -> (leading, trailing) (byte-level) spaces
space_counts = SPACE_COUNTS.__getitem__


def trim_token(token: str, s: int, e: int, keep_single_lead: bool = False) -> tuple[int, int]:
    """Offsets of one token without its leading/trailing (byte-level) spaces; ``keep_single_lead`` keeps a
    single leading space (the reference does that for the first token when ``add_prefix_space`` is set)."""
    lead, trail = space_counts(token)
    if lead and not (keep_single_lead and lead == 1):
        s = min(s + lead, e)
    if trail and e >= trail:
        e = max(e - trail, s)
    return s, e


def trim_byte_level_offsets(encoding: Encoding, add_prefix_space: bool) -> None:
    """Drop leading/trailing (byte-level) spaces from token offsets, like the reference's ByteLevel processor.

    Skipped once for an encoding whose offsets the tokenizer's cached path already trimmed (``offsets_trimmed``)."""
    if encoding.offsets_trimmed:
        encoding.offsets_trimmed = False
    else:
        offsets = encoding.offsets
        for i, token in enumerate(encoding.tokens):
            lead, trail = space_counts(token)
            if lead or trail:
                s, e = offsets[i]
                offsets[i] = trim_token(token, s, e, add_prefix_space and (i == 0 or s == 0))
    for o in encoding.overflowing:
        trim_byte_level_offsets(o, add_prefix_space)


def offset_trimmer(processor: PostProcessor | None) -> ByteLevel | RobertaProcessing | None:
    """The processor whose byte-level offset trimming the tokenizer may apply per cached word, if any."""
    if isinstance(processor, (ByteLevel, RobertaProcessing)) and processor.trim_offsets:
        return processor
    return None


def trims_offsets(processor: PostProcessor | None) -> bool:
    """Whether ``processor`` (or one in a Sequence) trims byte-level offsets."""
    if isinstance(processor, Sequence):
        return any(map(trims_offsets, processor.processors))
    return isinstance(processor, (ByteLevel, RobertaProcessing)) and processor.trim_offsets


class ByteLevel(PostProcessor):
    type_name = "ByteLevel"

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True) -> None:
        self.add_prefix_space = add_prefix_space
        self.trim_offsets = trim_offsets
        self.use_regex = use_regex

    def process_ids(self, ids: list[int]) -> list[int]:
        return ids

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        if self.trim_offsets:
            for enc in encodings:
                trim_byte_level_offsets(enc, self.add_prefix_space)
        for i, enc in enumerate(encodings):
            enc.set_sequence_id(i)
        return encodings

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "add_prefix_space": self.add_prefix_space,
            "trim_offsets": self.trim_offsets,
            "use_regex": self.use_regex,
        }


class BertProcessing(PostProcessor):
    """``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]`` with type ids 0 then 1."""

    type_name = "BertProcessing"
    pair_type_id = 1

    def __init__(self, sep: tuple[str, int], cls: tuple[str, int]) -> None:
        self.sep = (str(sep[0]), int(sep[1]))
        self.cls = (str(cls[0]), int(cls[1]))

    def added_tokens(self, is_pair: bool) -> int:
        return 3 if is_pair else 2

    def _prepare(self, encodings: list[Encoding]) -> None:
        pass

    def process_ids(self, ids: list[int]) -> list[int]:
        return [self.cls[1], *ids, self.sep[1]]

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        self._prepare(encodings)
        if not add_special_tokens:
            return encodings
        cls, sep = self.cls, self.sep
        out = [_special([cls[1]], [cls[0]], 0), encodings[0], _special([sep[1]], [sep[0]], 0)]
        for o in encodings[0].overflowing:
            o.type_ids = [0] * len(o.ids)
        if len(encodings) == 2:
            pair_type = self.pair_type_id
            encodings[1].type_ids = [pair_type] * len(encodings[1].ids)
            if type(self) is RobertaProcessing:
                out.append(_special([sep[1]], [sep[0]], pair_type))
            out += [encodings[1], _special([sep[1]], [sep[0]], pair_type)]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "sep": list(self.sep), "cls": list(self.cls)}


class RobertaProcessing(BertProcessing):
    """``<s> A </s>`` and ``<s> A </s></s> B </s>``, all type ids 0, optional byte-level offset trimming."""

    type_name = "RobertaProcessing"
    pair_type_id = 0

    def __init__(
        self, sep: tuple[str, int], cls: tuple[str, int], trim_offsets: bool = True, add_prefix_space: bool = True
    ) -> None:
        super().__init__(sep, cls)
        self.trim_offsets = trim_offsets
        self.add_prefix_space = add_prefix_space

    def added_tokens(self, is_pair: bool) -> int:
        return 4 if is_pair else 2

    def _prepare(self, encodings: list[Encoding]) -> None:
        if self.trim_offsets:
            for enc in encodings:
                trim_byte_level_offsets(enc, self.add_prefix_space)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "sep": list(self.sep),
            "cls": list(self.cls),
            "trim_offsets": self.trim_offsets,
            "add_prefix_space": self.add_prefix_space,
        }


class Sequence(PostProcessor):
    type_name = "Sequence"

    def __init__(self, processors: list[PostProcessor]) -> None:
        self.processors = processors

    def added_tokens(self, is_pair: bool) -> int:
        return sum(p.added_tokens(is_pair) for p in self.processors)

    def process_encodings(self, encodings: list[Encoding], add_special_tokens: bool) -> list[Encoding]:
        for p in self.processors:
            encodings = p.process_encodings(encodings, add_special_tokens)
        return encodings

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type_name, "processors": [p.to_json() for p in self.processors]}


def from_json(d: dict[str, Any] | None) -> PostProcessor | None:
    if d is None:
        return None
    kind = require(d, "type", "post_processor")
    if kind == "TemplateProcessing":
        return TemplateProcessing(
            require(d, "single", "TemplateProcessing"),  # type: ignore[arg-type]
            require(d, "pair", "TemplateProcessing"),  # type: ignore[arg-type]
            d.get("special_tokens", {}),
        )
    if kind == "BertProcessing":
        return BertProcessing(require(d, "sep", "BertProcessing"), require(d, "cls", "BertProcessing"))  # type: ignore[arg-type]
    if kind == "RobertaProcessing":
        return RobertaProcessing(
            require(d, "sep", "RobertaProcessing"),  # type: ignore[arg-type]
            require(d, "cls", "RobertaProcessing"),  # type: ignore[arg-type]
            d.get("trim_offsets", True),
            d.get("add_prefix_space", True),
        )
    if kind == "ByteLevel":
        return ByteLevel(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))
    if kind == "Sequence":
        items = require(d, "processors", "Sequence post_processor")
        return Sequence([p for p in (from_json(x) for x in items) if p])  # type: ignore[attr-defined]
    raise unknown_type("post_processor", kind, ["TemplateProcessing", "BertProcessing", "RobertaProcessing", "ByteLevel", "Sequence"])
