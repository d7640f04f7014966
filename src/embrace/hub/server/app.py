"""The FastAPI application of ``embrace hub serve``: a Hugging Face Hub compatible server.

Routes are dispatched on the **raw** request path, because the client URL-encodes ``/`` inside revisions
(``refs%2Fpr%2F1``) and a decoded path would split them. Fixed routes (whoami, repo create/delete, validate-yaml)
and the repo-scoped ones (``/api/{type}s/{ns}/{name}/...``, ``/{prefix}{ns}/{name}/resolve/...``, the git-lfs batch)
all go through :func:`dispatch`.
"""

from __future__ import annotations

import inspect
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from embrace.hub.server import read_routes as read
from embrace.hub.server import web
from embrace.hub.server import write_routes as write
from embrace.hub.server.context import DEFAULT_MULTIPART_CHUNK, REPO_TYPES, HubContext, HubError, validate_path

_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE"]
_TYPE_PREFIXES = {"datasets": "dataset", "spaces": "space"}


def _header_safe(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:1000]


def error_response(exc: HubError) -> Response:
    headers = {"X-Error-Message": _header_safe(exc.message)}
    if exc.code:
        headers["X-Error-Code"] = exc.code
    if exc.commit:
        headers["X-Repo-Commit"] = exc.commit
    return JSONResponse({"error": exc.message, **exc.body}, status_code=exc.status, headers=headers)


async def _call(handler: Any, *args: Any) -> Response:
    if inspect.iscoroutinefunction(handler):
        result: Response = await handler(*args)
        return result
    return await run_in_threadpool(handler, *args)


def _route_api(ctx: HubContext, request: Request, segs: list[str]) -> tuple[Any, tuple[Any, ...]]:
    method = request.method
    if segs == ["whoami-v2"] and method == "GET":
        return write.whoami, (ctx, request)
    if segs == ["repos", "create"] and method == "POST":
        return write.create_repo, (ctx, request)
    if segs == ["repos", "delete"] and method == "DELETE":
        return write.delete_repo, (ctx, request)
    if segs == ["validate-yaml"] and method == "POST":
        return (lambda: JSONResponse({"errors": [], "warnings": []})), ()
    if not segs or segs[0] not in REPO_TYPES:
        raise HubError(404, "", "Unknown API route.")
    repo_type = REPO_TYPES[segs[0]]
    if len(segs) == 1 and method == "GET":
        return read.list_repos, (ctx, request, repo_type)
    if len(segs) < 3:
        raise HubError(404, "RepoNotFound", "Repository ids have the form namespace/name.")
    repo_id, sub, rest = f"{segs[1]}/{segs[2]}", (segs[3] if len(segs) > 3 else None), segs[4:]
    rev = rest[0] if rest else "main"
    table: dict[tuple[str | None, str], tuple[Any, tuple[Any, ...]]] = {
        (None, "GET"): (read.repo_info, (ctx, request, repo_type, repo_id, None)),
        ("revision", "GET"): (read.repo_info, (ctx, request, repo_type, repo_id, "/".join(rest) or "main")),
        ("tree", "GET"): (read.tree, (ctx, request, repo_type, repo_id, rev, "/".join(rest[1:]))),
        ("paths-info", "POST"): (read.paths_info, (ctx, request, repo_type, repo_id, rev)),
        ("refs", "GET"): (read.refs, (ctx, request, repo_type, repo_id)),
        ("commits", "GET"): (read.commits, (ctx, request, repo_type, repo_id, rev)),
        ("preupload", "POST"): (write.preupload, (ctx, request, repo_type, repo_id, rev)),
        ("commit", "POST"): (write.commit, (ctx, request, repo_type, repo_id, rev)),
        ("settings", "PUT"): (write.update_settings, (ctx, request, repo_type, repo_id)),
        ("branch", "POST"): (write.create_branch_or_tag, (ctx, request, repo_type, repo_id, "branch", "/".join(rest))),
        ("branch", "DELETE"): (write.delete_branch_or_tag, (ctx, request, repo_type, repo_id, "branch", "/".join(rest))),
        ("tag", "POST"): (write.create_branch_or_tag, (ctx, request, repo_type, repo_id, "tag", "/".join(rest))),
        ("tag", "DELETE"): (write.delete_branch_or_tag, (ctx, request, repo_type, repo_id, "tag", "/".join(rest))),
    }
    if sub in ("xet-write-token", "xet-read-token"):
        raise HubError(501, "", "This hub does not run Xet storage: set HF_HUB_DISABLE_XET=1 on the client.")
    found = table.get((sub, "GET" if method == "HEAD" else method))
    if found is None:
        raise HubError(404, "", f"Unknown API route {method} .../{sub}.")
    return found


def dispatch(ctx: HubContext, request: Request) -> tuple[Any, tuple[Any, ...]]:
    """Map a request to ``(handler, args)`` from its raw path."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    segs = [unquote(s) for s in raw.decode("latin-1").split("?")[0].split("/")[1:]]
    if segs and segs[-1] == "" and len(segs) > 1:
        segs = segs[:-1]
    method = request.method
    if segs and segs[0] == "api":
        return _route_api(ctx, request, segs[1:])
    if segs and segs[0] == "lfs-upload":
        if len(segs) == 2 and method == "PUT":
            return write.lfs_upload, (ctx, request, segs[1])
        if len(segs) == 4 and segs[2] == "part" and method == "PUT":
            return write.lfs_upload_part, (ctx, request, segs[1], segs[3])
        if len(segs) == 3 and segs[2] == "complete" and method == "POST":
            return write.lfs_complete, (ctx, request, segs[1])
    if segs in ([], [""]) and method in ("GET", "HEAD"):
        return web.index, (ctx,)
    repo_type = "model"
    if segs and segs[0] in _TYPE_PREFIXES:
        repo_type, segs = _TYPE_PREFIXES[segs[0]], segs[1:]
    if len(segs) >= 3 and segs[1].endswith(".git") and segs[2:4] == ["info", "lfs"]:
        repo_id = f"{segs[0]}/{segs[1][:-4]}"
        if segs[4:] == ["objects", "batch"] and method == "POST":
            return write.lfs_batch, (ctx, request, repo_type, repo_id)
        if segs[4:] == ["verify"] and method == "POST":
            return write.lfs_verify, (ctx, request, repo_type, repo_id)
    if len(segs) >= 5 and segs[2] == "resolve" and method in ("GET", "HEAD"):
        path = validate_path("/".join(segs[4:]))
        return read.resolve_file, (ctx, request, repo_type, f"{segs[0]}/{segs[1]}", segs[3], path)
    if len(segs) == 2 and method in ("GET", "HEAD"):
        return web.repo_page, (ctx, repo_type, f"{segs[0]}/{segs[1]}")
    raise HubError(404, "", f"No route for {method} {request.url.path}")


MAX_HEADER_BYTES = 16 * 1024


class HeaderLimitMiddleware:
    """Refuse requests whose headers total more than ``MAX_HEADER_BYTES`` with 431 before any route runs."""

    def __init__(self, app: Any, limit: int = MAX_HEADER_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope.get("headers", [])) > self.limit:
            response = JSONResponse({"error": "Request headers too large"}, status_code=431,
                                    headers={"X-Error-Message": "Request headers too large"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(data_dir: str | Path, *, ctx: HubContext | None = None,
               multipart_chunk_size: int = DEFAULT_MULTIPART_CHUNK) -> FastAPI:
    """The hub application over ``data_dir`` (SQLite metadata in ``hub.sqlite3``, blobs in ``blobs/``); LFS
    objects larger than ``multipart_chunk_size`` bytes are uploaded in parts of that size."""
    context = ctx or HubContext(data_dir, multipart_chunk_size=multipart_chunk_size)
    app = FastAPI(title="embrace hub", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.hub = context
    app.add_middleware(HeaderLimitMiddleware)

    @app.api_route("/{rest:path}", methods=_METHODS, include_in_schema=False)
    async def everything(request: Request) -> Response:
        request_id = uuid.uuid4().hex
        try:
            handler, args = dispatch(context, request)
            response = await _call(handler, *args)
        except HubError as exc:
            response = error_response(exc)
        response.headers["X-Request-Id"] = request_id
        return response

    return app
