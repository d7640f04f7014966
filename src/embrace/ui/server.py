"""Run an ASGI app with uvicorn on a background thread: start, find the bound port, stop.

The socket is bound here, before uvicorn starts, so a port that is taken gives a clear :class:`LaunchError` at once
(uvicorn would log and call ``sys.exit`` inside its thread), and ``port=0`` picks any free port.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from embrace.ui.errors import LaunchError

DEFAULT_PORT_RANGE = range(7860, 7960)  # the ports a Gradio app tries, so bookmarks and habits carry over


def bind_socket(host: str, port: int | None) -> socket.socket:
    """A listening socket on ``host:port``; ``port=None`` tries 7860..7959 and takes the first free one."""
    candidates = DEFAULT_PORT_RANGE if port is None else [port]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    last_error: OSError | None = None
    for candidate in candidates:
        # proto=IPPROTO_TCP: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they are TCP; with
        # proto 0 every response written in two parts waits ~40 ms for the client's delayed ACK
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        sock.listen(128)
        sock.set_inheritable(True)
        return sock
    if port is None:
        raise LaunchError(f"no free port in {DEFAULT_PORT_RANGE.start}-{DEFAULT_PORT_RANGE.stop - 1} on {host}: "
                          f"pass server_port= (0 picks any free port). Last error: {last_error}")
    raise LaunchError(f"cannot listen on {host}:{port}: {last_error}. Pass another server_port= "
                      "(0 picks any free port) or stop what is using it.")


class BackgroundServer:
    """uvicorn serving ``app`` from a daemon thread. ``start()`` returns once requests are accepted."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = 0, log_level: str = "warning") -> None:
        import uvicorn

        self.host = host
        self._socket = bind_socket(host, port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=2))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else ("[::1]" if self.host == "::" else self.host)
        return f"http://{shown}:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"embrace-server-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise LaunchError(f"the server on {self.url} stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise LaunchError(f"the server on {self.url} did not start within {timeout:.0f} s")
            time.sleep(0.02)
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self) -> None:
        """Block until the server stops; Ctrl-C stops it."""
        try:
            while self.running:
                assert self._thread is not None
                self._thread.join(0.5)
        except KeyboardInterrupt:
            self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()
