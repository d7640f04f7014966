"""The OpenAI-compatible routes: ``/v1/chat/completions``, ``/v1/completions`` (JSON or server-sent events),
``/v1/embeddings`` and ``/v1/models``.

Generation requests go to the model's :class:`~embrace.serving.engine.ContinuousBatchingEngine`; each choice (``n``,
or one per prompt) is a sequence in the running batch. The engine thread hands events to the event loop through
:class:`EventStream`; a client that goes away cancels its sequences, which frees their KV slots at the next token.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from embrace.serving.engine import EngineError, PromptTooLongError, QueueFullError, RequestHandle, StreamEvent
from embrace.serving.protocol import (
    ApiError,
    field_of,
    new_id,
    now_s,
    parse_json_body,
    sampling_params,
    sse,
    usage,
)
from embrace.serving.registry import ChatModel, ModelRegistry
from embrace.serving.sampling import SamplingParams

KEEPALIVE_S = 5.0
DISCONNECT_CHECK_S = 1.0
MAX_EMBEDDING_INPUTS = 2048


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The JSON object body, refusing bodies over ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body is {declared} bytes; the limit is {limit}", code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body exceeds the limit of {limit} bytes", code="request_too_large")
        chunks.append(chunk)
    return parse_json_body(b"".join(chunks), limit)


class EventStream:
    """Receives engine events (from the engine thread) into an asyncio queue on the server's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[StreamEvent] = asyncio.Queue()

    def emit(self, event: StreamEvent) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)

    async def events(self, request: Request, count: int) -> AsyncIterator[StreamEvent | None]:
        """Events until ``count`` sequences finished; None every few idle seconds (a chance to check the client)."""
        finished = 0
        while finished < count:
            try:
                event = await asyncio.wait_for(self.queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield None
                continue
            if event.finish_reason is not None or event.error is not None:
                finished += 1
            yield event


def submit(served: ChatModel, prompts: list[list[int]], params: SamplingParams, n: int,
           stream: EventStream, retry_after: int) -> RequestHandle:
    expanded = [prompt for prompt in prompts for _ in range(n)]
    try:
        return served.engine.submit(expanded, [params] * len(expanded), stream.emit)
    except QueueFullError as exc:
        raise ApiError(429, str(exc), kind="rate_limit_error", code="queue_full",
                       headers={"Retry-After": str(retry_after)}) from None
    except PromptTooLongError as exc:
        raise ApiError(400, str(exc), param="messages", code="context_length_exceeded") from None
    except EngineError as exc:
        raise ApiError(503, str(exc), kind="server_error", code="engine_unavailable") from None


def token_text(tokenizer: Any, token: int) -> str:
    return str(tokenizer.decode([token]))


def chat_logprob_entries(tokenizer: Any, event: StreamEvent) -> list[dict[str, Any]]:
    if event.choice is None or event.choice.logprob is None:
        return []

    def entry(token: int, logprob: float) -> dict[str, Any]:
        text = token_text(tokenizer, token)
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    top = [entry(t, lp) for t, lp in event.choice.top]
    return [entry(event.choice.token, event.choice.logprob) | {"top_logprobs": top}]


class CompletionLogprobs:
    """The legacy completions ``logprobs`` object, built token by token."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.token_logprobs: list[float] = []
        self.top_logprobs: list[dict[str, float]] = []
        self.text_offset: list[int] = []

    def add(self, tokenizer: Any, event: StreamEvent, offset: int) -> None:
        if event.choice is None or event.choice.logprob is None:
            return
        self.tokens.append(token_text(tokenizer, event.choice.token))
        self.token_logprobs.append(event.choice.logprob)
        self.top_logprobs.append({token_text(tokenizer, t): lp for t, lp in event.choice.top})
        self.text_offset.append(offset)

    def as_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "token_logprobs": self.token_logprobs, "top_logprobs": self.top_logprobs,
                "text_offset": self.text_offset}


# ---- request parsing --------------------------------------------------------------------------------------------
def chat_prompt(served: ChatModel, body: dict[str, Any]) -> list[int]:
    messages = field_of(body, "messages", list, required=True)
    if not messages:
        raise ApiError(400, "'messages' must be a non-empty list", param="messages", code="invalid_value")
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ApiError(400, f"messages[{i}] must be an object with a 'role' string", param=f"messages[{i}]",
                           code="invalid_value")
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            if len(texts) != len(content) or not all(isinstance(t, str) for t in texts):
                raise ApiError(400, f"messages[{i}].content: only text parts are supported",
                               param=f"messages[{i}].content", code="invalid_value")
            content = "".join(t for t in texts if t is not None)
        if content is not None and not isinstance(content, str):
            raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts",
                           param=f"messages[{i}].content", code="invalid_value")
        clean.append({**message, "content": content or ""})
    if not served.has_chat_template:
        raise ApiError(400, f"the model '{served.id}' has no chat template; use /v1/completions",
                       param="model", code="model_not_supported")
    from jinja2 import TemplateError

    try:
        text = served.tokenizer.apply_chat_template(clean, add_generation_prompt=True, tokenize=False)
    except (TemplateError, ValueError, TypeError, KeyError) as exc:  # ChatTemplateError is a ValueError
        raise ApiError(400, f"the messages cannot be formatted with the model's chat template: {exc}",
                       param="messages", code="invalid_value") from None
    return [int(i) for i in served.tokenizer(text, add_special_tokens=False)["input_ids"]]


def completion_prompts(served: ChatModel, body: dict[str, Any]) -> list[list[int]]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        prompts: list[Any] = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str | list) for p in prompt):
        prompts = prompt
    else:
        raise ApiError(400, "'prompt' must be a string, a list of strings, a list of token ids or a list of such "
                            "lists", param="prompt", code="invalid_value")
    vocab = int(getattr(served.model.config, "vocab_size", 0) or 0)
    out = []
    for p in prompts:
        if isinstance(p, str):
            out.append([int(i) for i in served.tokenizer(p)["input_ids"]])
        elif p and all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < (vocab or t + 1) for t in p):
            out.append(list(p))
        else:
            raise ApiError(400, "token-id prompts must be non-empty lists of ids inside the vocabulary",
                           param="prompt", code="invalid_value")
    return out


def reject_unsupported(body: dict[str, Any], chat: bool) -> None:
    """Refuse fields whose meaning this server does not implement, rather than silently ignoring them."""
    if chat:
        unsupported = [name for name in ("tools", "functions") if body.get(name)]
        if (body.get("response_format") or {"type": "text"}) != {"type": "text"}:
            unsupported.append("response_format")
    else:
        unsupported = [name for name in ("suffix", "echo") if body.get(name)]
        if body.get("best_of") not in (None, 1, body.get("n", 1)):
            unsupported.append("best_of")
    if unsupported:
        raise ApiError(400, f"'{unsupported[0]}' is not supported by this server", param=unsupported[0],
                       code="unsupported_parameter")


def stream_options(body: dict[str, Any]) -> bool:
    options = field_of(body, "stream_options", dict, {})
    return bool(options.get("include_usage", False))


# ---- responses --------------------------------------------------------------------------------------------------
async def collect(request: Request, stream: EventStream, count: int, handle: RequestHandle
                  ) -> list[list[StreamEvent]]:
    """Every choice's events once all ``count`` finished (non-streaming); cancel them if the client leaves."""
    events: list[list[StreamEvent]] = [[] for _ in range(count)]
    loop = asyncio.get_running_loop()
    checked = loop.time()
    try:
        async for event in stream.events(request, count):
            if loop.time() - checked >= DISCONNECT_CHECK_S:   # tokens keep coming: look at the client now and then
                checked = loop.time()
                if await request.is_disconnected():
                    handle.cancel()
                    break
            if event is None:
                continue
            if event.error is not None:
                handle.cancel()
                raise ApiError(event.status, event.error, kind="server_error" if event.status >= 500 else
                               "invalid_request_error", code="timeout" if event.status == 504 else None)
            events[event.index].append(event)
    except asyncio.CancelledError:
        handle.cancel()
        raise
    return events


def finished_choice(events: list[StreamEvent]) -> tuple[str, str | None, int]:
    """``(text, finish_reason, completion tokens)`` of one choice's events."""
    text = "".join(e.text for e in events)
    return (text, events[-1].finish_reason, events[-1].completion_tokens) if events else (text, None, 0)


def sse_response(chunks: AsyncIterator[bytes], handle: RequestHandle) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
            yield b"data: [DONE]\n\n"
        finally:  # normal end, client disconnect (cancellation) or error: free whatever still runs
            handle.cancel()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def error_chunk(event: StreamEvent) -> bytes:
    return sse({"error": {"message": event.error, "type": "server_error", "param": None,
                          "code": "timeout" if event.status == 504 else None}})


def chunk_writer(rid: str, kind: str, created: int, model: str) -> Callable[..., bytes]:
    """``write(choices, **extra)`` -> one SSE event of a ``kind`` ("chat.completion.chunk", "text_completion")."""

    def write(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return sse({"id": rid, "object": kind, "created": created, "model": model, "system_fingerprint": None,
                    "choices": choices, **extra})

    return write


async def stream_choices(request: Request, stream: EventStream, count: int, write: Callable[..., bytes],
                         render: Callable[[StreamEvent], dict[str, Any]], prompt_tokens: int,
                         include_usage: bool) -> AsyncIterator[bytes]:
    """SSE events for ``count`` choices: one per engine event (``render`` makes its choice object), comments
    while idle, an error event if a sequence fails, and the usage chunk when asked for."""
    completion_tokens = 0
    async for event in stream.events(request, count):
        if event is None:
            yield b": keep-alive\n\n"
            continue
        if event.error is not None:
            yield error_chunk(event)
            return
        yield write([render(event)])
        if event.finish_reason is not None:
            completion_tokens += event.completion_tokens
    if include_usage:
        yield write([], usage=usage(prompt_tokens, completion_tokens))


def build_router(registry: ModelRegistry) -> APIRouter:
    router = APIRouter()
    config = registry.config

    @router.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card(name) for name in registry.model_ids()]}

    @router.get("/v1/models/{name:path}")
    async def get_model(name: str) -> dict[str, Any]:
        if name not in registry.model_ids():
            raise ApiError(404, f"The model '{name}' does not exist", param="model", code="model_not_found")
        return model_card(name)

    @router.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Response | dict[str, Any]:
        body = await read_json(request, config.max_request_bytes)
        served = registry.chat_model(body.get("model"))
        reject_unsupported(body, chat=True)
        prompt = chat_prompt(served, body)
        params, n = sampling_params(body, served.engine.max_model_len - len(prompt), chat=True)
        streaming, include_usage = field_of(body, "stream", bool, False), stream_options(body)
        stream = EventStream()
        handle = submit(served, [prompt], params, n, stream, config.retry_after_s)
        rid, created, tokenizer = new_id("chatcmpl"), now_s(), served.tokenizer
        if streaming:
            write = chunk_writer(rid, "chat.completion.chunk", created, served.id)

            def render(event: StreamEvent) -> dict[str, Any]:
                entries = chat_logprob_entries(tokenizer, event)
                return {"index": event.index, "delta": {"content": event.text} if event.text else {},
                        "logprobs": {"content": entries} if entries else None, "finish_reason": event.finish_reason}

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(n):
                    yield write([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                  "finish_reason": None}])
                async for piece in stream_choices(request, stream, n, write, render, len(prompt), include_usage):
                    yield piece

            return sse_response(chunks(), handle)

        choices, total = [], 0
        for i, events in enumerate(await collect(request, stream, n, handle)):
            text, finish, tokens = finished_choice(events)
            entries = [entry for e in events for entry in chat_logprob_entries(tokenizer, e)]
            choices.append({"index": i, "message": {"role": "assistant", "content": text},
                            "logprobs": {"content": entries} if params.logprobs else None, "finish_reason": finish})
            total += tokens
        return {"id": rid, "object": "chat.completion", "created": created, "model": served.id,
                "system_fingerprint": None, "choices": choices, "usage": usage(len(prompt), total)}

    @router.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Response | dict[str, Any]:
        body = await read_json(request, config.max_request_bytes)
        served = registry.chat_model(body.get("model"))
        reject_unsupported(body, chat=False)
        prompts = completion_prompts(served, body)
        params, n = sampling_params(body, 16, chat=False)
        streaming, include_usage = field_of(body, "stream", bool, False), stream_options(body)
        stream = EventStream()
        handle = submit(served, prompts, params, n, stream, config.retry_after_s)
        rid, created, tokenizer = new_id("cmpl"), now_s(), served.tokenizer
        count = len(prompts) * n
        prompt_tokens = sum(len(p) for p in prompts)   # counted once per prompt, whatever n (as OpenAI)

        if streaming:
            offsets = [0] * count

            def render(event: StreamEvent) -> dict[str, Any]:
                logprobs = None
                if params.logprobs:
                    piece = CompletionLogprobs()
                    piece.add(tokenizer, event, offsets[event.index])
                    logprobs = piece.as_dict()
                offsets[event.index] += len(event.text)
                return {"index": event.index, "text": event.text, "logprobs": logprobs,
                        "finish_reason": event.finish_reason}

            write = chunk_writer(rid, "text_completion", created, served.id)
            return sse_response(stream_choices(request, stream, count, write, render, prompt_tokens, include_usage),
                                handle)

        choices, total = [], 0
        for i, events in enumerate(await collect(request, stream, count, handle)):
            text, finish, tokens = finished_choice(events)
            logprobs, offset = CompletionLogprobs(), 0
            for event in events:
                logprobs.add(tokenizer, event, offset)
                offset += len(event.text)
            choices.append({"index": i, "text": text, "logprobs": logprobs.as_dict() if params.logprobs else None,
                            "finish_reason": finish})
            total += tokens
        return {"id": rid, "object": "text_completion", "created": created, "model": served.id,
                "system_fingerprint": None, "choices": choices, "usage": usage(prompt_tokens, total)}

    @router.post("/v1/embeddings")
    async def embeddings(request: Request) -> dict[str, Any]:
        body = await read_json(request, config.max_request_bytes)
        served = registry.embedding_model(body.get("model"))
        inputs = embedding_inputs(body)
        encoding = field_of(body, "encoding_format", str, "float")
        if encoding not in ("float", "base64"):
            raise ApiError(400, "'encoding_format' must be 'float' or 'base64'", param="encoding_format",
                           code="invalid_value")
        dimensions = field_of(body, "dimensions", int)
        vectors, tokens = await run_in_threadpool(embed, served.embedder, served.lock, inputs)
        if dimensions is not None:
            if not 1 <= dimensions <= vectors.shape[1]:
                raise ApiError(400, f"'dimensions' must be between 1 and {vectors.shape[1]}", param="dimensions",
                               code="invalid_value")
            import torch

            vectors = torch.nn.functional.normalize(vectors[:, :dimensions], dim=1)
        data = []
        for i, vector in enumerate(vectors):
            values: Any = vector.tolist() if encoding == "float" else \
                base64.b64encode(vector.float().numpy().astype("<f4").tobytes()).decode("ascii")
            data.append({"object": "embedding", "index": i, "embedding": values})
        return {"object": "list", "data": data, "model": served.id,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    return router


def model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "embrace"}


def embedding_inputs(body: dict[str, Any]) -> list[str] | list[list[int]]:
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        return [value]
    if isinstance(value, list) and value and len(value) <= MAX_EMBEDDING_INPUTS:
        if all(isinstance(v, str) for v in value):
            return value
        if all(isinstance(v, list) and v and all(isinstance(t, int) and not isinstance(t, bool) for t in v)
               for v in value):
            return value
    raise ApiError(400, f"'input' must be a string, a list of up to {MAX_EMBEDDING_INPUTS} strings, or token ids",
                   param="input", code="invalid_value")


def embed(embedder: Any, lock: Any, inputs: list[str] | list[list[int]]) -> tuple[Any, int]:
    """Sentence vectors (n, dim) and the token count, for texts or token-id lists."""
    import torch

    tokenizer = embedder.tokenizer
    max_length = embedder.spec.max_seq_length or getattr(tokenizer, "model_max_length", 512)
    if isinstance(inputs[0], str):
        encoded = tokenizer(inputs, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        batch = dict(encoded)
    else:
        vocab = int(embedder.model.config.vocab_size)
        if any(len(ids) > max_length or not all(0 <= t < vocab for t in ids) for ids in inputs):
            raise ApiError(400, f"token-id inputs must hold at most {max_length} ids inside the vocabulary",
                           param="input", code="invalid_value")
        longest = max(len(ids) for ids in inputs)
        pad = tokenizer.pad_token_id or 0
        batch = {"input_ids": torch.tensor([list(ids) + [pad] * (longest - len(ids)) for ids in inputs]),
                 "attention_mask": torch.tensor([[1] * len(ids) + [0] * (longest - len(ids)) for ids in inputs])}
    device = next(embedder.model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    with lock:
        vectors = embedder.embed_inputs(batch).float().cpu()
    return vectors, int(batch["attention_mask"].sum())
