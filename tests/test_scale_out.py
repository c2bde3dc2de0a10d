"""Scale-out on Dagster itself: the instance's run queue limits runs per regional database and
per integrated service, and its storage may be PostgreSQL, where batch runs overlap safely."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import AssetMaterialization, DagsterInstance, build_sensor_context, job, op

from dsr.config_checks import SettingsError
from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import State
from dsr.settings import Settings
from pipelines.batch_access import ACCESS_BATCH_JOB
from pipelines.instance_config import HEADER, sqlite_storage
from pipelines.launch import READY, instance_for
from pipelines.partitions import add_request_partitions
from pipelines.sqlite_event_log import ReusedEngineSqliteEventLogStorage
from standins.demo import DemoServices
from tests.dsr_env import DsrEnv, environment, make_env
from tests.pg_server import PgServer

OTHERS = ("tom.becker@example.net", "priya.raman@northwind.test")

# One batch run in its own process, on the instance the environment names.
_BATCH_RUN = """
import sys
from dsr.settings import Settings
from pipelines.definitions import build_definitions
from pipelines.launch import instance_for

job, ids = sys.argv[1], sys.argv[2:]
settings = Settings.from_env()
instance = instance_for(settings)
result = build_definitions(settings).resolve_job_def(job).execute_in_process(
    run_config={"ops": {"fulfil_access_batch": {"config": {"request_ids": ids}}}},
    instance=instance,
    raise_on_error=False,
)
instance.dispose()
sys.exit(0 if result.success else 1)
"""


def _limits(settings: Settings) -> dict[str, int]:
    instance = instance_for(settings)
    try:
        queue = instance.run_coordinator.get_run_queue_config()
        return {limit["key"]: limit["limit"] for limit in queue.tag_concurrency_limits}
    finally:
        instance.dispose()


def test_the_run_queue_limits_runs_per_database_and_per_service(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with environment(home):
        limits = _limits(Settings.from_env())
        assert limits["dsr/crm_us"] == limits["dsr/crm_eu"] == 2
        # Runs of one host share GoToMeeting's per-account window, so two may wait on it.
        assert limits["dsr/service_gotomeeting"] == 2
        assert {"dsr/service_google", "dsr/service_dropbox"} <= set(limits)
    with environment(home, DSR_REGIONS="us,eu,apac"):
        assert "dsr/crm_apac" in _limits(Settings.from_env())


def test_an_operators_own_instance_config_is_left_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with environment(home):
        settings = Settings.from_env()
        instance_for(settings).dispose()
        mine = "telemetry:\n  enabled: false\n"
        (settings.dagster_home / "dagster.yaml").write_text(mine)
        instance_for(settings).dispose()
        assert (settings.dagster_home / "dagster.yaml").read_text() == mine


@op
def _step() -> None:
    pass


@job
def _tiny() -> None:
    _step()


_COUNT = """
from dagster import AssetKey, DagsterInstance
instance = DagsterInstance.from_config(__import__("sys").argv[1])
events = instance.fetch_materializations(AssetKey("kept"), limit=10).records
print(len(instance.get_runs()), len(events))
"""


def test_an_instance_made_with_the_stock_sqlite_storage_keeps_its_runs(tmp_path: Path) -> None:
    with environment(tmp_path / "home"):
        settings = Settings.from_env()
        settings.ensure_dirs()
        home = settings.dagster_home
        home.mkdir(parents=True, exist_ok=True)
        # As an earlier dsr wrote it: Dagster's stock SQLite storage, nothing named.
        (home / "dagster.yaml").write_text(f"{HEADER}telemetry:\n  enabled: false\n")
        (home / READY).touch()
        old = DagsterInstance.from_config(str(home))
        assert _tiny.execute_in_process(instance=old).success
        old.report_runless_asset_event(AssetMaterialization("kept"))
        old.dispose()

        instance = instance_for(settings)  # rewrites dagster.yaml: the reused-engine event log
        assert isinstance(instance.event_log_storage, ReusedEngineSqliteEventLogStorage)
        assert len(instance.get_runs()) == 1  # the earlier run is still there
        assert _tiny.execute_in_process(instance=instance).success
        instance.report_runless_asset_event(AssetMaterialization("kept"))
        instance.dispose()
        # Another process (the webserver, the daemon) reads both, with the stock class too.
        for yaml_home in (home, _stock_copy(home, tmp_path / "stock")):
            out = subprocess.run(
                [sys.executable, "-c", _COUNT, str(yaml_home)],
                capture_output=True, text=True, check=True, env={**os.environ},
            )  # fmt: skip
            assert out.stdout.split() == ["2", "2"]


def _stock_copy(home: Path, where: Path) -> Path:
    """A dagster.yaml naming Dagster's own event log class over the same files."""
    config = sqlite_storage(home)
    config["event_log_storage"].update(
        {"module": "dagster._core.storage.event_log", "class": "SqliteEventLogStorage"}
    )
    where.mkdir()
    (where / "dagster.yaml").write_text(yaml.safe_dump(config))
    return where


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+psycopg://u@127.0.0.1/d", "postgresql+psycopg2://USER:PASSWORD@HOST"),
        # Since SQLAlchemy 2.1 a bare postgresql:// is psycopg 3, which loses every run event.
        ("postgresql://u:secret@127.0.0.1/d", "PostgreSQL through psycopg2"),
        ("sqlite:////tmp/x.sqlite", "PostgreSQL through psycopg2"),
        ("not a url", "not a database URL"),
    ],
)
def test_instance_storage_must_be_a_postgresql_url(tmp_path: Path, url: str, message: str) -> None:
    with (
        environment(tmp_path / "home", DSR_DAGSTER_STORAGE_URL=url),
        pytest.raises(SettingsError, match="DSR_DAGSTER_STORAGE_URL") as refused,
    ):
        Settings.from_env()
    assert message in str(refused.value)
    assert "secret" not in str(refused.value)


@pytest.fixture
def pg_instance_env(tmp_path: Path, pg_server: PgServer) -> Iterator[DsrEnv]:
    """A demo home whose Dagster instance keeps runs and events in PostgreSQL."""
    database = pg_server.create_database()
    storage = pg_server.url(database, driver="postgresql+psycopg2")
    try:
        with (
            DemoServices() as services,
            environment(tmp_path / "home", **services.env(), DSR_DAGSTER_STORAGE_URL=storage),
        ):
            env = make_env(tmp_path / "home")
            env.services = services
            yield env
            env.instance.dispose()
    finally:
        pg_server.drop_database(database)


def test_two_batch_runs_at_once_on_a_postgresql_instance(pg_instance_env: DsrEnv) -> None:
    from dagster_postgres import PostgresRunStorage

    env = pg_instance_env
    yaml_text = (env.settings.dagster_home / "dagster.yaml").read_text()
    assert "postgres_url:\n      env: DSR_DAGSTER_STORAGE_URL" in yaml_text
    assert "password" not in yaml_text and "127.0.0.1" not in yaml_text
    assert isinstance(env.instance.run_storage, PostgresRunStorage)

    records = [env.register(e) for e in (DEMO_EMAIL, *OTHERS, DEMO_EMAIL, *OTHERS)]
    ids = [r.request_id for r in records]
    add_request_partitions(env.instance, records)
    # The sensor's batch run carries the queue's tags.
    sensor = env.defs.resolve_sensor_def("pending_requests")
    with build_sensor_context(
        instance=env.instance, definitions=env.defs, resources={"ledger": env.resources["ledger"]}
    ) as ctx:
        [launch] = sensor(ctx).run_requests
    assert {"dsr/crm_us", "dsr/crm_eu", "dsr/service_gotomeeting"} <= set(launch.tags)

    # Two processes, as two run workers would be: Dagster's in-process execution is not
    # thread-safe (its log set-up deadlocks), and the storage is what is under test.
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _BATCH_RUN, ACCESS_BATCH_JOB, *ids[n * 3 : n * 3 + 3]],
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(2)
    ]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    done = [env.ledger.get(rid) for rid in ids]
    assert [d.state for d in done] == [State.FULFILLED] * 6
    assert len({d.result["bundle"] for d in done}) == 6
    # Both runs and their events are in PostgreSQL, readable by any process.
    runs = env.instance.get_runs()
    assert len(runs) == 2 and all(r.is_success for r in runs)


REPO = Path(__file__).resolve().parents[1]


def test_the_daemon_runs_two_batch_runs_at_once_under_the_queue(
    pg_instance_env: DsrEnv,
) -> None:
    """As in production: the sensor batches six waiting requests (three per run), the queue
    lets both runs through at once (two per database), and the runs share one PostgreSQL
    instance."""
    env = pg_instance_env
    ids = [env.register(e).request_id for e in (DEMO_EMAIL, *OTHERS, DEMO_EMAIL, *OTHERS)]
    daemon_env = {
        **os.environ,
        "DAGSTER_HOME": str(env.settings.dagster_home),
        "DSR_BATCH_SIZE": "3",
    }
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=REPO,
        env=daemon_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # one signal to the group stops the daemon and its runs
    )
    try:
        deadline = time.monotonic() + 300  # a bound on a hang, not a performance figure
        while time.monotonic() < deadline:
            # A request is fulfilled before its run has finished its other requests' steps:
            # wait for the runs themselves, or stopping the daemon would cancel them.
            batches = [
                r.dagster_run
                for r in env.instance.get_run_records()
                if r.dagster_run.job_name == ACCESS_BATCH_JOB
            ]
            if len(batches) == 2 and all(run.is_finished for run in batches):
                break
            time.sleep(1)
        states = [env.ledger.get(rid).state for rid in ids]
    finally:
        os.killpg(daemon.pid, signal.SIGINT)
        daemon.wait(timeout=60)
    assert states == [State.FULFILLED] * 6
    records = [
        r for r in env.instance.get_run_records() if r.dagster_run.job_name == ACCESS_BATCH_JOB
    ]
    assert len(records) == 2 and all(r.dagster_run.is_success for r in records)
    for record in records:
        assert {"dsr/crm_us", "dsr/crm_eu", "dsr/service_gotomeeting"} <= set(
            record.dagster_run.tags
        )
    # Both ran at once: each started before the other ended.
    assert max(r.start_time for r in records) < min(r.end_time for r in records)
