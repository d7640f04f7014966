"""The continuous batching engine: one background thread runs a causal LM over every running sequence at once.

Each loop iteration is one token boundary. Finished, cancelled and timed-out sequences leave (their KV slot is freed
at once), waiting sequences join while KV slots and the KV token budget allow (their prompts are prefilled together
in one right-padded forward), then every running sequence advances by one token in a single batched forward over
the :class:`~embrace.serving.slot_cache.SlotKVCache`. Results go to each request's ``emit`` callback as
:class:`StreamEvent` objects (the HTTP side turns them into JSON or server-sent events).

Per-row positions: a row's next token sits at that row's own length (its position id), and the attention mask
hides the unused tail of shorter rows, so a sequence decodes exactly as it would alone.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from embrace.errors import EmbraceError
from embrace.serving.config import ServeConfig
from embrace.serving.detokenize import IncrementalDetokenizer, StopStringFilter
from embrace.serving.metrics import ServerMetrics
from embrace.serving.sampling import SamplingParams, TokenChoice, choose_tokens
from embrace.serving.slot_cache import SlotKVCache


class EngineError(EmbraceError, RuntimeError):
    """The engine cannot take the request (stopped, or it failed)."""


class QueueFullError(EngineError):
    """Admission control: too many sequences are waiting; retry after a moment (HTTP 429)."""


class PromptTooLongError(EmbraceError, ValueError):
    """The prompt plus the requested completion does not fit the served context (HTTP 400)."""


@dataclass
class StreamEvent:
    """A piece of one choice's output. ``finish_reason`` is set on its last event ("stop", "length");
    ``error`` (with an HTTP ``status``) replaces the rest when the sequence failed or timed out."""

    index: int
    text: str = ""
    choice: TokenChoice | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    status: int = 200


Emit = Callable[[StreamEvent], None]


@dataclass(eq=False)
class Sequence:
    index: int
    prompt: list[int]
    params: SamplingParams
    emit: Emit
    detokenizer: IncrementalDetokenizer
    stops: StopStringFilter
    arrival: float
    deadline: float
    generator: torch.Generator | None = None
    generated: list[int] = field(default_factory=list)
    row: int = -1
    last_time: float = 0.0
    cancelled: bool = False
    done: bool = False

    @property
    def reserve(self) -> int:
        return len(self.prompt) + self.params.max_tokens


class RequestHandle:
    """What :meth:`ContinuousBatchingEngine.submit` returns: ``cancel()`` frees the request's KV slots."""

    def __init__(self, engine: ContinuousBatchingEngine, sequences: list[Sequence]) -> None:
        self._engine = engine
        self.sequences = sequences

    def cancel(self) -> None:
        self._engine.cancel(self.sequences)


class ContinuousBatchingEngine:
    """Serve one causal LM to many concurrent requests; ``start()`` it, ``submit()`` prompts, ``stop()`` it."""

    def __init__(self, model: Any, tokenizer: Any, config: ServeConfig | None = None,
                 metrics: ServerMetrics | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.config = config or ServeConfig()
        self.metrics = metrics or ServerMetrics()
        self.max_model_len = self._context_limit()
        self.eos_ids = self._eos_ids()
        self.cache = SlotKVCache(self.config.max_num_seqs, self.max_model_len)
        self.kv_budget = self.config.kv_cache_tokens or self.config.max_num_seqs * self.max_model_len
        self.device = next(model.parameters()).device
        self._inbox: deque[Sequence] = deque()
        self._waiting: deque[Sequence] = deque()
        self._running: list[Sequence] = []
        self._reserved = 0
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.steps = 0
        self._register_gauges()

    # ---- setup ------------------------------------------------------------------------------------------------
    def _context_limit(self) -> int:
        limit = self.config.model_len(self.model.max_positions() if hasattr(self.model, "max_positions") else 0)
        windows = [w for w in (getattr(self.model.config, "layer_sliding_window", lambda i: None)(i)
                               for i in range(getattr(self.model.config, "num_hidden_layers", 0))) if w]
        # rows of different lengths share one padded key axis; the mask is exact while no window applies
        return min([limit, *windows])

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (getattr(self.model, "generation_config", None), self.model.config, self.tokenizer):
            eos = getattr(source, "eos_token_id", None)
            if isinstance(eos, int):
                ids.add(eos)
            elif isinstance(eos, list | tuple):
                ids.update(int(e) for e in eos)
        return ids

    def _register_gauges(self) -> None:
        gauge = self.metrics.gauge
        gauge("embrace_queue_depth", "Sequences waiting for a KV slot", lambda: len(self._inbox) + len(self._waiting))
        gauge("embrace_running_sequences", "Sequences in the running batch", lambda: len(self._running))
        gauge("embrace_kv_slots_in_use", "KV cache slots (rows) held by sequences", lambda: self.cache.rows_in_use)
        gauge("embrace_kv_slots_total", "KV cache slots available", lambda: self.cache.max_rows)
        gauge("embrace_kv_tokens_in_use", "KV positions filled", self.cache.tokens_in_use)
        gauge("embrace_kv_tokens_reserved", "KV positions reserved by admitted sequences", lambda: self._reserved)
        gauge("embrace_kv_tokens_budget", "KV position budget (kv_cache_tokens)", lambda: self.kv_budget)
        gauge("embrace_kv_cache_bytes", "Bytes allocated for KV buffers", self.cache.allocated_bytes)
        gauge("embrace_generation_tokens_per_second", "Generated tokens per second (10 s window)",
              lambda: self.metrics.throughput.rate(time.monotonic()))

    # ---- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="embrace-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for seq in [*self._inbox, *self._waiting, *self._running]:
            self._fail(seq, "the server is shutting down", 503)
        self._inbox.clear()
        self._waiting.clear()
        self._running.clear()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- requests ---------------------------------------------------------------------------------------------
    def submit(self, prompts: list[list[int]], params: list[SamplingParams], emit: Emit) -> RequestHandle:
        """Queue one sequence per ``(prompt, params)`` pair (choice ``index`` = position in the lists)."""
        if not self.alive:
            raise EngineError("the generation engine is not running")
        now = time.monotonic()
        sequences = []
        for index, (prompt, p) in enumerate(zip(prompts, params)):
            self.check_fits(len(prompt), p.max_tokens)
            sequences.append(Sequence(index, list(prompt), p, emit, IncrementalDetokenizer(self.tokenizer),
                                      StopStringFilter(p.stop), now, now + self.config.request_timeout_s,
                                      p.make_generator(index)))
        with self._wake:
            if len(self._inbox) + len(self._waiting) + len(sequences) > self.config.max_queue:
                self.metrics.rejected.inc(reason="queue_full")
                raise QueueFullError(f"{len(self._inbox) + len(self._waiting)} sequences are waiting (max_queue="
                                     f"{self.config.max_queue}); retry shortly")
            self._inbox.extend(sequences)
            self._wake.notify_all()
        return RequestHandle(self, sequences)

    def check_fits(self, prompt_tokens: int, max_tokens: int) -> None:
        """Raise :class:`PromptTooLongError` unless the prompt and ``max_tokens`` fit a slot and the budget."""
        if prompt_tokens < 1:
            raise PromptTooLongError("the prompt is empty: send at least one token")
        total = prompt_tokens + max_tokens
        if total > self.max_model_len:
            raise PromptTooLongError(
                f"this model's maximum context length is {self.max_model_len} tokens; you requested {total} "
                f"({prompt_tokens} in the prompt, {max_tokens} for the completion). Shorten the prompt or lower "
                "max_tokens.")
        if total > self.kv_budget:
            raise PromptTooLongError(f"the request needs {total} KV positions but the server's budget is "
                                     f"{self.kv_budget} (kv_cache_tokens); lower max_tokens")

    def cancel(self, sequences: list[Sequence]) -> None:
        with self._wake:
            for seq in sequences:
                seq.cancelled = True
            self._wake.notify_all()

    # ---- the loop ---------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        while True:
            with self._wake:
                while not self._stopping and not (self._inbox or self._waiting or self._running):
                    self._wake.wait(timeout=1.0)
                if self._stopping:
                    return
                self._waiting.extend(self._inbox)
                self._inbox.clear()
            try:
                with torch.inference_mode():
                    self._step()
            except Exception as exc:  # a failed forward must not take the server down: fail the batch, go on
                for seq in [*self._running]:
                    self._fail(seq, f"generation failed: {type(exc).__name__}: {exc}", 500)
                self._running.clear()
                self._reserved = 0
                self.cache.lengths.clear()
                self.cache.release()

    def _step(self) -> None:
        now = time.monotonic()
        self._expire(now)
        joined = self._admit()
        if joined:
            self._prefill(joined)
        self._leave()
        if self._running:
            self._decode()
            self._leave()
        self.steps += 1

    def _expire(self, now: float) -> None:
        for seq in [*self._waiting, *self._running]:
            if seq.cancelled:
                seq.done = True
                self.metrics.finished.inc(reason="cancelled")
            elif now > seq.deadline:
                self._fail(seq, f"the request timed out after {self.config.request_timeout_s:g} s", 504)
        self._waiting = deque(s for s in self._waiting if not s.done)
        self._leave()

    def _admit(self) -> list[Sequence]:
        joined: list[Sequence] = []
        prefill_tokens = 0
        while self._waiting and self.cache.rows_in_use < self.cache.max_rows:
            seq = self._waiting[0]
            if self._reserved + seq.reserve > self.kv_budget:
                break
            if joined and prefill_tokens + len(seq.prompt) > self.config.max_prefill_tokens:
                break
            self._waiting.popleft()
            seq.row = self.cache.allocate_row()
            self._running.append(seq)
            self._reserved += seq.reserve
            prefill_tokens += len(seq.prompt)
            joined.append(seq)
        return joined

    def _leave(self) -> None:
        """Free the rows of finished sequences (highest row first, so each move takes a live row)."""
        for seq in sorted((s for s in self._running if s.done), key=lambda s: -s.row):
            moved = self.cache.free_row(seq.row)
            last = self._running.pop()
            if moved is not None:
                self._running[seq.row] = last
                last.row = seq.row
            self._reserved -= seq.reserve

    # ---- forwards ---------------------------------------------------------------------------------------------
    def _prefill(self, joined: list[Sequence]) -> None:
        lengths = [len(s.prompt) for s in joined]
        longest = max(lengths)
        ids = torch.zeros(len(joined), longest, dtype=torch.long)
        for i, seq in enumerate(joined):
            ids[i, :lengths[i]] = torch.tensor(seq.prompt)
        mask = None
        if min(lengths) != longest:
            mask = (torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None]).long().to(self.device)
        positions = torch.arange(longest, device=self.device)[None, :].expand(len(joined), -1)
        self.cache.begin_step(joined[0].row, joined[-1].row + 1, longest)
        body = getattr(self.model, self.model.base_model_prefix)
        hidden = body(input_ids=ids.to(self.device), attention_mask=mask, position_ids=positions,
                      past_key_values=self.cache, use_cache=True).last_hidden_state
        last = hidden[torch.arange(len(joined), device=self.device), torch.tensor(lengths, device=self.device) - 1]
        logits = self.model.get_output_embeddings()(last).float()
        for seq, length in zip(joined, lengths):
            self.cache.set_length(seq.row, length)
        self.metrics.prompt_tokens.inc(sum(lengths))
        self._take_tokens(joined, logits)

    def _decode(self) -> None:
        running = self._running
        ids = torch.tensor([[s.generated[-1]] for s in running], device=self.device)
        positions = torch.tensor(self.cache.lengths, device=self.device)[:, None]
        self.cache.begin_step(0, len(running), 1)
        mask = self.cache.attention_mask(self.device)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=self.cache,
                         use_cache=True, logits_to_keep=1)
        for seq in running:
            self.cache.set_length(seq.row, self.cache.lengths[seq.row] + 1)
        self._take_tokens(running, out.logits[:, -1].float())

    def _take_tokens(self, sequences: list[Sequence], logits: torch.Tensor) -> None:
        choices = choose_tokens(logits, [s.params for s in sequences], [s.generator for s in sequences])
        now = time.monotonic()
        self.metrics.generation_tokens.inc(len(sequences))
        self.metrics.throughput.add(now, len(sequences))
        for seq, choice in zip(sequences, choices):
            self._advance(seq, choice, now)

    def _advance(self, seq: Sequence, choice: TokenChoice, now: float) -> None:
        seq.generated.append(choice.token)
        timing = self.metrics.inter_token if seq.last_time else self.metrics.ttft
        timing.observe(now - (seq.last_time or seq.arrival))
        seq.last_time = now
        finish = None
        if choice.token in self.eos_ids and not seq.params.ignore_eos:
            finish = "stop"
            text = seq.stops.feed(seq.detokenizer.flush())
        else:
            text = seq.stops.feed(seq.detokenizer.add(choice.token))
        if seq.stops.stopped:
            finish = "stop"
        elif finish is None and len(seq.generated) >= seq.params.max_tokens:
            finish = "length"
            text += seq.stops.feed(seq.detokenizer.flush())
        if finish is not None:
            text += seq.stops.finish()
            seq.done = True
            self.metrics.finished.inc(reason=finish)
            self.metrics.request_latency.observe(now - seq.arrival)
        if text or finish or choice.logprob is not None:
            self._send(seq, StreamEvent(seq.index, text, choice if seq.params.logprobs else None, finish,
                                        len(seq.prompt), len(seq.generated)))

    def _fail(self, seq: Sequence, message: str, status: int) -> None:
        if seq.done:
            return
        seq.done = True
        self.metrics.finished.inc(reason="error" if status != 504 else "timeout")
        self._send(seq, StreamEvent(seq.index, error=message, status=status, prompt_tokens=len(seq.prompt),
                                    completion_tokens=len(seq.generated)))

    def _send(self, seq: Sequence, event: StreamEvent) -> None:
        try:
            seq.emit(event)
        except Exception:  # the receiver is gone (event loop closed): nobody will read the rest
            seq.cancelled = True
            seq.done = True
