"""A fault-injecting HTTP proxy on 127.0.0.1, for tests and ``bench/reliability.py``.

It sits in front of a real OpenAI-compatible server (the llama.cpp server in tests) and, on a
seeded schedule, answers a share of the POST calls with a fault instead of the server's
answer::

    rate_limit   429 + Retry-After and an OpenAI-shaped error body
    server_error 500 with an OpenAI-shaped error body
    unavailable  503 with an HTML body, as a load balancer sends it
    stall        accepts the request, then says nothing for ``stall_s`` (past the client timeout)
    reset        forwards the call, sends the headers and half the body, closes the connection
    truncated    forwards the call, answers 200 with the first half of the JSON body
    not_json     forwards the call, answers 200 with an HTML page

Calls whose body contains one of ``always_fail`` strings are always answered 503, so a test
can make a failure outlast every retry. ``auth`` answers every POST with a 401 shaped like the
real OpenAI one (the key masked as OpenAI masks it). GET calls (``/v1/models``) pass through.
Every decision is logged in ``events`` (call number, path, fault or ``None``).
"""

from __future__ import annotations

import json
import random
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import httpx

FAULTS = (
    "rate_limit", "server_error", "unavailable", "stall", "reset", "truncated", "not_json",
)  # fmt: skip
FORWARDING_FAULTS = {"reset", "truncated", "not_json"}  # the real server does the work first
HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n"


@dataclass
class FaultEvent:
    index: int
    method: str
    path: str
    fault: str | None
    status: int | None = None


@dataclass
class FaultSchedule:
    """Which calls fail, and how: seeded, so a run can be repeated exactly."""

    seed: int = 0
    rate: float = 0.3
    faults: tuple[str, ...] = FAULTS
    always_fail: tuple[str, ...] = ()
    auth: bool = False
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate should be in [0, 1], got {self.rate}")
        self._rng = random.Random(self.seed)

    def next_fault(self, body: bytes) -> str | None:
        if self.auth:
            return "auth"
        if any(marker.encode() in body for marker in self.always_fail):
            return "targeted"
        draw, choice = self._rng.random(), self._rng.choice(self.faults)
        return choice if draw < self.rate else None


class FaultProxy:
    """``with FaultProxy(upstream_base_url, FaultSchedule(seed=1)) as proxy: proxy.base_url``."""

    def __init__(
        self,
        upstream: str,
        schedule: FaultSchedule | None = None,
        *,
        stall_s: float = 6.0,
        retry_after_s: int = 1,
    ) -> None:
        parsed = urlparse(upstream)
        self.upstream_origin = f"{parsed.scheme}://{parsed.netloc}"
        self.path_prefix = parsed.path.rstrip("/")
        self.schedule = schedule or FaultSchedule()
        self.stall_s = stall_s
        self.retry_after_s = retry_after_s
        self.events: list[FaultEvent] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=300.0)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path_prefix}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_schedule(self, schedule: FaultSchedule) -> None:
        """Change the faults from now on (same port, so a judges file stays the same)."""
        with self._lock:
            self.schedule = schedule

    def decide(self, method: str, path: str, body: bytes) -> FaultEvent:
        with self._lock:
            fault = self.schedule.next_fault(body) if method == "POST" else None
            event = FaultEvent(len(self.events), method, path, fault)
            self.events.append(event)
            return event

    def counts(self) -> dict[str, int]:
        """Calls per outcome (``ok`` for passed through)."""
        with self._lock:
            out: dict[str, int] = {}
            for event in self.events:
                if event.method == "POST":
                    key = event.fault or "ok"
                    out[key] = out.get(key, 0) + 1
            return out

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        keep = {k: v for k, v in headers.items() if k.lower() not in HOP_HEADERS}
        return self._client.request(method, self.upstream_origin + path, headers=keep, content=body)


HOP_HEADERS = {"host", "connection", "keep-alive", "content-length", "transfer-encoding",
               "accept-encoding"}


def openai_error(message: str, kind: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None,
                                 "code": code}}).encode()


def masked_key(authorization: str) -> str:
    """The key as OpenAI's 401 message shows it: first 8 and last 4 characters."""
    key = authorization.removeprefix("Bearer ").strip()
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:]


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: tests read ``proxy.events``

        def do_GET(self) -> None:  # noqa: N802
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST")

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            event = proxy.decide(method, self.path, body)
            fault = event.fault
            try:
                if fault is None:
                    upstream = proxy.forward(method, self.path, dict(self.headers), body)
                    event.status = upstream.status_code
                    self._send(upstream.status_code, upstream.content,
                               upstream.headers.get("content-type", "application/json"))
                elif fault in FORWARDING_FAULTS:
                    upstream = proxy.forward(method, self.path, dict(self.headers), body)
                    self._broken_answer(event, upstream.content)
                else:
                    self._refuse(event)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (its timeout): that is the point of a stall
            except (httpx.HTTPError, RuntimeError):
                event.status = 502  # the upstream failed, or the proxy is shutting down
                self.close_connection = True

        def _refuse(self, event: FaultEvent) -> None:
            fault = event.fault
            if fault == "stall":
                proxy._closing.wait(proxy.stall_s)
                self.close_connection = True
                return
            if fault == "rate_limit":
                event.status = 429
                self._send(429, openai_error("Rate limit reached for requests", "requests",
                                             "rate_limit_exceeded"),
                           extra={"Retry-After": str(proxy.retry_after_s)})
            elif fault == "server_error":
                event.status = 500
                self._send(500, openai_error("The server had an error while processing your "
                                             "request.", "server_error"))
            elif fault in ("unavailable", "targeted"):
                event.status = 503
                self._send(503, HTML_PAGE.replace(b"502 Bad Gateway", b"503 Service Unavailable"),
                           "text/html")
            elif fault == "auth":
                event.status = 401
                shown = masked_key(self.headers.get("Authorization", ""))
                self._send(401, openai_error(
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    "invalid_request_error", "invalid_api_key"))

        def _broken_answer(self, event: FaultEvent, content: bytes) -> None:
            event.status = 200
            if event.fault == "not_json":
                self._send(200, HTML_PAGE, "text/html")
            elif event.fault == "truncated":
                self._send(200, content[: max(1, len(content) // 2)])
            else:  # reset: promise the whole body, send half, hang up
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content[: len(content) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        def _send(self, status: int, content: bytes, content_type: str = "application/json",
                  extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)

    return Handler



class GeminiStub:
    """The Gemini REST API's ``generateContent``, shaped like the real one, on 127.0.0.1.

    Answers every call with ``text`` as the model's reply, or (``reject=True``) with the real
    400 ``API_KEY_INVALID`` error. ``keys_seen`` holds the ``x-goog-api-key`` headers received.
    """

    def __init__(self, text: str, *, reject: bool = False, model: str = "gemini-2.5-flash"):
        self.text, self.reject, self.model = text, reject, model
        self.keys_seen: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.keys_seen.append(self.headers.get("x-goog-api-key", ""))
                status, body = stub.answer()
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def answer(self) -> tuple[int, dict]:
        if self.reject:
            return 400, {"error": {
                "code": 400, "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                     "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                     "metadata": {"service": "generativelanguage.googleapis.com"}},
                    {"@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                     "locale": "en-US", "message": "API key not valid. Please pass a valid API key."},
                ]}}
        return 200, {
            "candidates": [{"content": {"parts": [{"text": self.text}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 412, "candidatesTokenCount": 61,
                              "totalTokenCount": 473,
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 412}]},
            "modelVersion": self.model,
            "responseId": "q2N9aPq3CpSrz7IPl7mE6Qk",
        }

    def __enter__(self) -> GeminiStub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


__all__ = ["FAULTS", "FaultEvent", "FaultProxy", "FaultSchedule", "GeminiStub", "masked_key"]
