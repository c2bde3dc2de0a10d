"""What the benchmark does to a stand-in's traffic, and what it reads back from it.

``Traffic`` replaces a stand-in server's ``faults`` (``StandInServer`` only calls ``take(path)``,
``add`` and ``clear`` on it), so nothing in ``standins/`` is changed to measure it. For every
request that reaches the server it records the arrival time, then:

- a scripted ``Fault`` added with ``add`` is served first, as the stand-in does;
- otherwise, with probability ``rate``, or for ``burst_s`` seconds from the ``burst_at``-th
  request on, a 429 with ``Retry-After`` (the service's own body);
- otherwise a ``delay`` before the real answer: a stand-in on 127.0.0.1 answers in about a
  millisecond, a real API in tens of them, and without that latency concurrency has nothing to
  overlap but the GIL.

``Window`` snapshots the server's counters around one phase (find, erase, verify), with the
retries the connector made (``count_waits``, ``SdkRetries``); the ``*_429`` faults are each
service's own 429 answer.
"""

from __future__ import annotations

import bisect
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from standins.dropbox import rate_limited  # the stand-in only: it never imports the SDK
from standins.server import Fault, Faults, StandInServer


class Traffic(Faults):
    def __init__(
        self,
        *,
        latency: float,
        make_429: Callable[[], Fault],
        rate: float = 0.0,
        burst_at: int = 0,
        burst_s: float = 0.0,
        seed: int = 7,
    ) -> None:
        super().__init__()
        self.latency = latency
        self.rate = rate
        self.make_429 = make_429
        self.burst_at, self.burst_s = burst_at, burst_s  # from request no. burst_at, all 429
        self._burst_start: float | None = None
        self.arrivals: list[float] = []  # monotonic, every request, faults included
        self.injected = 0  # 429s this object answered
        self.client_retries = 0  # retries the connector made, counted by a hook of the run
        self._rng = random.Random(seed)
        self._mutex = threading.Lock()

    def count_retry(self) -> None:
        with self._mutex:
            self.client_retries += 1

    def take(self, path: str) -> Fault | None:
        scripted = super().take(path)
        with self._mutex:
            now = time.monotonic()
            self.arrivals.append(now)
            if scripted is not None:
                return scripted
            if self.burst_at and len(self.arrivals) >= self.burst_at and not self._burst_start:
                self._burst_start = now
            in_burst = self._burst_start is not None and now < self._burst_start + self.burst_s
            if in_burst or (self.rate and self._rng.random() < self.rate):
                self.injected += 1
                fault = self.make_429()
                fault.delay = self.latency
                return fault
        return Fault(status=200, delay=self.latency) if self.latency else None


def install(server: StandInServer, **options: Any) -> Traffic:
    traffic = Traffic(**options)
    server.faults = traffic
    return traffic


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most arrivals in any ``width``-second window (windows start at an arrival)."""
    best = 0
    for i, start in enumerate(times):
        best = max(best, bisect.bisect_left(times, start + width, lo=i) - i)
    return best


@dataclass
class Window:
    """Counters of one server over one phase: call ``open`` before, ``close`` after."""

    server: StandInServer
    traffic: Traffic
    _requests: int = 0
    _arrivals: int = 0
    _injected: int = 0
    _retries: int = 0
    _start: float = 0.0

    def open(self) -> Window:
        self.server.max_concurrent = 0  # the high-water mark of this phase only
        self._requests = len(self.server.requests)
        self._arrivals = len(self.traffic.arrivals)
        self._injected = self.traffic.injected
        self._retries = self.traffic.client_retries
        self._start = time.perf_counter()
        return self

    def requests_so_far(self) -> int:
        return len(self.server.requests) - self._requests

    def close(self) -> dict[str, Any]:
        seconds = time.perf_counter() - self._start
        arrivals = sorted(self.traffic.arrivals[self._arrivals :])
        return {
            "seconds": seconds,
            "requests": len(self.server.requests) - self._requests,
            "retried_429": self.traffic.injected - self._injected,
            "client_retries": self.traffic.client_retries - self._retries,
            "peak_concurrency": self.server.max_concurrent,
            "max_per_1s": max_in_window(arrivals),
        }


def count_waits(api: Any, traffic: Traffic) -> None:
    """Count the connector's retries: its tenacity ``wait`` runs once before each retry."""
    wait = api._wait

    def counted(state: Any) -> float:
        traffic.count_retry()
        return wait(state)

    api._wait = counted


class SdkRetries(logging.Handler):
    """The Dropbox SDK retries a 429 itself and says so at INFO ("Ratelimit: Retrying ...")."""

    def __init__(self, traffic: Traffic) -> None:
        super().__init__(logging.INFO)
        self.traffic = traffic

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Ratelimit: Retrying"):
            self.traffic.count_retry()


def google_429() -> Fault:
    error = {
        "code": 429,
        "message": "Rate Limit Exceeded",
        "status": "RESOURCE_EXHAUSTED",
        "errors": [{"reason": "rateLimitExceeded", "domain": "usageLimits"}],
    }
    return Fault(status=429, body=json.dumps({"error": error}).encode())


def goto_429() -> Fault:
    body = {"int_err_code": "TooManyRequests", "msg": "Rate limit exceeded"}
    return Fault(status=429, body=json.dumps(body).encode())


def dropbox_429(retry_after: float) -> Fault:
    return rate_limited(max(1, round(retry_after)))  # Dropbox sends whole seconds
