"""A local HTTP(S) server on 127.0.0.1 that a stand-in service builds on.

Each stand-in (Google, Dropbox, GoToMeeting) implements ``handle(request) -> Response`` with the
real wire format of the subset we use and in-memory state a test can seed and inspect. This base
runs it in a thread, records requests, and injects faults on demand so retry and failure paths
are exercised for real: ``server.faults.add(Fault(status=429, retry_after=1, times=2))``.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class _QuietHandler(WSGIRequestHandler):
    # Request lines can carry query strings with e-mail addresses: never print them.
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with a fault instead of the real answer."""

    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0  # seconds to sleep before answering (slow responses, timeouts)
    times: int = 1
    path_contains: str = ""  # only requests whose path contains this (e.g. a page's cursor)
    body: bytes = b'{"error": "injected fault"}'
    content_type: str = "application/json"


@dataclass
class Faults:
    pending: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.pending.append(fault)

    def clear(self) -> None:
        with self.lock:
            self.pending.clear()

    def take(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.pending:
                if fault.times > 0 and fault.path_contains in path:
                    fault.times -= 1
                    if fault.times == 0:
                        self.pending.remove(fault)
                    return fault
        return None


class StandInServer:
    """Serve ``handle`` on 127.0.0.1 (TLS when given an SSL context) in a daemon thread."""

    def __init__(
        self,
        handle: Callable[[Request], Response],
        *,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._handle = handle
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []  # (method, path): no bodies, no identities
        self.max_concurrent = 0
        self._active = 0
        self._count_lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1",
            port,
            self._wsgi,
            threaded=True,
            ssl_context=ssl_context,
            request_handler=_QuietHandler,
        )
        self.port = self._server.server_port
        self.scheme = "https" if ssl_context else "http"
        # A short poll interval: stopping a stand-in takes 0.05 s, not 0.5 s, per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wsgi(self, environ: dict, start_response: Callable) -> object:
        request = Request(environ)
        with self._count_lock:
            self.requests.append((request.method, request.path))
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            fault = self.faults.take(request.full_path)
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status < 400:
                    response = self._handle(request)
                else:
                    response = Response(
                        fault.body, status=fault.status, content_type=fault.content_type
                    )
                    if fault.retry_after is not None:
                        response.headers["Retry-After"] = str(fault.retry_after)
            else:
                response = self._handle(request)
            return response(environ, start_response)
        finally:
            with self._count_lock:
                self._active -= 1
