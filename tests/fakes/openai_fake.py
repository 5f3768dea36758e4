"""An OpenAI-compatible chat-completions server on 127.0.0.1, driven by the real `openai` client.

Usage::

    from fakes.openai_fake import OpenAIFake, answer, status, stall, non_json

    with OpenAIFake() as llm:                       # starts on a free port
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)       # http://127.0.0.1:PORT/v1
        llm.push(answer("This paper merges adapters without retraining."),   # scripted, in order
                 status(429, retry_after=0.05), answer("..."),                # 429 with Retry-After, then ok
                 status(500), stall(3.0), non_json("<html>oops</html>"))
        ... run the code under test ...
        llm.requests            # list of {"path", "body" (parsed JSON), "authorization"} in arrival order
        llm.paper_titles()      # the "Title:" line of each chat request

When the queue is empty, `default` answers (a callable from the request body to a behaviour, or a fixed
behaviour; initially a fixed good one-sentence answer). Behaviours:
`answer(text, tokens=...)` a chat completion (with `usage` unless tokens is None), `status(code, retry_after=...)`
an error JSON with that HTTP status (`retry_after` sent as `retry-after-ms` too, so clients wait briefly),
`stall(seconds)` no answer for that long (released early by `close()`), `non_json(body)` a 200 that is not JSON.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes._loopback import LoopbackHTTPServer, QuietHandler

GOOD_ANSWER = "This paper introduces a training-free way to merge fine-tuned models into one multi-task model."


@dataclass
class Behaviour:
    """One scripted response."""

    kind: str  # answer | status | stall | non_json
    text: str = ""
    tokens: int | None = 42
    code: int = 200
    retry_after: float | None = None
    seconds: float = 0.0


def answer(text: str = GOOD_ANSWER, tokens: int | None = 42) -> Behaviour:
    """A chat completion whose message content is `text` (`usage.total_tokens` = tokens, omitted when None)."""
    return Behaviour("answer", text=text, tokens=tokens)


def status(code: int, retry_after: float | None = None, message: str = "scripted error") -> Behaviour:
    """An OpenAI-style error body with HTTP `code` (and Retry-After when given)."""
    return Behaviour("status", code=code, retry_after=retry_after, text=message)


def stall(seconds: float) -> Behaviour:
    """Hold the request without answering for `seconds` (then answer normally, usually too late)."""
    return Behaviour("stall", seconds=seconds)


def non_json(body: str = "<html><body>502 Bad Gateway</body></html>") -> Behaviour:
    """HTTP 200 with a body that is not JSON."""
    return Behaviour("non_json", text=body)


class OpenAIFake:
    """The server: `push` behaviours, read `requests`; use as a context manager or start()/close()."""

    def __init__(self, default: Behaviour | Callable[[dict[str, Any]], Behaviour] | None = None) -> None:
        self.default: Behaviour | Callable[[dict[str, Any]], Behaviour] = default or answer()
        self.requests: list[dict[str, Any]] = []
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._http = LoopbackHTTPServer()

    # lifecycle ------------------------------------------------------------------------------------
    def start(self) -> OpenAIFake:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                fake._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                self._send(404, {"error": {"message": "not found"}})

            def _send(self, code: int, obj: Any) -> None:
                fake._write(self, code, json.dumps(obj).encode(), "application/json")

        self._http.start(Handler, "openai-fake")
        return self

    def close(self) -> None:
        """Stop the server and release stalled requests."""
        self._closing.set()
        self._http.stop()

    def __enter__(self) -> OpenAIFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The port it listens on."""
        return self._http.port

    @property
    def base_url(self) -> str:
        """The value for OPENAI_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    # scripting ------------------------------------------------------------------------------------
    def push(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def pending(self) -> int:
        """Behaviours still queued."""
        with self._lock:
            return len(self._queue)

    def paper_titles(self) -> list[str]:
        """The 'Title:' line of each chat request received, in order."""
        out = []
        for r in self.requests:
            text = " ".join(str(m.get("content", "")) for m in (r.get("body") or {}).get("messages", []))
            m = re.search(r"Title: (.*)", text)
            out.append(m.group(1).strip() if m else "")
        return out

    # serving --------------------------------------------------------------------------------------
    def _next(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.default(body) if callable(self.default) else self.default

    def _write(self, handler: BaseHTTPRequestHandler, code: int, data: bytes, ctype: str,
               headers: dict[str, str] | None = None) -> None:
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up (timeout): nothing to answer to
            pass

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        with self._lock:
            self.requests.append({"path": handler.path, "body": body,
                                  "authorization": handler.headers.get("Authorization")})
        if not handler.path.rstrip("/").endswith("/chat/completions"):
            self._write(handler, 404, b'{"error": {"message": "only /v1/chat/completions here"}}', "application/json")
            return
        b = self._next(body)
        if b.kind == "stall":
            self._closing.wait(b.seconds)
            b = answer()
        if b.kind == "status":
            headers = {"x-should-retry": "true"} if b.code in (429, 500, 502, 503) else {}
            if b.retry_after is not None:
                headers["retry-after"] = f"{b.retry_after:g}"
                headers["retry-after-ms"] = str(int(b.retry_after * 1000))
            err = {"error": {"message": b.text, "type": "scripted", "code": b.code}}
            self._write(handler, b.code, json.dumps(err).encode(), "application/json", headers)
        elif b.kind == "non_json":
            self._write(handler, 200, b.text.encode(), "text/html")
        else:
            self._write(handler, 200, json.dumps(self._completion(body, b)).encode(), "application/json")

    @staticmethod
    def _completion(body: dict[str, Any], b: Behaviour) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f"chatcmpl-fake-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": b.text}}],
        }
        if b.tokens is not None:
            out["usage"] = {"prompt_tokens": max(0, b.tokens - 10), "completion_tokens": min(10, b.tokens),
                            "total_tokens": b.tokens}
        return out
