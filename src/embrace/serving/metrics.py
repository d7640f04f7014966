"""Prometheus text-format metrics (exposition format 0.0.4) without a client library: counters, gauges and
histograms with labels, safe to update from the engine thread and the HTTP workers at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels, extra: Iterable[tuple[str, str]] = ()) -> str:
    pairs = [*labels, *extra]
    if not pairs:
        return ""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, value in pairs)
    return "{" + ",".join(f'{name}="{value}"' for (name, _), value in zip(pairs, escaped)) + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self._lock = threading.Lock()

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}", *self._samples()]

    def _samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def _samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(key)} {_number(value)}" for key, value in items] or [f"{self.name} 0"]


class Gauge(_Metric):
    """A value read when metrics are scraped (``source``) or set by the code that knows it."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, source: Callable[[], float] | None = None) -> None:
        super().__init__(name, help_text)
        self.source = source
        self._value = 0.0

    def set(self, value: float) -> None:
        self._value = value

    def value(self) -> float:
        return float(self.source()) if self.source is not None else self._value

    def _samples(self) -> list[str]:
        return [f"{self.name} {_number(self.value())}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        super().__init__(name, help_text)
        self.buckets = (*sorted(buckets), float("inf"))
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        with self._lock:
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1
                    break
            self._sum += value
            self._count += 1

    @property
    def count(self) -> int:
        return self._count

    def _samples(self) -> list[str]:
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        lines, running = [], 0
        for bound, bucket_count in zip(self.buckets, counts):
            running += bucket_count
            lines.append(f"{self.name}_bucket{_labels((), [('le', _number(bound))])} {running}")
        return [*lines, f"{self.name}_sum {_number(total)}", f"{self.name}_count {count}"]


class ThroughputMeter:
    """Tokens per second over a sliding window of recent engine steps."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._events: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def add(self, now: float, tokens: int) -> None:
        with self._lock:
            self._events.append((now, tokens))
            cutoff = now - self.window_s
            while self._events and self._events[0][0] < cutoff:
                self._events.pop(0)

    def rate(self, now: float) -> float:
        with self._lock:
            recent = [(t, n) for t, n in self._events if t >= now - self.window_s]
        if not recent:
            return 0.0
        span = max(now - recent[0][0], 1e-3)
        return sum(n for _, n in recent) / span


class ServerMetrics:
    """Every metric the server exports; the engine and the routes update these."""

    def __init__(self) -> None:
        self.requests = Counter("embrace_requests_total", "HTTP API requests by endpoint and status code")
        self.prompt_tokens = Counter("embrace_prompt_tokens_total", "Prompt tokens processed (prefill)")
        self.generation_tokens = Counter("embrace_generation_tokens_total", "Tokens generated")
        self.finished = Counter("embrace_sequences_finished_total", "Generated sequences by finish reason")
        self.rejected = Counter("embrace_requests_rejected_total", "Requests refused by admission control")
        self.ttft = Histogram("embrace_time_to_first_token_seconds", "Arrival to first generated token")
        self.inter_token = Histogram("embrace_inter_token_latency_seconds", "Time between tokens of a sequence")
        self.request_latency = Histogram("embrace_request_latency_seconds", "Arrival to the last token")
        self.throughput = ThroughputMeter()
        self._gauges: list[Gauge] = []

    def gauge(self, name: str, help_text: str, source: Callable[[], float]) -> None:
        self._gauges.append(Gauge(name, help_text, source))

    def render(self) -> str:
        metrics: list[_Metric] = [self.requests, self.prompt_tokens, self.generation_tokens, self.finished,
                                  self.rejected, *self._gauges, self.ttft, self.inter_token, self.request_latency]
        return "\n".join(line for metric in metrics for line in metric.render()) + "\n"
