"""Turning a growing list of token ids into text pieces, and cutting the text at stop strings.

:class:`IncrementalDetokenizer` decodes only a short window of recent tokens per step (so a long answer does not
cost quadratic decoding) and holds text back while it ends in an incomplete UTF-8 character (U+FFFD).
:class:`StopStringFilter` finds the first stop string and holds back a tail that could still become one, so a
stream never shows text that the final answer does not contain.
"""

from __future__ import annotations

from typing import Any


class IncrementalDetokenizer:
    """``add(token) -> new text``. The pieces join to ``tokenizer.decode(ids, skip_special_tokens=True)`` of the
    generated ids alone (what in-process ``generate`` + ``decode`` gives)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def add(self, token: int) -> str:
        self.ids.append(token)
        before = self._decode(self.ids[self.prefix_offset:self.read_offset])
        after = self._decode(self.ids[self.prefix_offset:])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
            return after[len(before):]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character at the very end decodes as U+FFFD)."""
        before = self._decode(self.ids[self.prefix_offset:self.read_offset])
        after = self._decode(self.ids[self.prefix_offset:])
        self.prefix_offset = self.read_offset = len(self.ids)
        return after[len(before):] if after.startswith(before) else ""


class StopStringFilter:
    """Feed text pieces; get back the text that is safe to send and whether a stop string was reached."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.text = ""       # everything produced (cut at the stop string once one is found)
        self.sent = 0        # characters of ``text`` already handed out
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        search_from = max(0, len(self.text) - max((len(s) for s in self.stops), default=0))
        self.text += piece
        if self.stops:
            hits = [i for i in (self.text.find(s, search_from) for s in self.stops) if i >= 0]
            if hits:
                self.text = self.text[:min(hits)]
                self.stopped = True
                return self._release(len(self.text))
            return self._release(len(self.text) - self._partial_stop_length())
        return self._release(len(self.text))

    def finish(self) -> str:
        """The held-back tail, at the end of the sequence."""
        return self._release(len(self.text))

    def _partial_stop_length(self) -> int:
        """Length of the longest end of ``text`` that is the start of a stop string."""
        best = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.text)), best, -1):
                if self.text.endswith(stop[:size]):
                    best = size
                    break
        return best

    def _release(self, upto: int) -> str:
        upto = max(upto, self.sent)
        piece = self.text[self.sent:upto]
        self.sent = upto
        return piece
