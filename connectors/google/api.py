"""Calls to Google through the real client library: bounded retries, errors without identities.

The services are built offline from the discovery documents the library ships. Every request goes
through ``GoogleApi.execute``: 429 (honouring ``Retry-After``), 5xx, rate-limit 403s and timeouts
are retried with back-off up to ``max_retries``; then a ``ServiceError`` names the API and the
account label. A 401 is a ``CredentialError``. Messages never carry the request URI, which holds
query values such as a person's e-mail.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from connectors.http_retry import retry_after_seconds
from connectors.services import CredentialError, ServiceError

_APIS = {"people": ("v1", ""), "calendar": ("v3", "calendar/v3/"), "drive": ("v3", "drive/v3/")}
_RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_TRANSPORT_ERRORS = (TimeoutError, ConnectionError, httplib2.HttpLib2Error)


class _RedactUrls(logging.Filter):
    """The client logs request URLs at debug level; their query strings can hold an e-mail."""

    _QUERY = re.compile(r"\?\S*")
    _ADDRESS = re.compile(r"[^\s/?&=]+(?:@|%40)[^\s/?&]+")

    def filter(self, record: logging.LogRecord) -> bool:
        text = self._ADDRESS.sub("<redacted>", self._QUERY.sub("?<redacted>", record.getMessage()))
        record.msg, record.args = text, ()
        return True


for _name in ("googleapiclient.discovery", "googleapiclient.http", "google_auth_httplib2"):
    logging.getLogger(_name).addFilter(_RedactUrls())


class ApiRefused(ServiceError):
    """Google answered the request with an error that retrying will not change."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(ApiRefused):
    """404 or 410: the item is already gone (erasure treats that as done, not as a failure)."""


class PreconditionFailed(ApiRefused):
    """412: the item changed since it was read (an etag no longer matches)."""


def _reason(exc: HttpError) -> str:
    try:
        error = json.loads(exc.content)["error"]
        return str((error.get("errors") or [{}])[0].get("reason") or error.get("status") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, HttpError):
        status = exc.status_code
        return (
            status == 429
            or status >= 500
            or (status == 403 and _reason(exc) in _RATE_LIMIT_REASONS)
        )
    return isinstance(exc, _TRANSPORT_ERRORS)


def _retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, HttpError) or exc.resp is None:
        return None
    return retry_after_seconds(exc.resp.get("retry-after"))


class GoogleApi:
    """The three services of one account, shared by a small pool of threads.

    httplib2 connections are not thread-safe, so each thread executes through its own
    ``AuthorizedHttp``; the service objects only build requests and are shared.
    """

    def __init__(
        self,
        label: str,
        token: str,
        *,
        base_url: str | None,
        max_retries: int,
        timeout: float,
        backoff: float,
        max_backoff: float,
    ) -> None:
        self.label = label
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._credentials = Credentials(token=token)
        self._local = threading.local()
        self._services: dict[str, Any] = {}
        for api, (version, service_path) in _APIS.items():
            options = (
                {"api_endpoint": base_url.rstrip("/") + "/" + service_path} if base_url else None
            )
            self._services[api] = build(
                api,
                version,
                http=self._http(),
                static_discovery=True,
                cache_discovery=False,
                client_options=options,
            )

    @property
    def people(self) -> Any:
        return self._services["people"]

    @property
    def calendar(self) -> Any:
        return self._services["calendar"]

    @property
    def drive(self) -> Any:
        return self._services["drive"]

    def _http(self) -> google_auth_httplib2.AuthorizedHttp:
        http = getattr(self._local, "http", None)
        if http is None:
            http = google_auth_httplib2.AuthorizedHttp(
                self._credentials, http=httplib2.Http(timeout=self.timeout)
            )
            self._local.http = http
        return http

    def _reset_http(self) -> None:
        # After a timeout httplib2 may keep the socket with the late answer still to come: a
        # retry on it could read that stale response, so the thread starts a fresh connection.
        http = getattr(self._local, "http", None)
        if http is not None:
            http.http.close()
            self._local.http = None

    def _before_sleep(self, state: RetryCallState) -> None:
        if state.outcome is not None and isinstance(state.outcome.exception(), _TRANSPORT_ERRORS):
            self._reset_http()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        told = _retry_after(exc)
        if told is not None:
            return min(told, self.max_backoff)
        exp = self.backoff * 2 ** (state.attempt_number - 1)
        return min(exp * (0.5 + random.random() / 2), self.max_backoff)  # jitter spreads threads

    def execute(self, request: Any, what: str) -> Any:
        """Run one request; ``what`` ("drive files.list") goes into errors, never values."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_transient),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return request.execute(http=self._http())
        except RefreshError:
            raise self._refused() from None
        except HttpError as exc:
            status = exc.status_code
            if status == 401:
                raise self._refused() from None
            if status in (404, 410):
                raise NotFound(f"google {what} for {self.label}: HTTP {status}") from None
            if status == 412:
                raise PreconditionFailed(f"google {what} for {self.label}: HTTP 412") from None
            reason = _reason(exc)
            message = f"google {what} failed for {self.label}: HTTP {status} {reason}"
            if _transient(exc):
                raise ServiceError(
                    f"{message} after {self.max_retries + 1} attempts; "
                    "the request is incomplete for this account"
                ) from None
            raise ApiRefused(
                f"{message}; the request is incomplete for this account", status, reason
            ) from None
        except _TRANSPORT_ERRORS as exc:
            self._reset_http()
            raise ServiceError(
                f"google {what} for {self.label} did not answer ({type(exc).__name__}, "
                f"timeout {self.timeout}s) after {self.max_retries + 1} attempts; "
                "the request is incomplete for this account"
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused(self) -> CredentialError:
        return CredentialError(f"credential for {self.label} was refused: renew it")

    def pages(self, make: Callable[[str | None], Any], items: str, what: str) -> Iterator[dict]:
        """Every item of a paged list, following ``nextPageToken`` to the end.

        A page that still fails after the retries raises: a list is whole or not at all.
        """
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.execute(make(token), what)
            if page.get("incompleteSearch"):
                raise ServiceError(
                    f"google {what} for {self.label} answered with an incomplete search; "
                    "the request is incomplete for this account"
                )
            yield from page.get(items, [])
            token = page.get("nextPageToken")
            if not token:
                return
            if token in seen:
                raise ServiceError(f"google {what} for {self.label} repeated a page token")
            seen.add(token)
