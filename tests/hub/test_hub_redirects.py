"""embrace's client against a hub that redirects LFS downloads to a CDN on another origin (what huggingface.co
does): metadata comes from the 3xx, the CDN never sees the token, the blob is named by the sha256. Also: a server
that is not a hub (no X-Repo-Commit / ETag) is reported as such."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from embrace.hub import LocalEntryNotFoundError, hf_hub_download

COMMIT = "a" * 40
DATA = os.urandom(200_000)
SHA = hashlib.sha256(DATA).hexdigest()


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def cdn_and_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, list[str | None]]]:
    seen: dict[str, list[str | None]] = {"cdn_auth": [], "hub_auth": [], "failed": []}

    class Cdn(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen["cdn_auth"].append(self.headers.get("authorization"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)

    cdn, cdn_url = _serve(Cdn)

    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            seen["hub_auth"].append(self.headers.get("authorization"))
            if self.path.endswith("/flaky.bin") and len(seen["failed"]) < 2:  # the first two HEADs get 503
                seen["failed"].append(self.path)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.endswith("/plain.txt"):  # not a hub: no X-Repo-Commit
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                return
            self.send_response(302)
            self.send_header("Location", f"{cdn_url}/blobs/{SHA}")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", '"' + "b" * 40 + '"')  # git oid of the pointer file
            self.send_header("X-Linked-Etag", f'"{SHA}"')
            self.send_header("X-Linked-Size", str(len(DATA)))
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD

    hub, hub_url = _serve(Hub)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub_url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    yield seen
    cdn.shutdown()
    hub.shutdown()


def test_cross_origin_redirect_keeps_the_token_on_the_hub(cdn_and_hub: dict[str, list[str | None]]) -> None:
    path = Path(hf_hub_download("acme/cdn-model", "model.safetensors"))
    assert path.read_bytes() == DATA
    assert path.resolve().name == SHA and path.parent.name == COMMIT
    assert cdn_and_hub["hub_auth"] == ["Bearer hf_secret"]
    assert cdn_and_hub["cdn_auth"] == [None]


def test_a_server_without_hub_headers_is_reported(cdn_and_hub: dict[str, list[str | None]]) -> None:
    with pytest.raises(LocalEntryNotFoundError, match="X-Repo-Commit"):
        hf_hub_download("acme/cdn-model", "plain.txt")


def test_transient_hub_errors_are_retried_when_nothing_is_cached(cdn_and_hub: dict[str, list[str | None]]) -> None:
    path = Path(hf_hub_download("acme/cdn-model", "flaky.bin"))
    assert path.read_bytes() == DATA
    assert len(cdn_and_hub["failed"]) == 2 and len(cdn_and_hub["hub_auth"]) == 3  # two 503s, then success
