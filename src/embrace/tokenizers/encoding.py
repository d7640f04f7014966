"""``Encoding``: the output of the tokenizer pipeline for one input (or one pair), with truncation and padding.

All per-token lists have the same length. Offsets are (start, end) character offsets into the original text of
the sequence the token came from; special tokens added by the post-processor and padding have (0, 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from embrace.tokenizers.errors import TruncationError

Offset = tuple[int, int]


@dataclass
class Encoding:
    ids: list[int] = field(default_factory=list)
    type_ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    offsets: list[Offset] = field(default_factory=list)
    attention_mask: list[int] = field(default_factory=list)
    special_tokens_mask: list[int] = field(default_factory=list)
    word_ids: list[int | None] = field(default_factory=list)
    overflowing: list[Encoding] = field(default_factory=list)
    sequence_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)
    offsets_trimmed: bool = False  # byte-level offset trimming already applied (by the tokenizer's cached path)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Encoding(num_tokens={len(self.ids)}, overflowing={len(self.overflowing)})"

    @property
    def words(self) -> list[int | None]:
        return self.word_ids

    @property
    def n_sequences(self) -> int:
        return len(self.sequence_ranges) or 1

    @property
    def sequence_ids(self) -> list[int | None]:
        """Which input sequence (0 or 1) each token comes from; None for special tokens and padding."""
        if not self.sequence_ranges:
            return [0] * len(self.ids)
        out: list[int | None] = [None] * len(self.ids)
        for seq, (s, e) in self.sequence_ranges.items():
            out[s:e] = [seq] * (e - s)
        return out

    def set_sequence_id(self, seq: int) -> None:
        self.sequence_ranges[seq] = (0, len(self.ids))

    def char_to_token(self, char_pos: int, sequence_index: int = 0) -> int | None:
        seq_ids = self.sequence_ids
        for i, (s, e) in enumerate(self.offsets):
            if seq_ids[i] == sequence_index and s <= char_pos < e:
                return i
        return None

    def token_to_chars(self, token_index: int) -> Offset:
        return self.offsets[token_index]

    def token_to_word(self, token_index: int) -> int | None:
        return self.word_ids[token_index]

    def _slice(self, start: int, stop: int) -> Encoding:
        return Encoding(
            self.ids[start:stop],
            self.type_ids[start:stop],
            self.tokens[start:stop],
            self.offsets[start:stop],
            self.attention_mask[start:stop],
            self.special_tokens_mask[start:stop],
            self.word_ids[start:stop],
        )

    def copy(self) -> Encoding:
        out = self._slice(0, len(self.ids))
        out.overflowing = [o.copy() for o in self.overflowing]
        out.sequence_ranges = dict(self.sequence_ranges)
        return out

    def truncate(self, max_len: int, stride: int = 0, direction: str = "right") -> None:
        """Keep ``max_len`` tokens; the rest become ``overflowing`` windows overlapping by ``stride`` tokens."""
        n = len(self.ids)
        if max_len >= n:
            return
        if max_len == 0:
            whole = self.copy()
            self.__init__()  # type: ignore[misc]
            self.overflowing.append(whole)
            return
        if stride >= max_len:
            raise TruncationError(
                f"stride ({stride}) must be strictly less than the truncated length ({max_len}, after removing the "
                "special tokens); use a smaller stride or a larger max_length"
            )
        step = max_len - stride
        parts: list[tuple[int, int]] = []
        if direction == "right":
            for start in range(0, n, step):
                stop = min(start + max_len, n)
                parts.append((start, stop))
                if stop == n:
                    break
        else:
            for last in range(n - 1, -1, -step):
                stop = last + 1
                start = max(0, stop - max_len)
                parts.append((start, stop))
                if start == 0:
                    break
        first = self._slice(*parts[0])
        first.overflowing = [self._slice(s, e) for s, e in parts[1:]]
        self.__dict__.update(first.__dict__)

    def merge_with(self, pair: Encoding, growing_offsets: bool = False) -> None:
        """Append ``pair``; overflowing windows are combined the way the reference does."""
        overflowings: list[Encoding] = []
        for own in self.overflowing:
            merged = own.copy()
            merged.merge_with(pair.copy(), growing_offsets)
            overflowings.append(merged)
            for other in pair.overflowing:
                merged = own.copy()
                merged.merge_with(other.copy(), growing_offsets)
                overflowings.append(merged)
        for other in pair.overflowing:
            merged = self.copy()
            merged.merge_with(other.copy(), growing_offsets)
            overflowings.append(merged)
        n = len(self.ids)
        for seq, (s, e) in pair.sequence_ranges.items():
            self.sequence_ranges[seq] = (n + s, n + e)
        shift = self.offsets[-1][1] if growing_offsets and self.offsets else 0
        self.ids += pair.ids
        self.type_ids += pair.type_ids
        self.tokens += pair.tokens
        self.offsets += [(s + shift, e + shift) for s, e in pair.offsets] if shift else pair.offsets
        self.attention_mask += pair.attention_mask
        self.special_tokens_mask += pair.special_tokens_mask
        self.word_ids += pair.word_ids
        self.overflowing = overflowings

    @staticmethod
    def merge(encodings: list[Encoding], growing_offsets: bool = False) -> Encoding:
        out = Encoding()
        for enc in encodings:
            out.merge_with(enc, growing_offsets)
        return out

    def pad(self, target: int, pad_id: int, pad_type_id: int, pad_token: str, direction: str = "right") -> None:
        for o in self.overflowing:
            o.pad(target, pad_id, pad_type_id, pad_token, direction)
        n = target - len(self.ids)
        if n <= 0:
            return
        if direction == "left":
            self.ids = [pad_id] * n + self.ids
            self.type_ids = [pad_type_id] * n + self.type_ids
            self.tokens = [pad_token] * n + self.tokens
            self.offsets = [(0, 0)] * n + self.offsets
            self.attention_mask = [0] * n + self.attention_mask
            self.special_tokens_mask = [1] * n + self.special_tokens_mask
            pad_words: list[int | None] = [None] * n
            self.word_ids = pad_words + self.word_ids
            self.sequence_ranges = {k: (s + n, e + n) for k, (s, e) in self.sequence_ranges.items()}
        else:
            self.ids += [pad_id] * n
            self.type_ids += [pad_type_id] * n
            self.tokens += [pad_token] * n
            self.offsets += [(0, 0)] * n
            self.attention_mask += [0] * n
            self.special_tokens_mask += [1] * n
            self.word_ids += [None] * n


def truncate_encodings(
    encoding: Encoding, pair: Encoding | None, max_length: int, strategy: str, stride: int, direction: str
) -> None:
    """The reference's ``truncate_encodings`` (in place): longest_first / only_first / only_second."""
    if max_length == 0:
        encoding.truncate(0, stride, direction)
        if pair is not None:
            pair.truncate(0, stride, direction)
        return
    total = len(encoding) + (len(pair) if pair is not None else 0)
    if total <= max_length:
        return
    to_remove = total - max_length
    if strategy == "longest_first":
        if pair is None:
            encoding.truncate(total - to_remove, stride, direction)
            return
        n1, n2 = len(encoding), len(pair)
        swap = n1 > n2
        if swap:
            n1, n2 = n2, n1
        n2 = n1 if n1 > max_length else max(n1, max_length - n1)
        if n1 + n2 > max_length:
            n1 = max_length // 2
            n2 = n1 + max_length % 2
        if swap:
            n1, n2 = n2, n1
        encoding.truncate(n1, stride, direction)
        pair.truncate(n2, stride, direction)
        return
    if strategy not in ("only_first", "only_second"):
        raise TruncationError(f"unknown truncation strategy {strategy!r}; use longest_first, only_first or only_second")
    target = encoding if strategy == "only_first" else pair
    if target is None:
        raise TruncationError("truncation='only_second' needs a pair of sequences")
    if len(target) <= to_remove:
        raise TruncationError(
            f"cannot truncate with {strategy}: that sequence has {len(target)} tokens but {to_remove} must go to fit "
            f"max_length={max_length}; use truncation='longest_first' or a larger max_length"
        )
    target.truncate(len(target) - to_remove, stride, direction)
