"""Read side of the hub protocol: ``resolve`` (HEAD/GET with Range), repo info, revision, tree, paths-info,
refs, commits and the repo listing. Shapes follow HUB_PROTOCOL.md §3-4."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from embrace.hub.server.context import HubContext, HubError, Principal, base_url
from embrace.hub.server.storage import FileEntry, Repo

PAGE_SIZE = 1000


class BlobResponse(FileResponse):
    """A file response with 1 MiB reads (Starlette's default 64 KiB costs throughput on big weights)."""

    chunk_size = 1024 * 1024
LFS_POINTER_SIZE = 134  # pointer files of sha256 + size are ~130 bytes; the client only displays it


def resolve_file(ctx: HubContext, request: Request, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
    principal = ctx.principal(request)
    repo = ctx.repo_for_read(repo_type, repo_id, principal, files=True)
    sha = ctx.resolve(repo, rev)
    entry = ctx.storage.get_file(repo, sha, path)
    if entry is None:
        raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev!r}", commit=sha)
    headers = {"X-Repo-Commit": sha, "ETag": f'"{entry.oid}"', "Accept-Ranges": "bytes"}
    if entry.lfs:
        headers["X-Linked-Etag"] = f'"{entry.sha256}"'
        headers["X-Linked-Size"] = str(entry.size)
    blob = ctx.blobs.path(entry.sha256)
    if not blob.is_file():
        raise HubError(500, "", f"The blob of {path} is missing from the server's store.")
    return BlobResponse(blob, headers=headers, filename=path.rsplit("/", 1)[-1], media_type="application/octet-stream")


def _sibling(entry: FileEntry, blobs: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"rfilename": entry.path}
    if blobs:
        item.update(size=entry.size, blobId=entry.oid)
        if entry.lfs:
            item["lfs"] = {"sha256": entry.sha256, "size": entry.size, "pointerSize": LFS_POINTER_SIZE}
    return item


def repo_info_dict(ctx: HubContext, repo: Repo, sha: str, *, blobs: bool = False, siblings: bool = True) -> dict[str, Any]:
    info: dict[str, Any] = {
        "_id": f"{repo.id:024x}", "id": repo.repo_id, "author": repo.namespace, "sha": sha,
        "private": repo.private, "gated": repo.gated or False, "disabled": False,
        "createdAt": repo.created_at, "lastModified": repo.last_modified,
        "downloads": 0, "likes": 0, "tags": [],
    }
    if repo.type == "model":
        info["modelId"] = repo.repo_id
    if siblings:
        files = ctx.storage.list_files(repo, sha)
        info["siblings"] = [_sibling(f, blobs) for f in files.values()]
        if blobs:
            info["usedStorage"] = sum(f.size for f in files.values())
    return info


def repo_info(ctx: HubContext, request: Request, repo_type: str, repo_id: str, rev: str | None) -> Response:
    principal = ctx.principal(request)
    repo = ctx.repo_for_read(repo_type, repo_id, principal)
    sha = ctx.resolve(repo, rev or "main")
    blobs = request.query_params.get("blobs", "").lower() == "true"
    return JSONResponse(repo_info_dict(ctx, repo, sha, blobs=blobs))


def _dir_oid(sha: str, path: str) -> str:
    return hashlib.sha1(f"tree {sha} {path}".encode(), usedforsecurity=False).hexdigest()


def _file_item(entry: FileEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": entry.path}
    if entry.lfs:
        item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": LFS_POINTER_SIZE}
    return item


def tree_items(files: dict[str, FileEntry], sha: str, folder: str, recursive: bool) -> list[dict[str, Any]]:
    """Entries under ``folder`` ("" = root): files, and folders as ``directory`` entries (all levels when
    recursive, like the Hub). Raises EntryNotFound for a folder that holds nothing."""
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    dirs: set[str] = set()
    items: list[dict[str, Any]] = []
    for path, entry in files.items():
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):].split("/")
        if len(rest) > 1:
            depth = len(rest) - 1 if recursive else 1
            for i in range(1, depth + 1):
                dirs.add(prefix + "/".join(rest[:i]))
        if len(rest) == 1 or recursive:
            items.append(_file_item(entry))
    if prefix and not items and not dirs:
        raise HubError(404, "EntryNotFound", f"{folder} does not exist", commit=sha)
    items += [{"type": "directory", "oid": _dir_oid(sha, d), "size": 0, "path": d} for d in dirs]
    return sorted(items, key=lambda item: item["path"])


def _page(request: Request, items: list[Any]) -> Response:
    start = int(request.query_params.get("cursor", "0") or 0)
    page = items[start:start + PAGE_SIZE]
    headers = {}
    if start + PAGE_SIZE < len(items):
        query = dict(request.query_params)
        query["cursor"] = str(start + PAGE_SIZE)
        headers["Link"] = f'<{base_url(request)}{request.url.path}?{urlencode(query)}>; rel="next"'
    return JSONResponse(page, headers=headers)


def tree(ctx: HubContext, request: Request, repo_type: str, repo_id: str, rev: str, folder: str) -> Response:
    principal = ctx.principal(request)
    repo = ctx.repo_for_read(repo_type, repo_id, principal)
    sha = ctx.resolve(repo, rev)
    recursive = request.query_params.get("recursive", "false").lower() == "true"
    return _page(request, tree_items(ctx.storage.list_files(repo, sha), sha, folder, recursive))


async def paths_info(ctx: HubContext, request: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    principal = ctx.principal(request)
    repo = ctx.repo_for_read(repo_type, repo_id, principal)
    sha = ctx.resolve(repo, rev)
    body = (await request.body()).decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        import json

        wanted = list(json.loads(body or "{}").get("paths", []))
    else:
        wanted = parse_qs(body).get("paths", [])
    files = ctx.storage.list_files(repo, sha)
    result: list[dict[str, Any]] = []
    for path in wanted:
        path = path.strip("/")
        if path in files:
            result.append(_file_item(files[path]))
        elif any(p.startswith(path + "/") for p in files):
            result.append({"type": "directory", "oid": _dir_oid(sha, path), "size": 0, "path": path})
    return JSONResponse(result)


def refs(ctx: HubContext, request: Request, repo_type: str, repo_id: str) -> Response:
    repo = ctx.repo_for_read(repo_type, repo_id, ctx.principal(request))
    out: dict[str, list[dict[str, str]]] = {"branches": [], "converts": [], "tags": []}
    if request.query_params.get("include_prs"):
        out["pullRequests"] = []
    for ref in ctx.storage.list_refs(repo):
        if ref.kind == "branch":
            out["branches"].append({"name": ref.name, "ref": f"refs/heads/{ref.name}", "targetCommit": ref.target})
        elif ref.kind == "tag":
            out["tags"].append({"name": ref.name, "ref": f"refs/tags/{ref.name}", "targetCommit": ref.target})
        elif "pullRequests" in out:
            out["pullRequests"].append({"name": ref.name, "ref": ref.name, "targetCommit": ref.target})
    return JSONResponse(out)


def commits(ctx: HubContext, request: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    repo = ctx.repo_for_read(repo_type, repo_id, ctx.principal(request))
    sha: str | None = ctx.resolve(repo, rev)
    history: list[dict[str, Any]] = []
    while sha:
        commit = ctx.storage.get_commit(repo, sha)
        if commit is None:
            break
        item: dict[str, Any] = {"id": commit.sha, "authors": [{"user": commit.author}], "date": commit.date,
                                "title": commit.title, "message": commit.message}
        if "formatted" in request.query_params.getlist("expand[]"):
            item["formatted"] = {"title": commit.title, "message": commit.message}
        history.append(item)
        sha = commit.parent
    return _page(request, history)


def list_repos(ctx: HubContext, request: Request, repo_type: str) -> Response:
    principal: Principal = ctx.principal(request)
    params = request.query_params
    search, author = params.get("search", "").lower(), params.get("author")
    full = params.get("full", "").lower() == "true"
    found = [
        repo for repo in ctx.storage.list_repos(repo_type)
        if (not repo.private or principal.owns(repo.namespace))
        and (not author or repo.namespace == author) and search in repo.repo_id.lower()
    ]
    if params.get("sort") in ("id", "createdAt"):
        key = "repo_id" if params["sort"] == "id" else "created_at"
        found.sort(key=lambda r: getattr(r, key), reverse=params.get("direction") == "-1")
    limit = params.get("limit")
    if limit and limit.isdigit():
        found = found[: int(limit)]
    items = []
    for repo in found:
        sha = ctx.storage.resolve(repo, "main") or ""
        items.append(repo_info_dict(ctx, repo, sha, siblings=full))
    return _page(request, items)
