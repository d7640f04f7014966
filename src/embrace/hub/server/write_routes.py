"""Write side of the hub protocol: repo create/delete/settings, preupload, NDJSON commit, git-lfs batch with
signed upload URLs, LFS verify, branches and tags (HUB_PROTOCOL.md §6). Every write needs a write token of the
namespace owner or of a member of the owning organisation."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from embrace.hub.fsutil import git_blob_sha1, lfs_pointer
from embrace.hub.server.blobs import BlobMismatchError
from embrace.hub.server.context import (
    RESERVED_NAMES,
    URL_PREFIX,
    HubContext,
    HubError,
    base_url,
    repo_url,
    validate_name,
    validate_path,
)
from embrace.hub.server.storage import (
    EntryMissingError,
    FileEntry,
    Operation,
    ParentMismatchError,
    RefExistsError,
    Repo,
    RepoExistsError,
    RevisionMissingError,
)

LFS_THRESHOLD = 10 * 1024 * 1024
LFS_PATTERNS = ("*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gguf", "*.gz", "*.h5", "*.joblib",
                "*.lz4", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet",
                "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "*.tar", "*.tflite",
                "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()


async def _json(request: Request, limit: int = 1 << 20) -> dict[str, Any]:
    body = await request.body()
    if len(body) > limit:
        raise HubError(413, "", "Request body too large.")
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HubError(400, "", f"Malformed JSON body: {exc}") from exc
    if not isinstance(data, dict):
        raise HubError(400, "", "The JSON body must be an object.")
    return data


def whoami(ctx: HubContext, request: Request) -> Response:
    principal = ctx.principal(request)
    if principal.user is None:
        raise HubError(401, "", "Invalid user token: pass Authorization: Bearer <token>.")
    user = ctx.storage.get_user(principal.user)
    return JSONResponse({
        "type": "user", "name": principal.user, "fullname": user.fullname if user else principal.user,
        "orgs": [{"name": org, "type": "org"} for org in principal.orgs],
        "auth": {"type": "access_token",
                 "accessToken": {"displayName": principal.display_name, "role": principal.role}},
    })


def _repo_type(value: Any) -> str:
    repo_type = value or "model"
    if repo_type not in URL_PREFIX:
        raise HubError(400, "", f"Unknown repo type {repo_type!r}: use model, dataset or space.")
    return str(repo_type)


async def create_repo(ctx: HubContext, request: Request) -> Response:
    principal = ctx.principal(request)
    user = ctx.require_user(principal)
    body = await _json(request)
    repo_type = _repo_type(body.get("type"))
    name = validate_name(str(body.get("name") or ""))
    namespace = validate_name(str(body.get("organization") or user), "namespace")
    if namespace in RESERVED_NAMES:
        raise HubError(400, "", f"{namespace!r} is a reserved name.")
    url = f"{base_url(request)}/{URL_PREFIX[repo_type]}{namespace}/{name}"
    ctx.check_write(namespace, principal)
    private = bool(body.get("private")) or body.get("visibility") == "private"
    entry = _regular_entry(ctx, ".gitattributes", GITATTRIBUTES)
    try:
        repo = ctx.storage.create_repo(repo_type, namespace, name, private=private, author=user,
                                       initial_files=[entry])
    except RepoExistsError:
        return JSONResponse({"error": "You already created this repo", "url": url}, status_code=409)
    return JSONResponse({"url": url, "name": repo.repo_id, "id": f"{repo.id:024x}"})


async def delete_repo(ctx: HubContext, request: Request) -> Response:
    principal = ctx.principal(request)
    user = ctx.require_user(principal)
    body = await _json(request)
    repo_type = _repo_type(body.get("type"))
    repo_id = f"{body.get('organization') or user}/{body.get('name')}"
    repo = ctx.repo_for_write(repo_type, repo_id, principal)
    ctx.storage.delete_repo(repo)
    return JSONResponse({})


async def update_settings(ctx: HubContext, request: Request, repo_type: str, repo_id: str) -> Response:
    repo = ctx.repo_for_write(repo_type, repo_id, ctx.principal(request))
    body = await _json(request)
    gated = body.get("gated", False)
    if gated not in (False, None, "auto", "manual"):
        raise HubError(400, "", "gated must be false, 'auto' or 'manual'.")
    private = body.get("private")
    if body.get("visibility") in ("private", "public"):  # what huggingface_hub >= 1.0 sends
        private = body["visibility"] == "private"
    ctx.storage.update_repo(repo, private=None if private is None else bool(private),
                            gated=(gated or None) if "gated" in body else False)
    return JSONResponse({})


def _regular_entry(ctx: HubContext, path: str, data: bytes) -> FileEntry:
    sha256 = ctx.blobs.put_bytes(data)
    return FileEntry(path, len(data), sha256, git_blob_sha1(data), False)


def _looks_binary(sample: bytes) -> bool:
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multibyte character cut at the end of the sample is still text
        return exc.start < len(sample) - 4
    return False


async def preupload(ctx: HubContext, request: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    repo = ctx.repo_for_write(repo_type, repo_id, ctx.principal(request))
    body = await _json(request, limit=64 << 20)
    head = ctx.storage.resolve(repo, rev)
    current = ctx.storage.list_files(repo, head) if head else {}
    answers = []
    for item in body.get("files") or []:
        path = validate_path(str(item.get("path", "")))
        try:
            sample = base64.b64decode(item.get("sample") or "")
        except (binascii.Error, ValueError) as exc:
            raise HubError(400, "", f"Bad base64 sample for {path}") from exc
        size = int(item.get("size") or 0)
        name = path.rsplit("/", 1)[-1]
        lfs = size >= LFS_THRESHOLD or any(fnmatch.fnmatch(name, p) for p in LFS_PATTERNS) or _looks_binary(sample)
        existing = current.get(path)
        oid = None if existing is None else (existing.sha256 if existing.lfs else existing.oid)
        answers.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
    return JSONResponse({"files": answers, "commitOid": head})


def _parse_ndjson(ctx: HubContext, repo: Repo, body: bytes) -> tuple[dict[str, Any], list[Operation]]:
    header: dict[str, Any] | None = None
    operations: list[Operation] = []
    for number, line in enumerate(body.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key, value = record["key"], record["value"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise HubError(400, "", f"Malformed commit payload at line {number}: {exc}") from exc
        if key == "header":
            header = value
            continue
        path = validate_path(str(value.get("path", "")).strip("/") if key == "deletedFolder" else str(value.get("path", "")))
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise HubError(400, "", f"Unsupported encoding for {path}: use base64.")
            try:
                data = base64.b64decode(value.get("content", ""), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise HubError(400, "", f"Bad base64 content for {path}") from exc
            operations.append(Operation("add", path, _regular_entry(ctx, path, data)))
        elif key == "lfsFile":
            oid = str(value.get("oid", "")).lower()
            size = ctx.storage.lfs_object_size(repo, oid)
            if size is None or not ctx.blobs.has(oid):
                raise HubError(400, "", f"LFS object {oid} of {path} was not uploaded to this repo.")
            if value.get("size") is not None and int(value["size"]) != size:
                raise HubError(400, "", f"LFS object {oid} has {size} bytes, not {value['size']}.")
            pointer_oid = git_blob_sha1(lfs_pointer(oid, size))
            operations.append(Operation("add", path, FileEntry(path, size, oid, pointer_oid, True)))
        elif key == "deletedFile":
            operations.append(Operation("delete_file", path))
        elif key == "deletedFolder":
            operations.append(Operation("delete_folder", path))
        else:
            raise HubError(400, "", f"Unknown commit operation {key!r} at line {number}.")
    if header is None:
        raise HubError(400, "", "The commit payload has no header line.")
    return header, operations


async def commit(ctx: HubContext, request: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    principal = ctx.principal(request)
    repo = ctx.repo_for_write(repo_type, repo_id, principal)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > ctx.max_commit_bytes:
            raise HubError(413, "", "Commit payload too large: upload big files through LFS.")
    header, operations = _parse_ndjson(ctx, repo, bytes(body))
    create_pr = request.query_params.get("create_pr") in ("1", "true", "True")
    try:
        sha, pr = ctx.storage.commit(
            repo, rev, operations, title=str(header.get("summary") or "Upload files"),
            message=str(header.get("description") or ""), author=principal.user or "",
            parent_commit=header.get("parentCommit") or None, create_pr=create_pr)
    except RevisionMissingError as exc:
        raise HubError(404, "RevisionNotFound", str(exc)) from exc
    except ParentMismatchError as exc:
        raise HubError(412, "", str(exc)) from exc
    except EntryMissingError as exc:
        raise HubError(404, "EntryNotFound", str(exc)) from exc
    url = repo_url(request, repo)
    return JSONResponse({"commitUrl": f"{url}/commit/{sha}", "commitOid": sha,
                         "pullRequestUrl": f"{url}/discussions/{pr}" if pr else None})


async def lfs_batch(ctx: HubContext, request: Request, repo_type: str, repo_id: str) -> Response:
    repo = ctx.repo_for_write(repo_type, repo_id, ctx.principal(request))
    body = await _json(request, limit=16 << 20)
    if body.get("operation") != "upload":
        raise HubError(400, "", "Only the 'upload' LFS operation is supported; downloads use /resolve.")
    objects = []
    verify = f"{base_url(request)}/{URL_PREFIX[repo.type]}{repo.repo_id}.git/info/lfs/verify"
    for obj in body.get("objects") or []:
        oid, size = str(obj.get("oid", "")).lower(), obj.get("size")
        if not isinstance(size, int) or size < 0 or len(oid) != 64 or any(c not in "0123456789abcdef" for c in oid):
            objects.append({"oid": oid, "size": size if isinstance(size, int) else 0,
                            "error": {"code": 422, "message": "oid must be a sha256 hex digest and size an int"}})
            continue
        if ctx.storage.lfs_object_size(repo, oid) == size and ctx.blobs.has(oid):
            objects.append({"oid": oid, "size": size})  # already stored: no actions, the client skips it
            continue
        objects.append({"oid": oid, "size": size, "authenticated": True,
                        "actions": {"upload": _upload_action(ctx, request, repo, oid, size),
                                    "verify": {"href": verify, "header": {}}}})
    return JSONResponse({"transfer": "basic", "objects": objects},
                        headers={"Content-Type": "application/vnd.git-lfs+json"})


def _upload_action(ctx: HubContext, request: Request, repo: Repo, oid: str, size: int) -> dict[str, Any]:
    """Single PUT for objects up to the chunk size; above it, the multipart form (HUB_PROTOCOL.md §6.5): the
    header holds ``chunk_size`` and one signed URL per part, ``href`` is the completion URL."""
    base, chunk = f"{base_url(request)}/lfs-upload/{oid}", ctx.multipart_chunk_size
    if size <= chunk:
        return {"href": f"{base}?{ctx.sign(repo, oid, size)}", "expires_in": 3600}
    query = ctx.sign(repo, oid, size, chunk=chunk)
    parts = -(-size // chunk)
    header: dict[str, str] = {"chunk_size": str(chunk)}
    header.update({str(n): f"{base}/part/{n}?{query}" for n in range(1, parts + 1)})
    return {"href": f"{base}/complete?{query}", "header": header, "expires_in": 3600}


def _signed(ctx: HubContext, request: Request, oid: str) -> tuple[int, int, int | None]:
    """(repo db id, size, chunk size or None) of a signed LFS upload URL; 403 when the signature is wrong."""
    params = request.query_params
    try:
        repo_db_id, size, expires = int(params["repo"]), int(params["size"]), int(params["exp"])
        chunk = int(params["chunk"]) if "chunk" in params else None
        signature = params["sig"]
    except (KeyError, ValueError) as exc:
        raise HubError(403, "", "Unsigned LFS upload URL.") from exc
    ctx.check_signature(repo_db_id, oid, size, expires, signature, chunk)
    return repo_db_id, size, chunk


def _record_object(ctx: HubContext, repo_db_id: int, oid: str, size: int) -> None:
    repo = ctx.storage.get_repo_by_id(repo_db_id)
    if repo is None:
        raise HubError(404, "RepoNotFound", "The repo of this upload URL was deleted.")
    ctx.storage.add_lfs_object(repo, oid, size)


def _check_length(request: Request, size: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) != size:
        raise HubError(400, "", f"Content-Length {declared} differs from the expected {size} bytes.")


async def lfs_upload(ctx: HubContext, request: Request, oid: str) -> Response:
    """PUT of one LFS object to its signed URL (no token: the signature authorises exactly this oid and size)."""
    repo_db_id, size, chunk = _signed(ctx, request, oid)
    if chunk is not None:
        raise HubError(400, "", "This object must be uploaded in parts: PUT to the part URLs, then complete.")
    _check_length(request, size)
    try:
        await ctx.blobs.put_stream(request.stream(), sha256=oid, size=size)
    except BlobMismatchError as exc:
        raise HubError(400, "", str(exc)) from exc
    except ClientDisconnect as exc:
        raise HubError(400, "", "Upload interrupted; nothing was stored.") from exc
    _record_object(ctx, repo_db_id, oid, size)
    return Response(status_code=200)


async def lfs_upload_part(ctx: HubContext, request: Request, oid: str, number: str) -> Response:
    """PUT of part ``number`` (1-based) of a multipart upload; answers with the part's ``ETag``."""
    _, size, chunk = _signed(ctx, request, oid)
    if chunk is None or not number.isdigit():
        raise HubError(400, "", "Not a multipart upload URL.")
    index, parts = int(number), -(-size // chunk)
    if not 1 <= index <= parts:
        raise HubError(400, "", f"Part {index} does not exist: this upload has parts 1..{parts}.")
    part_size = chunk if index < parts else size - chunk * (parts - 1)
    _check_length(request, part_size)
    try:
        etag = await ctx.blobs.put_part(request.stream(), sha256=oid, number=index, size=part_size)
    except BlobMismatchError as exc:
        raise HubError(400, "", str(exc)) from exc
    except ClientDisconnect as exc:
        raise HubError(400, "", "Part upload interrupted; nothing was stored.") from exc
    return Response(status_code=200, headers={"ETag": f'"{etag}"'})


async def lfs_complete(ctx: HubContext, request: Request, oid: str) -> Response:
    """Completion POST ``{"oid", "parts": [{"partNumber", "etag"}]}``: check every part is there with the ETag
    the client saw, then join them into the blob (hash and size checked)."""
    repo_db_id, size, chunk = _signed(ctx, request, oid)
    if chunk is None:
        raise HubError(400, "", "Not a multipart upload URL.")
    body = await _json(request)
    parts = -(-size // chunk)
    listed = body.get("parts")
    if str(body.get("oid", "")).lower() != oid or not isinstance(listed, list):
        raise HubError(400, "", "The completion body needs this upload's oid and its list of parts.")
    etags = {int(p.get("partNumber", 0)): str(p.get("etag", "")).strip('"') for p in listed if isinstance(p, dict)}
    if sorted(etags) != list(range(1, parts + 1)):
        raise HubError(400, "", f"The completion must list parts 1..{parts}, got {sorted(etags)}.")
    if not ctx.blobs.has(oid):
        for number, etag in etags.items():
            stored = await run_in_threadpool(ctx.blobs.part_etag, oid, number)
            if stored is None or stored != etag:
                raise HubError(400, "", f"Part {number} is missing or its ETag differs: upload it again.")
        try:
            await run_in_threadpool(ctx.blobs.assemble_parts, oid, size, parts)
        except BlobMismatchError as exc:
            raise HubError(400, "", str(exc)) from exc
    _record_object(ctx, repo_db_id, oid, size)
    return JSONResponse({"message": "Upload completed"})


async def lfs_verify(ctx: HubContext, request: Request, repo_type: str, repo_id: str) -> Response:
    repo = ctx.repo_for_write(repo_type, repo_id, ctx.principal(request))
    body = await _json(request)
    oid, size = str(body.get("oid", "")), body.get("size")
    if ctx.storage.lfs_object_size(repo, oid) != size or not ctx.blobs.has(oid):
        raise HubError(404, "", f"LFS object {oid} ({size} bytes) was not uploaded.")
    return JSONResponse({"message": "Object verified"})


async def create_branch_or_tag(ctx: HubContext, request: Request, repo_type: str, repo_id: str,
                               kind: str, name: str) -> Response:
    repo = ctx.repo_for_write(repo_type, repo_id, ctx.principal(request))
    body = await _json(request)
    if kind == "tag":  # POST /tag/{rev} with {"tag": name}
        target, name = ctx.resolve(repo, name), str(body.get("tag") or "")
    else:
        target = ctx.resolve(repo, str(body.get("startingPoint") or "main"))
    if not name or name.startswith("refs/") or any(p in ("", ".", "..") for p in name.split("/")):
        raise HubError(400, "", f"Invalid {kind} name {name!r}.")
    try:
        ctx.storage.create_ref(repo, kind, name, target)
    except RefExistsError as exc:
        raise HubError(409, "", str(exc)) from exc
    return JSONResponse({})


def delete_branch_or_tag(ctx: HubContext, request: Request, repo_type: str, repo_id: str,
                         kind: str, name: str) -> Response:
    repo = ctx.repo_for_write(repo_type, repo_id, ctx.principal(request))
    if kind == "branch" and name == "main":
        raise HubError(403, "", "The main branch cannot be deleted.")
    try:
        ctx.storage.delete_ref(repo, kind, name)
    except RevisionMissingError as exc:
        raise HubError(404, "RevisionNotFound", str(exc)) from exc
    return JSONResponse({})
