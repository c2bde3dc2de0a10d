"""A `dagster dev` (webserver and daemon) on a DAGSTER_HOME, for measurements and tests that
need what the UI and the daemon do: queued runs dequeued, sensors ticking."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from dsr.cli.demo import stop_group

REPO = Path(__file__).resolve().parents[1]
REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"
DONE = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dagster_dev(
    dagster_home: Path, workspace: Path, log_path: Path, *, locations: int = 1
) -> Iterator[tuple[DagsterGraphQLClient, str]]:
    """The GraphQL client and the UI's base URL, once ``locations`` code locations loaded."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "DAGSTER_WEBSERVER_URL": url}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # `dagster dev` stops only when its whole group gets SIGINT
        )
        try:
            yield _wait_for_server(port, proc, log_path, locations), url
        finally:
            stop_group(proc, timeout=30)


def _wait_for_server(
    port: int, proc: subprocess.Popen, log: Path, locations: int
) -> DagsterGraphQLClient:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                pass
            client = DagsterGraphQLClient("127.0.0.1", port_number=port)
            nodes = client._execute(REPOSITORIES)["repositoriesOrError"].get("nodes", [])
            if len(nodes) >= locations:
                return client
        except (OSError, DagsterGraphQLClientError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"dagster dev did not load the code location:\n{log.read_text()[-3000:]}")


def wait_for_run(client: DagsterGraphQLClient, run_id: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id)
        if status in DONE:
            return status.value
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} did not finish in {timeout:.0f} s")
