"""The official Dropbox SDK, made safe to point at a stand-in and bounded in its retries.

**Hosts.** The SDK reads ``DROPBOX_API_HOST`` and ``DROPBOX_API_CONTENT_HOST`` once, when
``dropbox`` is first imported; no constructor argument sets them. So nothing in this project
imports ``dropbox`` at module level: ``sdk()`` imports it on first use (the first connector built),
after ``configure_dropbox_hosts`` set the variables. Both refuse loudly when the SDK runs with other
hosts than the environment names. In production the variables are unset (dropboxapi.com).

**Retries.** 5xx answers, timeouts and dropped connections are retried here,
``max_retries_on_error`` times with exponential back-off from ``retry_wait`` seconds: the SDK does
not retry timeouts at all, and its own 5xx back-off (2^n·random seconds) cannot be shortened for
tests. 429s are retried by the SDK itself, which honours ``retry_after``, at most
``max_retries_on_rate_limit`` times (its default retries forever). Past the bounds every failure
becomes a ``ServiceError`` that names the service and the account label — never a path, a query or
a server's answer, which may hold an identity.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, TypeVar

import requests
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from connectors.services import CredentialError, ServiceAccount, ServiceError

HOST_VARS = ("DROPBOX_API_HOST", "DROPBOX_API_CONTENT_HOST", "DROPBOX_API_NOTIFY_HOST")
SEARCH_CAP = 10_000  # files/search_v2 never returns more; reaching it means results were cut
T = TypeVar("T")


def configure_dropbox_hosts(host_port: str) -> None:
    """Send every Dropbox API call to ``host_port`` (e.g. ``127.0.0.1:8443``, a stand-in).

    Must run before anything in the process imports ``dropbox``; child processes inherit the
    variables. Calling it again with the same value is harmless.
    """
    if "dropbox" in sys.modules and set(_sdk_hosts(sys.modules["dropbox"])) != {host_port}:
        raise RuntimeError(
            "the dropbox SDK was imported before its hosts were configured: call "
            "configure_dropbox_hosts before anything imports dropbox (or start a new process)"
        )
    for var in HOST_VARS:
        os.environ[var] = host_port


def sdk() -> ModuleType:
    """The ``dropbox`` package, imported now, checked to use the hosts the environment names."""
    import dropbox  # lazily: importing fixes the hosts (see the module docstring)

    domain = dropbox.session.API_DOMAIN
    wanted = (
        os.environ.get("DROPBOX_API_HOST", "api" + domain),
        os.environ.get("DROPBOX_API_CONTENT_HOST", "content" + domain),
    )
    if _sdk_hosts(dropbox) != wanted:
        raise ServiceError(
            "dropbox: the SDK was imported before DROPBOX_API_HOST/DROPBOX_API_CONTENT_HOST "
            "were set, so it would call other hosts than configured; set them before the first "
            "import of dropbox (connectors.dropbox.sdk.configure_dropbox_hosts)"
        )
    return dropbox


def _sdk_hosts(module: ModuleType) -> tuple[str, str]:
    return (module.dropbox_client.API_HOST, module.dropbox_client.API_CONTENT_HOST)


class DropboxApi:
    """The SDK client of one connected account, confined to ``sync_root``: bounded retries,
    every page of a listing or search, failures translated, nothing outside the root returned."""

    def __init__(
        self,
        account: ServiceAccount,
        token: str,
        *,
        ca_file: str | None,
        sync_root: str,
        max_retries_on_error: int,
        max_retries_on_rate_limit: int,
        timeout: float,
        concurrency: int,
        retry_wait: float,
    ) -> None:
        bounds = {"max_retries_on_error": max_retries_on_error,
                  "max_retries_on_rate_limit": max_retries_on_rate_limit}  # fmt: skip
        for name, value in bounds.items():
            # None would let the SDK retry forever: a bound is required.
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a whole number ≥ 0, not {value!r}")
        if timeout <= 0 or retry_wait < 0 or concurrency < 1:
            raise ValueError("timeout must be > 0, retry_wait ≥ 0 and concurrency ≥ 1")
        if not sync_root.startswith("/") or sync_root.strip("/") == "":
            raise ValueError("sync_root must be a folder below the Dropbox root, e.g. /iNextCRM")
        self.account = account
        self.sync_root = "/" + sync_root.strip("/")
        self.max_retries_on_error = max_retries_on_error
        self.max_retries_on_rate_limit = max_retries_on_rate_limit
        self.timeout = timeout
        self.concurrency = concurrency
        self.retry_wait = retry_wait
        if ca_file is not None and not os.path.isfile(ca_file):
            raise ValueError(f"ca_file {ca_file} does not exist")
        if not token:
            raise CredentialError(f"{self.who}: no access token ({account.credential_ref})")
        dropbox = sdk()
        self.errors = dropbox.exceptions
        self.files = dropbox.files
        # One connection per worker; the environment's CA bundle (REQUESTS_CA_BUNDLE) and proxies
        # must not override the CA we were given, so the session ignores the environment.
        session = dropbox.create_session(max_connections=concurrency, ca_certs=ca_file)
        session.trust_env = False
        self.client = dropbox.Dropbox(
            oauth2_access_token=token,
            session=session,
            max_retries_on_error=0,  # ours (below): bounded, with a wait tests can shorten
            max_retries_on_rate_limit=max_retries_on_rate_limit,
            timeout=timeout,
            user_agent="iNextCRM-DSR",
        )

    @property
    def who(self) -> str:
        return f"dropbox account {self.account.label}"

    def _transient(self, exc: BaseException) -> bool:
        if isinstance(exc, requests.exceptions.SSLError):
            return False  # a certificate does not get better by asking again
        return isinstance(
            exc,
            self.errors.InternalServerError
            | requests.Timeout
            | requests.ConnectionError
            | requests.exceptions.ChunkedEncodingError,
        )

    def call(self, route: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)`` with retries; ``ApiError`` (a route's own error) passes."""
        attempts = self.max_retries_on_error + 1
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            # Jitter as large as the base wait: concurrent workers must not retry in lockstep.
            wait=wait_exponential(multiplier=self.retry_wait, max=max(self.retry_wait, 30))
            + wait_random(0, self.retry_wait),
            retry=retry_if_exception(self._transient),
            reraise=True,
        )
        e = self.errors  # imported lazily with the SDK, so not nameable at module level
        try:
            return retrying(fn, *args, **kwargs)
        except e.AuthError as exc:
            tag = getattr(exc.error, "_tag", None) or "refused"
            raise CredentialError(
                f"{self.who}: Dropbox refused the access token ({tag}) on {route}; renew the "
                f"credential {self.account.credential_ref} and run the request again"
            ) from None
        except e.RateLimitError:
            raise self.fail(
                route, f"was still rate-limited after {self.max_retries_on_rate_limit} retries"
            ) from None
        except e.InternalServerError as exc:
            raise self.fail(
                route, f"failed {attempts} times (last: HTTP {exc.status_code})"
            ) from None
        except requests.exceptions.SSLError:
            raise self.fail(route, "failed TLS verification: check the CA file") from None
        except requests.Timeout:
            raise self.fail(
                route, f"failed {attempts} times (last: timed out after {self.timeout:g}s)"
            ) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise self.fail(
                route, f"failed {attempts} times (last: {type(exc).__name__})"
            ) from None
        except e.HttpError as exc:
            raise self.fail(route, f"answered HTTP {exc.status_code}") from None
        except (AssertionError, ValueError):
            # The SDK asserts content types and validates every field; its message may quote a
            # value (a path), so only the fact is reported.
            raise self.fail(route, "answered in a form the SDK rejects") from None

    def fail(self, route: str, what: str) -> ServiceError:
        return ServiceError(
            f"{self.who}: {route} {what}; the Dropbox part of the request is incomplete — run it "
            "again later (finding and erasing are safe to repeat)"
        )

    # -- routes ------------------------------------------------------------------------------

    def inside(self, path: str) -> bool:
        return path.lower().startswith(self.sync_root.lower() + "/")

    def list(self, path: str, *, missing_ok: bool = True) -> list[Any]:
        """Every entry below ``path`` (recursive), through all pages; [] if it does not exist."""
        list_folder = self.client.files_list_folder
        try:
            page = self.call("files/list_folder", list_folder, path, recursive=True)
        except self.errors.ApiError as exc:
            if missing_ok and exc.error.is_path() and exc.error.get_path().is_not_found():
                return []
            raise self.fail("files/list_folder", f"found no folder {self.sync_root}") from None
        entries = list(page.entries)
        while page.has_more:
            route, more = "files/list_folder/continue", self.client.files_list_folder_continue
            try:
                page = self.call(route, more, page.cursor)
            except self.errors.ApiError:
                raise self.fail(route, "reset its cursor") from None
            entries.extend(page.entries)
        return [e for e in entries if self.inside(e.path_display or "")]

    def search(self, query: str) -> list[tuple[Any, bool]]:
        """(metadata, matched in content) for every match inside the sync root, all pages."""
        f = self.files
        options = f.SearchOptions(
            path=self.sync_root, max_results=1000, file_status=f.FileStatus.active
        )
        try:
            page = self.call("files/search_v2", self.client.files_search_v2, query, options)
            out = []
            while True:
                for match in page.matches:
                    meta = match.metadata.get_metadata() if match.metadata.is_metadata() else None
                    if meta is not None and self.inside(meta.path_display or ""):
                        tag = match.match_type
                        out.append((meta, tag.is_file_content() or tag.is_filename_and_content()))
                if len(out) >= SEARCH_CAP:
                    raise self.fail("files/search_v2", "hit its 10,000-match cap")
                if not (page.has_more and page.cursor):
                    return out
                more = self.client.files_search_continue_v2
                page = self.call("files/search/continue_v2", more, page.cursor)
        except self.errors.ApiError:
            raise self.fail("files/search_v2", f"could not search {self.sync_root}") from None

    def download(self, file_id: str) -> tuple[Any, bytes] | None:
        """(metadata, content), or None when the file is gone since it was listed."""

        def fetch() -> tuple[Any, bytes]:
            meta, response = self.client.files_download(file_id)
            with response:  # read inside the retry: a body that stalls is retried too
                return meta, response.content

        try:
            return self.call("files/download", fetch)
        except self.errors.ApiError as exc:
            if exc.error.is_path() and exc.error.get_path().is_not_found():
                return None
            raise self.fail("files/download", "refused a file") from None

    def delete(self, target: str) -> bool:
        """True if deleted now, False if it was already gone (erasure is idempotent)."""
        try:
            self.call("files/delete_v2", self.client.files_delete_v2, target)
            return True
        except self.errors.ApiError as exc:
            err = exc.error
            if err.is_path_lookup() and err.get_path_lookup().is_not_found():
                return False
            raise self.fail("files/delete_v2", "refused to delete an item") from None

    def parallel(self, fn: Callable[[str], T], items: list[str]) -> list[T | None]:
        """``fn`` over ``items`` in at most ``concurrency`` threads; the first failure fails all."""
        if not items:
            return []
        stop = threading.Event()

        def run(item: str) -> T | None:
            if stop.is_set():
                return None  # the step has failed already: start nothing new
            try:
                return fn(item)
            except BaseException:
                stop.set()
                raise

        workers = min(self.concurrency, len(items))
        with ThreadPoolExecutor(workers, thread_name_prefix="dropbox") as pool:
            futures = [pool.submit(run, item) for item in items]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for future in futures:
                    future.cancel()  # fail the whole step now: never a silently partial result
                raise
