"""The GoToMeeting REST client: bearer token, client-side rate limit, bounded retries, clear errors.

GoTo answers more than its documented 10 requests/s with 429, and httpx does not retry. Every call
waits for a slot of the shared ``RateLimiter``, then is tried up to ``max_attempts`` times
(tenacity) on a 429 (waiting ``Retry-After``), a 5xx, a timeout, a broken connection or a malformed
body. After that, or on any other refusal, it raises ``ServiceError`` naming the account label; a
401 raises ``CredentialError``. Errors and logs name the operation ("organizer lookup", "attendees
of meeting 123"), never a URL: query strings carry e-mail addresses.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.gotomeeting.host_rate_limit import HostRateLimiter
from connectors.http_retry import retry_after_seconds
from connectors.services import CredentialError, ServiceAccount, ServiceError

log = logging.getLogger(__name__)
T = TypeVar("T")


class RateLimiter:
    """At most ``rate_per_second`` request starts per second across all threads. The window is
    ``margin`` longer than a second so that network jitter cannot squeeze one second's worth of
    our requests into less than a second of the server's clock."""

    def __init__(self, rate_per_second: float, margin: float = 0.1) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.capacity = max(1, math.floor(rate_per_second))
        self.period = self.capacity / rate_per_second + margin
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        """A 429 holds every thread back, not only the one that received it."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def acquire(self) -> None:
        with self._lock:  # held while waiting, so waiters take free slots one at a time
            while True:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self.period:
                    self._sent.popleft()
                wait = self._paused_until - now
                if len(self._sent) >= self.capacity:
                    wait = max(wait, self._sent[0] + self.period - now)
                if wait <= 0:
                    self._sent.append(now)
                    return
                time.sleep(wait)


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class GoToClient:
    """One connected account's API session; thread-safe, so ``parallel`` may share it."""

    def __init__(
        self,
        account: ServiceAccount,
        token: str,
        *,
        base_url: str,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff: float = 0.5,
        max_wait: float = 30.0,
        rate_per_second: float = 10.0,
        concurrency: int = 4,
        limiter: RateLimiter | HostRateLimiter | None = None,
    ) -> None:
        if not token:
            raise CredentialError(f"{account.label}: no access token for {account.credential_ref}")
        if max_attempts < 1 or concurrency < 1:
            raise ValueError("max_attempts and concurrency must be at least 1")
        self.account, self.max_attempts, self.concurrency = account, max_attempts, concurrency
        self.backoff, self.max_wait = backoff, max_wait
        # Shared with every other client of the account when given (HostRateLimiter).
        self.limiter = limiter or RateLimiter(rate_per_second)
        self._client = httpx.Client(
            base_url=base_url,
            trust_env=False,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, op: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """The JSON list at ``path``; a 404 (no such organizer or meeting) is an empty list."""
        return self._call("GET", path, op, params)

    def delete(self, path: str, op: str) -> bool:
        """True if deleted now, False if it was already gone (404)."""
        return self._call("DELETE", path, op, None)

    def parallel(self, calls: Iterable[Callable[[], T]]) -> list[T]:
        """Results in order, at most ``concurrency`` in flight; the first failure fails them all."""
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="gotomeeting") as pool:
            futures = [pool.submit(call) for call in calls]
            try:
                return [f.result() for f in futures]
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    def _call(self, method: str, path: str, op: str, params: dict[str, str] | None) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._log_retry(op),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, path, op, params)
        except _Transient as exc:
            raise ServiceError(
                f"{self.account.label}: {op} failed after {self.max_attempts} attempts "
                f"({exc.reason}); GoToMeeting was not fully searched or erased, run the step again"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, method: str, path: str, op: str, params: dict[str, str] | None) -> Any:
        self.limiter.acquire()
        try:
            response = self._client.request(method, path, params=params)
        except httpx.TimeoutException:
            raise _Transient("timed out") from None
        except httpx.TransportError as exc:
            raise _Transient(type(exc).__name__) from None
        status = response.status_code
        if status == 401:
            raise CredentialError(
                f"{self.account.label}: GoToMeeting refused the access token (HTTP 401); renew "
                f"the credential {self.account.credential_ref}"
            )
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            self.limiter.pause(min(self.backoff if wait is None else wait, self.max_wait))
            raise _Transient("HTTP 429, rate limited", wait)
        if status >= 500:
            raise _Transient(f"HTTP {status}")
        if status == 404:
            return [] if method == "GET" else False
        if status >= 400:
            hint = "; the connected account needs the admin role" if status == 403 else ""
            raise ServiceError(f"{self.account.label}: {op} was refused (HTTP {status}){hint}")
        if method != "GET":
            return True
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, list):  # a broken page: retried like a server error
            raise _Transient("malformed response")
        return body

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            # Honoured up to max_wait: a longer wait fails the attempt rather than hang the run.
            return min(exc.retry_after, self.max_wait)
        return min(self.backoff * 2 ** (state.attempt_number - 1), self.max_wait)

    def _log_retry(self, op: str) -> Callable[[RetryCallState], None]:
        def log_it(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s: %s: %s (attempt %d)", self.account.label, op, exc, state.attempt_number
            )

        return log_it
