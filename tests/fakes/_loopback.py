"""The one piece the HTTP fakes share: a ThreadingHTTPServer on a free port of 127.0.0.1, served by a daemon thread.

Usage (inside a fake)::

    self._http = LoopbackHTTPServer()
    self._http.start(Handler, "my-fake")     # Handler: a QuietHandler (or BaseHTTPRequestHandler) subclass
    self._http.port                          # the port it listens on
    self._http.stop()                        # idempotent; waits at most one poll interval

It is also a context manager (`with LoopbackHTTPServer().start(Handler) as srv:`) that stops on exit.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """Base request handler of the fakes: HTTP/1.1 (keep-alive, like the real services) and no request log."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


class LoopbackHTTPServer:
    """Start/stop a ThreadingHTTPServer bound to 127.0.0.1 on a port the OS picks."""

    def __init__(self, poll_interval: float = 0.05) -> None:
        self.poll_interval = poll_interval  # how often serve_forever looks for shutdown(): stop() waits that long
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, handler_cls: type[BaseHTTPRequestHandler], name: str | None = None) -> LoopbackHTTPServer:
        """Listen on a free port and serve each request in its own daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": self.poll_interval}, name=name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and close its socket (a no-op when it is not running)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None, "start() first"
        return int(self._server.server_address[1])

    def __enter__(self) -> LoopbackHTTPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
