"""The web app of an :class:`~embrace.ui.Interface` (FastAPI + uvicorn, like ``embrace serve``).

Routes: ``GET /`` the page, ``GET /api/config`` what it is drawn from, ``POST /api/predict``
(``{"data": [...]}`` -> ``{"data": [...], "duration": s}``), ``POST /api/stream`` (the same request answered as
Server-Sent Events: ``{"data": [...]}`` after each step of a generator function, then ``{"done": true}``),
``GET /health`` and ``/static/*``. Errors are ``{"error": message}`` with 400 (not JSON), 413 (too large),
422 (an input does not fit its component) or 500 (the function raised); in a stream that has started, an error
arrives as an event ``{"error": message, "status": code}``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embrace.ui.errors import InputValidationError, require_web_stack

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import Request
    from starlette.responses import Response

    from embrace.ui.interface import Interface

logger = logging.getLogger("embrace.ui")
STATIC_DIR = Path(__file__).parent / "static"
MAX_BODY_BYTES = 16 * 1024 * 1024
_FINISHED = object()


def _error(status: int, message: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def _failure(exc: Exception, data: Any) -> tuple[int, str]:
    """The HTTP status and message for an exception raised while running the interface."""
    if isinstance(exc, InputValidationError):
        return 422, str(exc)
    logger.exception("the interface function failed on %r", data)
    return 500, f"{type(exc).__name__}: {exc}"


async def _read_data(request: Request) -> Any:
    """The ``data`` list of a ``{"data": [...]}`` request body, or the error response for a bad body."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"request body is {len(body)} bytes, the limit is {MAX_BODY_BYTES}")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return _error(400, f'request body is not valid JSON ({exc}); send {{"data": [...]}}')
    if not isinstance(payload, dict) or "data" not in payload:
        return _error(422, 'request body must be a JSON object {"data": [one value per input]}')
    return payload["data"]


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def create_app(interface: Interface) -> FastAPI:
    """The FastAPI app serving ``interface``."""
    require_web_stack()
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

    from embrace.ui.page import render_page

    app = FastAPI(title=interface.title or "embrace Interface", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # plain Starlette routes: the handlers take the request as it is (no FastAPI parameter inference)
    async def page(request: Request) -> Response:
        return HTMLResponse(render_page(interface))

    async def config(request: Request) -> Response:
        return JSONResponse(interface.config())

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def predict(request: Request) -> Response:
        data = await _read_data(request)
        if isinstance(data, Response):
            return data
        started = time.perf_counter()
        try:
            outputs = await run_in_threadpool(interface.predict, data)
        except Exception as exc:  # the user's function failed: report it, keep serving
            return _error(*_failure(exc, data))
        return JSONResponse({"data": outputs, "duration": time.perf_counter() - started})

    async def stream(request: Request) -> Response:
        data = await _read_data(request)
        if isinstance(data, Response):
            return data
        try:
            interface.preprocess(data)  # bad inputs get a plain 422 before the stream starts
        except InputValidationError as exc:
            return _error(422, str(exc))
        steps: Generator[list[Any], None, None] = interface.stream(data)

        async def events() -> AsyncIterator[bytes]:
            started = time.perf_counter()
            try:
                while not await request.is_disconnected():
                    try:
                        outputs = await run_in_threadpool(next, steps, _FINISHED)
                    except Exception as exc:
                        status, message = _failure(exc, data)
                        yield _event({"error": message, "status": status})
                        return
                    if outputs is _FINISHED:
                        yield _event({"done": True, "duration": time.perf_counter() - started})
                        return
                    yield _event({"data": outputs})
            finally:
                # finished, failed, or the client left (the response task is cancelled: no more awaiting here).
                # Closing the suspended generator runs the function's cleanup and frees its concurrency slot.
                steps.close()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    app.add_route("/", page, methods=["GET"])
    app.add_route("/api/config", config, methods=["GET"])
    app.add_route("/health", health, methods=["GET"])
    app.add_route("/api/predict", predict, methods=["POST"])
    app.add_route("/api/stream", stream, methods=["POST"])
    return app
