"""Settings of ``embrace serve``: batching and KV memory limits, admission control, and HTTP limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServeConfig:
    """Engine and HTTP settings (each is a ``embrace serve`` option of the same name with dashes).

    ``max_num_seqs``: sequences decoded together (KV slots). ``max_model_len``: positions one sequence may
    reach (prompt + completion); default the model's context, capped at 2048. ``kv_cache_tokens``: KV budget in
    positions over all running sequences (default ``max_num_seqs * max_model_len``); a sequence reserves
    ``prompt + max_tokens`` when it is admitted, and buffers grow only as far as sequences actually reach.
    ``max_queue``: requests waiting for a slot before new ones get 429. ``max_prefill_tokens``: prompt tokens
    prefilled per engine step (bounds the pause running streams see when requests join). ``threads``: torch
    intra-op threads for the process (None: torch's default; 1 is often faster on a busy or small CPU).
    """

    max_num_seqs: int = 32
    max_model_len: int | None = None
    kv_cache_tokens: int | None = None
    max_queue: int = 256
    max_prefill_tokens: int = 4096
    request_timeout_s: float = 600.0
    max_request_bytes: int = 4 * 1024 * 1024
    api_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    retry_after_s: int = 1
    model_len_cap: int = 2048
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_num_seqs", "kv_cache_tokens", "max_queue", "max_prefill_tokens", "max_request_bytes",
                     "max_model_len", "threads"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be > 0, got {self.request_timeout_s}")

    def model_len(self, model_context: int) -> int:
        """Positions one sequence may use for a model whose context is ``model_context`` (0 = unknown)."""
        if self.max_model_len is not None:
            return min(self.max_model_len, model_context) if model_context else self.max_model_len
        return min(model_context, self.model_len_cap) if model_context else self.model_len_cap
