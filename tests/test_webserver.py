"""Launching through Dagster's GraphQL API against a live dagster-webserver, as the UI does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from bench.live import REPO, free_port
from dsr.cli.demo import stop_group
from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import State
from tests.dsr_env import DsrEnv, environment, make_env

# Without the daemon, the default queued coordinator would leave launched runs queued forever.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""

REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }"
# What the Launchpad asks for when it opens a job: the YAML it shows, and whether it is valid.
LAUNCHPAD = """
query Launchpad($selector: PipelineSelector!, $config: RunConfigData!) {
  runConfigSchemaOrError(selector: $selector) {
    ... on RunConfigSchema {
      rootDefaultYaml
      isRunConfigValid(runConfigData: $config) { __typename }
    }
  }
}
"""


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[DsrEnv, DagsterGraphQLClient]]:
    home = tmp_path / "home"
    with environment(home):
        env = make_env(home)
        (env.settings.dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
        port = free_port()
        log = (tmp_path / "webserver.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster_webserver",
                "-w",
                str(REPO / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=REPO,
            env={**os.environ, "DAGSTER_HOME": str(env.settings.dagster_home)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the whole group stops on SIGINT
        )
        try:
            client = wait_for_server(port, proc, tmp_path / "webserver.log")
            yield env, client
        finally:
            stop_group(proc, timeout=20)
            log.close()


def wait_for_server(port: int, proc: subprocess.Popen, log: Path) -> DagsterGraphQLClient:
    """Wait until the webserver answers and has loaded our code location."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                pass
            client = DagsterGraphQLClient("127.0.0.1", port_number=port)
            nodes = client._execute(REPOSITORIES)["repositoriesOrError"].get("nodes", [])
            if any(n["name"] == "__repository__" for n in nodes):
                return client
        except (OSError, DagsterGraphQLClientError):
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not load the code location:\n{log.read_text()[-3000:]}")


def wait_for_run(client: DagsterGraphQLClient, run_id: str) -> DagsterRunStatus:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id)
        if status in (
            DagsterRunStatus.SUCCESS,
            DagsterRunStatus.FAILURE,
            DagsterRunStatus.CANCELED,
        ):
            return status
        time.sleep(0.5)
    pytest.fail(f"run {run_id} did not finish")


def test_support_flow_through_graphql(live: tuple[DsrEnv, DagsterGraphQLClient]) -> None:
    env, client = live
    # The Launchpad opens on the form alone, valid as it stands ("No errors"), no resources.
    for job in ("register_access_request_job", "register_restriction_request_job"):
        selector = {
            "repositoryLocationName": "inextcrm_dsr",
            "repositoryName": "__repository__",
            "pipelineName": job,
        }
        schema = client._execute(LAUNCHPAD, {"selector": selector, "config": {}})
        opened = schema["runConfigSchemaOrError"]["rootDefaultYaml"]
        assert "resources" not in opened and "email: ''" in opened, opened
        valid = client._execute(LAUNCHPAD, {"selector": selector, "config": opened})
        assert valid["runConfigSchemaOrError"]["isRunConfigValid"]["__typename"] == (
            "PipelineConfigValidationValid"
        )
    # A scope that is not one of the form's choices is rejected by the config schema before any
    # run starts (an empty or malformed e-mail is the intake step's to refuse).
    with pytest.raises(DagsterGraphQLClientError, match="scope"):
        client.submit_job_execution(
            "register_access_request_job",
            run_config={
                "ops": {
                    "register_access_request": {"config": {"email": DEMO_EMAIL, "scope": "all"}}
                }
            },
        )
    assert env.ledger.list_requests() == []

    run_id = client.submit_job_execution(
        "register_access_request_job",
        run_config={
            "ops": {
                "register_access_request": {"config": {"email": DEMO_EMAIL, "ticket_ref": "SUP-1"}}
            }
        },
    )
    assert wait_for_run(client, run_id) == DagsterRunStatus.SUCCESS
    [record] = env.ledger.list_requests()
    assert record.state == State.RECEIVED

    # What the sensor does under `dagster dev`: launch the fulfilment job for that partition.
    run_id = client.submit_job_execution(
        "access_fulfilment", tags={"dagster/partition": record.request_id}
    )
    assert wait_for_run(client, run_id) == DagsterRunStatus.SUCCESS
    done = env.ledger.get(record.request_id)
    assert done.state == State.FULFILLED
    assert Path(done.result["bundle"]).is_file()
