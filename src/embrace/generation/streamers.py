"""Streaming text out of ``generate()``: :class:`TextStreamer` (prints), :class:`TextIteratorStreamer`
(a thread-safe iterator), and :func:`stream_text`, a plain generator of text pieces.

All three decode the whole token list so far and emit only the new, stable part: text is held back while it
ends in U+FFFD (a multi-byte character whose bytes are not all generated yet) and, as in the reference, until
a word boundary, so a piece never splits a character or a word that later tokens would still change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any

import torch


class BaseStreamer:
    """What ``generate(streamer=...)`` calls: ``put(tokens)`` with the prompt then each new token, ``end()``."""

    def put(self, value: torch.Tensor) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError


class TextStreamer(BaseStreamer):
    """Decode tokens as they come and hand finished text to :meth:`on_finalized_text` (prints by default).

    ``skip_prompt=True`` leaves the prompt out; ``decode_kwargs`` go to ``tokenizer.decode``
    (e.g. ``skip_special_tokens=True``).
    """

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, **decode_kwargs: Any) -> None:
        self.tokenizer = tokenizer
        self.skip_prompt = skip_prompt
        self.decode_kwargs = decode_kwargs
        self.token_cache: list[int] = []
        self.print_len = 0
        self.next_tokens_are_prompt = True

    def put(self, value: torch.Tensor) -> None:
        if value.dim() > 1 and value.shape[0] > 1:
            raise ValueError("TextStreamer only supports batch size 1")
        if value.dim() > 1:
            value = value[0]
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.next_tokens_are_prompt = False
        self.token_cache.extend(int(t) for t in value.tolist())
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        if text.endswith("\ufffd"):
            return  # an incomplete multi-byte character: wait for its remaining bytes
        if text.endswith("\n"):
            piece = text[self.print_len:]
            self.token_cache, self.print_len = [], 0
        elif text and _is_cjk(text[-1]):
            piece = text[self.print_len:]
            self.print_len += len(piece)
        else:
            stable = text.rfind(" ") + 1
            piece = text[self.print_len:stable] if stable > self.print_len else ""
            self.print_len += len(piece)
        self.on_finalized_text(piece)

    def end(self) -> None:
        if self.token_cache:
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            piece = text[self.print_len:]
            self.token_cache, self.print_len = [], 0
        else:
            piece = ""
        self.next_tokens_are_prompt = True
        self.on_finalized_text(piece, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        print(text, flush=True, end="" if not stream_end else None)


def _is_cjk(char: str) -> bool:
    cp = ord(char)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


class TextIteratorStreamer(TextStreamer):
    """Iterate over text pieces while ``generate`` runs in another thread; ``timeout`` (seconds) bounds each wait
    and raises :class:`queue.Empty` when exceeded."""

    def __init__(self, tokenizer: Any, skip_prompt: bool = False, timeout: float | None = None,
                 **decode_kwargs: Any) -> None:
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: Queue[str | None] = Queue()
        self.timeout = timeout

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        if text:
            self.text_queue.put(text)
        if stream_end:
            self.text_queue.put(None)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        value = self.text_queue.get(timeout=self.timeout)
        if value is None:
            raise StopIteration
        return value


def stream_text(model: Any, tokenizer: Any, input_ids: torch.Tensor, *, skip_prompt: bool = True,
                skip_special_tokens: bool = True, **generate_kwargs: Any) -> Iterator[str]:
    """Yield text pieces as ``model.generate(input_ids, **generate_kwargs)`` produces them (batch 1).

    Errors raised by generation are re-raised here. Pieces concatenate to the decoded continuation.
    """
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=skip_prompt, skip_special_tokens=skip_special_tokens)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            model.generate(input_ids, streamer=streamer, **generate_kwargs)
        except BaseException as exc:  # surfaced to the consumer below
            failure.append(exc)
            streamer.text_queue.put(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield from streamer
    except Empty:
        raise
    finally:
        thread.join()
    if failure:
        raise failure[0]
