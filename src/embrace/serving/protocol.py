"""The OpenAI wire format: errors, reading and checking request bodies, and building response objects."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from embrace.errors import EmbraceError
from embrace.serving.sampling import SamplingParams

MAX_N = 16
MAX_TOP_LOGPROBS = 20
MAX_STOPS = 4


class ApiError(EmbraceError):
    """An error answered in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def parse_json_body(raw: bytes, limit: int) -> dict[str, Any]:
    if len(raw) > limit:
        raise ApiError(413, f"the request body is {len(raw)} bytes; the limit is {limit}", code="request_too_large")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    return body


def field_of(body: dict[str, Any], name: str, kinds: type | tuple[type, ...], default: Any = None, *,
             required: bool = False) -> Any:
    """``body[name]`` checked against ``kinds`` (None counts as absent); booleans are never numbers."""
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"'{name}' is required", param=name, code="missing_required_parameter")
        return default
    numeric = kinds in (int, float) or (isinstance(kinds, tuple) and set(kinds) <= {int, float})
    if not isinstance(value, kinds) or (numeric and isinstance(value, bool)):
        expected = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
        raise ApiError(400, f"'{name}' must be of type {expected}, got {type(value).__name__}", param=name,
                       code="invalid_type")
    return value


def _in_range(body: dict[str, Any], name: str, value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be between {low:g} and {high:g}, got {value}", param=name,
                       code="invalid_value")
    return value


def sampling_params(body: dict[str, Any], default_max_tokens: int, *, chat: bool) -> tuple[SamplingParams, int]:
    """The request's decoding settings and ``n``."""
    max_tokens = field_of(body, "max_completion_tokens", int) if chat else None
    if max_tokens is None:
        max_tokens = field_of(body, "max_tokens", int, default_max_tokens)
    if max_tokens < 1:
        raise ApiError(400, f"'max_tokens' must be at least 1, got {max_tokens}", param="max_tokens",
                       code="invalid_value")
    temperature = float(_in_range(body, "temperature", field_of(body, "temperature", (int, float), 1.0), 0, 2))
    top_p = float(_in_range(body, "top_p", field_of(body, "top_p", (int, float), 1.0), 0, 1))
    n = int(_in_range(body, "n", field_of(body, "n", int, 1), 1, MAX_N))
    stop = field_of(body, "stop", (str, list), [])
    stops = [stop] if isinstance(stop, str) else stop
    if len(stops) > MAX_STOPS or not all(isinstance(s, str) for s in stops):
        raise ApiError(400, f"'stop' must be a string or a list of at most {MAX_STOPS} strings", param="stop",
                       code="invalid_value")
    if chat:
        want_logprobs = bool(field_of(body, "logprobs", bool, False))
        top = field_of(body, "top_logprobs", int, 0)
        if top and not want_logprobs:
            raise ApiError(400, "'top_logprobs' needs 'logprobs': true", param="top_logprobs", code="invalid_value")
    else:
        top = field_of(body, "logprobs", int)
        want_logprobs = top is not None
        top = top or 0
    _in_range(body, "top_logprobs" if chat else "logprobs", top, 0, MAX_TOP_LOGPROBS)
    seed = field_of(body, "seed", int)
    params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed,
                            stop=tuple(stops), logprobs=want_logprobs, top_logprobs=int(top),
                            ignore_eos=bool(field_of(body, "ignore_eos", bool, False)))
    return params, n


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now_s() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n".encode()
