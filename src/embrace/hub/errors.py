"""Typed errors of the hub client and server, mapped from the ``X-Error-Code`` header the Hub protocol uses.

They subclass the shared ones in :mod:`embrace.errors`, so ``cached_file`` callers that catch
``EntryNotFoundError`` also catch a file that is missing on the server.
"""

from __future__ import annotations

from embrace.errors import EmbraceError, EmbraceFileNotFoundError, EntryNotFoundError, OfflineModeError


class HubHTTPError(EmbraceError, OSError):
    """A hub request failed with an HTTP status (``status_code``) and a server message."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        commit_hash: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.commit_hash = commit_hash  # X-Repo-Commit of a 404 EntryNotFound, for the .no_exist cache


class RepositoryNotFoundError(HubHTTPError, EmbraceFileNotFoundError):
    """The repo does not exist, or it is private and the token (if any) may not read it."""


class GatedRepoError(RepositoryNotFoundError):
    """The repo is gated: accept its conditions on the hub, then pass a token of an approved user."""


class RevisionNotFoundError(HubHTTPError, EmbraceFileNotFoundError):
    """The repo exists but the branch, tag or commit does not."""


class RemoteEntryNotFoundError(HubHTTPError, EntryNotFoundError):
    """The repo and revision exist but the file does not."""


class BadRequestError(HubHTTPError, ValueError):
    """The server refused a malformed request (HTTP 400)."""


class LocalEntryNotFoundError(EntryNotFoundError):
    """The file is not in the cache and the hub could not be reached (or offline mode is on)."""


class IncompleteSnapshotError(LocalEntryNotFoundError):
    """Offline, a cached snapshot lacks some of the requested files."""


class OfflineModeIsEnabled(OfflineModeError, ConnectionError):
    """``HF_HUB_OFFLINE=1`` forbids every HTTP request."""


class ChecksumError(EmbraceError, OSError):
    """Downloaded bytes do not match the size or sha256 the server announced."""


__all__ = [
    "BadRequestError",
    "ChecksumError",
    "GatedRepoError",
    "HubHTTPError",
    "IncompleteSnapshotError",
    "LocalEntryNotFoundError",
    "OfflineModeIsEnabled",
    "RemoteEntryNotFoundError",
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
]
