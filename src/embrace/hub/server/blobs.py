"""Content-addressed blob store: ``<root>/blobs/<aa>/<bb>/<sha256>``. Uploads stream into ``<root>/tmp`` while
being hashed and are renamed into place only when size and sha256 match, so an interrupted upload never leaves
a visible partial blob (stale temp files are swept at start-up)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from embrace.errors import EmbraceError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PART_NUMBER_MAX = 10_000


class BlobMismatchError(EmbraceError, ValueError):
    """Uploaded bytes do not match the announced sha256 or size."""


class BlobStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.multipart = self.root / "multipart"  # uploaded parts of unfinished multipart uploads: <oid>/<n>
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

    @contextlib.asynccontextmanager
    async def _received(self, chunks: AsyncIterator[bytes], size: int, digest: Any,
                        what: str) -> AsyncIterator[Path]:
        """Stream ``chunks`` (exactly ``size`` bytes, hashed into ``digest``) into a temp file and yield its path
        for the caller to check and move into place; the temp file is gone afterwards whatever happens."""
        temp = self.tmp / f"{uuid.uuid4().hex}.part"
        received = 0
        try:
            with open(temp, "wb") as handle:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > size:
                        raise BlobMismatchError(f"{what} is larger than the announced {size} bytes.")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if received != size:
                raise BlobMismatchError(f"{what} has {received} bytes, {size} were announced.")
            yield temp
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    async def put_stream(self, chunks: AsyncIterator[bytes], *, sha256: str, size: int) -> None:
        """Store a streamed upload that must hash to ``sha256`` and be exactly ``size`` bytes."""
        self.path(sha256)  # validates the digest
        digest = hashlib.sha256()
        async with self._received(chunks, size, digest, "Upload") as temp:
            if digest.hexdigest() != sha256:
                raise BlobMismatchError(f"Upload hashes to {digest.hexdigest()}, not the announced {sha256}.")
            self._publish(temp, sha256)

    def part_path(self, sha256: str, number: int) -> Path:
        self.path(sha256)  # validates the digest
        if not 1 <= number <= _PART_NUMBER_MAX:
            raise BlobMismatchError(f"Part number {number} is out of range 1..{_PART_NUMBER_MAX}.")
        return self.multipart / sha256 / str(number)

    async def put_part(self, chunks: AsyncIterator[bytes], *, sha256: str, number: int, size: int) -> str:
        """Store part ``number`` of a multipart upload of ``sha256`` (exactly ``size`` bytes); returns its ETag
        (the part's md5, as S3 does). A part appears only once complete, so a cut upload leaves nothing."""
        target = self.part_path(sha256, number)
        digest = hashlib.md5(usedforsecurity=False)
        async with self._received(chunks, size, digest, f"Part {number}") as temp:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        return digest.hexdigest()

    def part_etag(self, sha256: str, number: int) -> str | None:
        path = self.part_path(sha256, number)
        if not path.is_file():
            return None
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    def assemble_parts(self, sha256: str, size: int, count: int) -> None:
        """Concatenate parts 1..``count`` into the blob ``sha256`` (checked: size and hash), then drop the parts.
        Parts stay on a mismatch, so the client may re-send the wrong ones and complete again."""
        temp = self.tmp / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        try:
            with open(temp, "wb") as out:
                for number in range(1, count + 1):
                    with open(self.part_path(sha256, number), "rb") as part:
                        while chunk := part.read(1 << 20):
                            digest.update(chunk)
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                received = out.tell()
            if received != size:
                raise BlobMismatchError(f"The parts hold {received} bytes, {size} were announced.")
            if digest.hexdigest() != sha256:
                raise BlobMismatchError(f"The parts hash to {digest.hexdigest()}, not the announced {sha256}.")
            self._publish(temp, sha256)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        shutil.rmtree(self.multipart / sha256, ignore_errors=True)

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
