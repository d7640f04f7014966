"""The server application: :func:`create_app` wires the routes, the API-key / body-size guard, CORS, the
playground files, ``/health`` and ``/metrics``; :func:`serve_in_thread` runs it on a free loopback port (tests,
notebooks), :func:`serve` in the foreground (``embrace serve``).

>>> registry = ModelRegistry(ServeConfig())
>>> load_model_spec(registry, "chat=./SmolLM2-135M-Instruct.Q4_1.gguf")
>>> url, stop = serve_in_thread(create_app(registry))      # http://127.0.0.1:PORT, OpenAI API under /v1
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from embrace.serving.config import ServeConfig
from embrace.serving.protocol import ApiError
from embrace.serving.registry import ModelRegistry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml",
                ".png": "image/png", ".ico": "image/x-icon"}
KNOWN_ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models", "/v1/pipelines",
                   "/health", "/metrics", "/")


def endpoint_label(path: str) -> str:
    """A bounded metrics label for a request path."""
    for prefix, label in (("/v1/pipelines/", "/v1/pipelines/{task}"), ("/v1/models/", "/v1/models/{model}"),
                          ("/static/", "/static")):
        if path.startswith(prefix):
            return label
    return path if path in KNOWN_ENDPOINTS else "other"


class ApiGuard:
    """ASGI middleware: API keys on ``/v1``, the body-size limit, and request counting for ``/metrics``."""

    def __init__(self, app: ASGIApp, registry: ModelRegistry) -> None:
        self.app = app
        self.config = registry.config
        self.metrics = registry.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, status = scope["path"], [0]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        error = self._check(scope)
        try:
            if error is not None:
                await send_error(counting_send, error)
            else:
                await self.app(scope, receive, counting_send)
        finally:
            self.metrics.requests.inc(endpoint=endpoint_label(path), status=str(status[0] or 499))

    def _check(self, scope: Scope) -> ApiError | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.config.api_keys and scope["path"].startswith("/v1") and scope.get("method") != "OPTIONS":
            given = headers.get("authorization", "")
            token = given[7:].strip() if given.lower().startswith("bearer ") else ""
            if not any(hmac.compare_digest(token, key) for key in self.config.api_keys):
                return ApiError(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'",
                                kind="authentication_error", code="invalid_api_key",
                                headers={"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.config.max_request_bytes:
            return ApiError(413, f"the request body is {length} bytes; the limit is {self.config.max_request_bytes}",
                            code="request_too_large")
        return None


async def send_error(send: Send, error: ApiError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# the playground's own files, then the page scripts it shares with embrace.ui (static/sse.js)
STATIC_PACKAGES = ("embrace.serving", "embrace.ui")


def static_file(name: str) -> tuple[bytes, str] | None:
    """A file of the playground (``embrace/serving/static/``, else ``embrace/ui/static/``), or None."""
    parts = [p for p in name.split("/") if p]
    if not parts or any(p in (".", "..") or "\\" in p for p in parts):
        return None
    nodes = (resources.files(package).joinpath("static", *parts) for package in STATIC_PACKAGES)
    node = next((found for found in nodes if found.is_file()), None)
    if node is None:
        return None
    suffix = "." + parts[-1].rsplit(".", 1)[-1] if "." in parts[-1] else ""
    return node.read_bytes(), STATIC_TYPES.get(suffix, "application/octet-stream")


FALLBACK_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>embrace serve</title></head><body>
<h1>embrace serve</h1><p>The web playground is not installed. The OpenAI-compatible API is at <code>/v1</code>
(<a href="/v1/models">/v1/models</a>), health at <a href="/health">/health</a>, metrics at
<a href="/metrics">/metrics</a>.</p></body></html>"""


def create_app(registry: ModelRegistry) -> Any:
    """The FastAPI application serving ``registry``. Its lifespan starts and stops the batching engines."""
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
    from starlette.exceptions import HTTPException
    from starlette.middleware.cors import CORSMiddleware

    from embrace.serving.openai_api import build_router
    from embrace.serving.pipelines_api import build_pipelines_router

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        registry.start()
        try:
            yield
        finally:
            registry.stop()

    app = FastAPI(title="embrace serve", lifespan=lifespan)
    app.state.registry = registry

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        body = {"error": {"message": str(exc.detail), "type": kind, "param": None, "code": None}}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.get("/", include_in_schema=False)
    async def playground() -> Response:
        found = static_file("playground.html")
        return Response(found[0], media_type=found[1]) if found else HTMLResponse(FALLBACK_PAGE)

    @app.get("/static/{name:path}", include_in_schema=False)
    async def static(name: str) -> Response:
        found = static_file(name)
        if found is None:
            raise ApiError(404, f"no static file {name!r}", code="not_found")
        return Response(found[0], media_type=found[1])

    @app.get("/health")
    async def health() -> JSONResponse:
        engines = {name: served.engine.alive for name, served in registry.chat.items()}
        ok = all(engines.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "models": registry.model_ids(),
                             "engines": engines}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(registry.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(build_router(registry))
    app.include_router(build_pipelines_router(registry))
    app.add_middleware(ApiGuard, registry=registry)
    if registry.config.cors_origins:  # outermost, so preflights and error answers carry the CORS headers
        app.add_middleware(CORSMiddleware, allow_origins=list(registry.config.cors_origins), allow_methods=["*"],
                           allow_headers=["*"], allow_credentials=False)
    return app


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
                    ) -> tuple[str, Callable[[], None]]:
    """Run ``app`` with uvicorn in a background thread on ``host:port`` (0 = a free port) once it is accepting
    connections. Returns ``(base url, stop)``; ``stop()`` shuts the server (and its engines) down."""
    from embrace.ui.server import BackgroundServer

    server = BackgroundServer(app, host=host, port=port, log_level=log_level).start(timeout=60)
    return server.url, lambda: server.stop(timeout=30)


def serve(app: Any, host: str, port: int, log_level: str = "info") -> None:
    """Run ``app`` in the foreground until Ctrl-C."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=30,
                timeout_graceful_shutdown=5)


__all__ = ["create_app", "serve", "serve_in_thread", "ModelRegistry", "ServeConfig"]
