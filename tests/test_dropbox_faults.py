"""Dropbox faults through the official SDK against the stand-in: 429 with Retry-After, 5xx,
timeouts, failing pages, refused tokens, unverifiable TLS — each retried within its bound, then a
visible failure naming the account — and concurrency within its bound.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from connectors.services import CredentialError, ServiceError
from standins.dropbox import DropboxStandIn, rate_limited
from standins.dropbox_demo import DEMO_FILES, MARIA_FOLDER
from standins.server import Fault
from tests.dropbox_env import MARIA, MARIA_FILES, assert_safe, connect, demo_standin, files_of


@pytest.fixture
def standin() -> Iterator[DropboxStandIn]:
    yield from demo_standin()


# -- faults -------------------------------------------------------------------------------------


def test_429_waits_retry_after_then_succeeds(standin: DropboxStandIn) -> None:
    standin.server.faults.add(rate_limited(1, times=1, path_contains="/2/files/search_v2"))
    started = time.monotonic()
    findings = connect(standin).find(MARIA)
    assert time.monotonic() - started >= 1.0
    assert files_of(findings) == DEMO_FILES["maria"]
    assert standin.count("files/search_v2") == 2


def test_429_beyond_the_bound_fails_after_a_bounded_number_of_requests(
    standin: DropboxStandIn,
) -> None:
    standin.server.faults.add(rate_limited(0, times=100, path_contains="/2/files/search_v2"))
    with pytest.raises(ServiceError, match="rate-limited after 2 retries") as err:
        connect(standin, max_retries_on_rate_limit=2).find(MARIA)
    assert_safe(str(err.value))
    assert standin.count("files/search_v2") == 3


def test_500s_are_retried_then_succeed(standin: DropboxStandIn) -> None:
    standin.server.faults.add(Fault(status=500, times=2, path_contains="/2/files/download"))
    findings = connect(standin, max_retries_on_error=2).find(MARIA)
    assert files_of(findings) == DEMO_FILES["maria"]
    assert standin.count("files/download") == 3 + 2


def test_500s_beyond_the_bound_fail_the_step(standin: DropboxStandIn) -> None:
    standin.server.faults.add(Fault(status=503, times=100, path_contains="/2/files/delete_v2"))
    connector = connect(standin, max_retries_on_error=2, concurrency=1)
    findings = connector.find(MARIA)
    with pytest.raises(ServiceError, match=r"failed 3 times \(last: HTTP 503\)") as err:
        connector.erase(findings, MARIA)
    assert_safe(str(err.value))
    assert standin.count("files/delete_v2") == 3  # the first file's three attempts, then stop


def test_slow_answers_time_out_then_retry(standin: DropboxStandIn) -> None:
    slow = Fault(status=200, delay=0.6, times=1, path_contains="/2/files/list_folder")
    standin.server.faults.add(slow)
    assert files_of(connect(standin, timeout=0.2).find(MARIA)) == DEMO_FILES["maria"]
    standin.server.faults.add(Fault(status=200, delay=0.6, times=100, path_contains="/2/files/"))
    with pytest.raises(ServiceError, match=r"failed 2 times \(last: timed out after 0.2s\)") as err:
        connect(standin, timeout=0.2, max_retries_on_error=1).find(MARIA)
    assert_safe(str(err.value))


def test_a_failing_page_is_retried_or_fails_the_step(standin: DropboxStandIn) -> None:
    page = "/2/files/list_folder/continue"
    standin.server.faults.add(Fault(status=500, times=1, path_contains=page))
    assert files_of(connect(standin).find(MARIA)) == DEMO_FILES["maria"]
    standin.server.faults.add(Fault(status=500, times=100, path_contains=page))
    with pytest.raises(
        ServiceError, match=r"list_folder/continue failed 2 times \(last: HTTP 500\)"
    ):
        connect(standin, max_retries_on_error=1).find(MARIA)
    standin.server.faults.clear()
    reset = b'{"error_summary": "reset/", "error": {".tag": "reset"}}'
    standin.server.faults.add(Fault(status=409, times=1, path_contains=page, body=reset))
    with pytest.raises(ServiceError, match="reset its cursor"):
        connect(standin).find(MARIA)


def test_a_failing_search_page_fails_the_step(standin: DropboxStandIn) -> None:
    standin.page_size = 1  # her two search matches need a second page
    page = "/2/files/search/continue_v2"
    standin.server.faults.add(Fault(status=502, times=100, path_contains=page))
    with pytest.raises(ServiceError, match="search/continue_v2"):
        connect(standin, max_retries_on_error=1).find(MARIA)
    assert standin.count("files/search/continue_v2") == 2


@pytest.mark.parametrize("expired", [False, True])
def test_a_refused_token_is_a_credential_error_naming_the_account(
    standin: DropboxStandIn, expired: bool
) -> None:
    findings = connect(standin).find(MARIA)
    standin.token_expired = expired
    refused = connect(standin, token=standin.token if expired else "not-the-token")
    for step in (lambda: refused.find(MARIA), lambda: refused.erase(findings, MARIA),
                 lambda: refused.verify(MARIA)):  # fmt: skip
        with pytest.raises(CredentialError) as err:
            step()
        assert ("expired_access_token" if expired else "invalid_access_token") in str(err.value)
        assert "vault://integrations/eu/fabrikam/dropbox" in str(err.value)
        assert_safe(str(err.value))
    assert set(MARIA_FILES) <= set(standin.paths())


def test_retries_must_be_bounded(standin: DropboxStandIn) -> None:
    with pytest.raises(ValueError, match="max_retries_on_rate_limit"):
        connect(standin, max_retries_on_rate_limit=None)
    with pytest.raises(CredentialError):
        connect(standin, token="")


def test_tls_is_verified_for_real(standin: DropboxStandIn) -> None:
    # Without the stand-in's CA the default bundle is used (REQUESTS_CA_BUNDLE is ignored too).
    with pytest.raises(ServiceError, match="TLS verification"):
        connect(standin, ca_file=None).find(MARIA)
    assert standin.count("files/list_folder") == 0


# -- concurrency --------------------------------------------------------------------------------


def test_downloads_and_deletes_run_concurrently_within_the_bound(standin: DropboxStandIn) -> None:
    for n in range(16):
        standin.put(f"{MARIA_FOLDER}/page-{n:02d}.txt", f"page {n}".encode())
    standin.server.faults.add(Fault(status=200, delay=0.1, times=19, path_contains="download"))
    connector = connect(standin, concurrency=4)
    findings = connector.find(MARIA)
    assert len(files_of(findings)) == 19
    assert 2 <= standin.server.max_concurrent <= 4
    standin.server.max_concurrent = 0
    standin.server.faults.add(Fault(status=200, delay=0.1, times=19, path_contains="delete_v2"))
    assert connector.erase(findings, MARIA).applied["files"]["deleted"] == 19
    assert 2 <= standin.server.max_concurrent <= 4
