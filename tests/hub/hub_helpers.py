"""Helpers of the hub tests: a real ``embrace hub serve`` subprocess on a free loopback port, users and tokens,
and a runner for scripts that use the reference ``huggingface_hub`` client in a fresh interpreter (it reads
HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE at import time)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from embrace.hub.server.sqlite_store import SQLiteStorage

MULTIPART_CHUNK = 5 * 1024 * 1024  # the test hub's part size (S3's minimum, as the Hub uses)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class HubServer:
    """A hub server process over ``data``; ``restart()`` keeps the data folder and the port."""

    data: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    multipart_chunk_size: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "embrace.cli", "hub", "serve", "--data", str(self.data), "--port", str(self.port)]
        if self.multipart_chunk_size:
            cmd += ["--multipart-chunk-size", str(self.multipart_chunk_size)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub server exited: {self.process.stderr.read().decode() if self.process.stderr else ''}")
            try:
                httpx.get(f"{self.url}/api/models", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("hub server did not start in 30 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def storage(self) -> SQLiteStorage:
        return SQLiteStorage(self.data / "hub.sqlite3")


def make_server(data: Path, multipart_chunk_size: int | None = None) -> HubServer:
    """Users: alice (member of org acme; write and read tokens) and bob (write token)."""
    server = HubServer(data, multipart_chunk_size=multipart_chunk_size)
    store = server.storage()
    store.create_user("alice", fullname="Alice")
    store.create_user("bob")
    store.create_user("acme", is_org=True)
    store.add_member("acme", "alice")
    server.tokens = {
        "alice": store.create_token("alice", role="write", display_name="laptop"),
        "alice_read": store.create_token("alice", role="read", display_name="ci"),
        "bob": store.create_token("bob", role="write"),
    }
    store.close()
    server.start()
    return server


def point_client_at(server: HubServer, monkeypatch: Any, hf_home: Path, user: str = "alice") -> HubServer:
    """embrace's client (this process) pointed at ``server`` with ``user``'s token and a fresh HF_HOME."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_TOKEN", server.tokens[user])
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return server


def run_reference(script: str, *, endpoint: str, hf_home: Path, token: str | None = None,
                  extra_env: dict[str, str] | None = None, timeout: float = 120) -> dict[str, object]:
    """Run ``script`` (which must print one JSON object as its last line) with the reference libraries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false")
    if token:
        env["HF_TOKEN"] = token
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"reference script failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
