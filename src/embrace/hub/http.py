"""The HTTP layer of the client: one shared httpx client, auth headers, offline guard and error mapping.

Every request the client makes goes through :func:`request`, so ``HF_HUB_OFFLINE=1`` is enforced in one place.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from embrace.hub import errors
from embrace.hub.auth import resolve_token
from embrace.hub.constants import is_offline

_client: httpx.Client | None = None
_client_guard = threading.Lock()
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


def get_client() -> httpx.Client:
    """The process-wide client (connection pooling across threads, as snapshot_download uses 8 of them)."""
    global _client
    with _client_guard:
        if _client is None or _client.is_closed:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
            _client = httpx.Client(limits=limits, timeout=httpx.Timeout(30.0, connect=10.0))
        return _client


def build_headers(
    token: str | bool | None = None, *, required: bool = False, extra: dict[str, str] | None = None
) -> dict[str, str]:
    from embrace import __version__

    headers = {"user-agent": f"embrace/{__version__}; python-httpx", "X-Amzn-Trace-Id": str(uuid.uuid4())}
    resolved = resolve_token(token, required=required)
    if resolved:
        headers["authorization"] = f"Bearer {resolved}"
    headers.update(extra or {})
    return headers


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send one request, refusing it when offline mode is on (no socket is ever opened then)."""
    if is_offline():
        raise errors.OfflineModeIsEnabled(f"Cannot reach {url}: offline mode is on (HF_HUB_OFFLINE=1).")
    return get_client().request(method, url, **kwargs)


def _server_message(response: httpx.Response) -> str:
    parts = [response.headers.get("X-Error-Message", "")]
    if response.request.method != "HEAD":
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, httpx.ResponseNotRead):
            body = None
        if isinstance(body, dict) and body.get("error") and str(body["error"]) not in parts[0]:
            parts.append(str(body["error"]))
    return " ".join(p for p in parts if p) or response.reason_phrase


def raise_for_status(response: httpx.Response, *, what: str = "") -> None:
    """Map an error response to a typed error, mainly from ``X-Error-Code`` (like huggingface_hub)."""
    if response.status_code < 400:
        return
    code = response.headers.get("X-Error-Code", "")
    request_id = response.headers.get("X-Request-Id")
    message = f"{response.status_code} {_server_message(response)} ({response.request.method} {response.url})"
    if what:
        message = f"{what}: {message}"
    kwargs: dict[str, Any] = {
        "status_code": response.status_code,
        "request_id": request_id,
        "commit_hash": response.headers.get("X-Repo-Commit"),
    }
    if code == "RevisionNotFound":
        raise errors.RevisionNotFoundError(message + ". Check the branch, tag or commit name.", **kwargs)
    if code == "EntryNotFound":
        raise errors.RemoteEntryNotFoundError(message, **kwargs)
    if code == "GatedRepo":
        raise errors.GatedRepoError(message + ". Ask for access on the hub and pass an approved token.", **kwargs)
    if code == "RepoNotFound":
        raise errors.RepositoryNotFoundError(
            message + ". Check the repo id and type; private repos need a token with access.", **kwargs
        )
    if response.status_code == 400:
        raise errors.BadRequestError(message, **kwargs)
    if response.status_code == 401:
        raise errors.HubHTTPError(message + ". The token is missing or invalid (embrace hub login).", **kwargs)
    raise errors.HubHTTPError(message, **kwargs)


def paginate(url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str]) -> Iterator[Any]:
    """Yield the items of a JSON-array endpoint, following ``Link: <...>; rel="next"``."""
    next_url: str | None = url
    first = True
    while next_url:
        response = request("GET", next_url, params=params if first else None, headers=headers)
        raise_for_status(response)
        yield from response.json()
        first = False
        match = _NEXT_LINK.search(response.headers.get("Link", ""))
        next_url = match.group(1) if match else None
