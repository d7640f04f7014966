"""Content-addressed blob store: ``<root>/blobs/<aa>/<bb>/<sha256>``. Uploads stream into ``<root>/tmp`` while
being hashed and are renamed into place only when size and sha256 match, so an interrupted upload never leaves
a visible partial blob (stale temp files are swept at start-up)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from embrace.errors import EmbraceError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobMismatchError(EmbraceError, ValueError):
    """Uploaded bytes do not match the announced sha256 or size."""


class BlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.iterdir():  # left by a crash or a killed upload
            with contextlib.suppress(OSError):
                stale.unlink()

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise BlobMismatchError(f"{sha256!r} is not a sha256 hex digest.")
        return self.root / "blobs" / sha256[:2] / sha256[2:4] / sha256

    def has(self, sha256: str) -> bool:
        return _SHA256.match(sha256) is not None and self.path(sha256).is_file()

    def _publish(self, temp: Path, sha256: str) -> None:
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)  # same content wins either way: concurrent identical uploads are harmless

    def put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if self.has(sha256):
            return sha256
        temp = self.tmp / f"{uuid.uuid4().hex}.part"
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            self._publish(temp, sha256)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return sha256

    async def put_stream(self, chunks: AsyncIterator[bytes], *, sha256: str, size: int) -> None:
        """Store a streamed upload that must hash to ``sha256`` and be exactly ``size`` bytes."""
        self.path(sha256)  # validates the digest
        temp = self.tmp / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        received = 0
        try:
            with open(temp, "wb") as handle:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > size:
                        raise BlobMismatchError(f"Upload is larger than the announced {size} bytes.")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if received != size:
                raise BlobMismatchError(f"Upload has {received} bytes, {size} were announced.")
            if digest.hexdigest() != sha256:
                raise BlobMismatchError(f"Upload hashes to {digest.hexdigest()}, not the announced {sha256}.")
            self._publish(temp, sha256)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    def collect_garbage(self, keep: set[str]) -> tuple[int, int]:
        """Delete the blobs whose sha256 is not in ``keep``; returns (files removed, bytes freed). Run it while
        no server writes to this store: an upload in flight is not referenced yet."""
        removed = freed = 0
        for blob in (self.root / "blobs").glob("*/*/*"):
            if blob.is_file() and blob.name not in keep:
                freed += blob.stat().st_size
                blob.unlink()
                removed += 1
        return removed, freed
