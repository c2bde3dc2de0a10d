"""Launch → result under `dagster dev`, against Dagster's own floor on this machine.

A fresh demo home (services on), a `dagster dev` with the product's code location and
``bench/launch/floor_defs.py``. Per trial, the clock starts when the form is submitted through
GraphQL (as the Launchpad's Launch does) and stops at the bundle's (or proof's) file time; the
floor is a trivial run that queues a trivial second run the same way, submit → second run's end.
Runs one after another, never overlapping. ``python -m bench launch --trials 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

from bench.live import REPO, dagster_dev, wait_for_run
from dsr.democrm.planted import DEMO_EMAIL

WORKSPACE = """\
load_from:
  - python_module:
      module_name: pipelines.definitions
      location_name: inextcrm_dsr
      working_directory: {repo}
  - python_file:
      relative_path: {repo}/bench/launch/floor_defs.py
      location_name: floor
      working_directory: {repo}
"""


def _ended(instance: DagsterInstance, run_id: str) -> float:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None and record.end_time is not None
    return record.end_time


def _linked(instance: DagsterInstance, run_id: str, tag: str) -> str:
    run = instance.get_run_by_id(run_id)
    assert run is not None and tag in run.tags, f"run {run_id} has no {tag} tag"
    return run.tags[tag]


def floor(client: Any, instance: DagsterInstance) -> float:
    started = time.time()
    first = client.submit_job_execution("floor_first", repository_location_name="floor")
    assert wait_for_run(client, first) == "SUCCESS"
    second = _linked(instance, first, "dsr/fulfilment_run")
    assert wait_for_run(client, second) == "SUCCESS"
    return _ended(instance, second) - started


def request(client: Any, instance: DagsterInstance, ledger: Any, kind: str, email: str) -> float:
    config: dict[str, Any] = {"email": email}
    if kind == "erasure":
        config["identity_verified_by"] = "bench"
    started = time.time()
    intake = client.submit_job_execution(
        f"register_{kind}_request_job",
        repository_location_name="inextcrm_dsr",
        run_config={"ops": {f"register_{kind}_request": {"config": config}}},
    )
    assert wait_for_run(client, intake) == "SUCCESS"
    fulfilment = _linked(instance, intake, "dsr/fulfilment_run")
    # Read now: once the erasure is done its intake run (her e-mail in its config) is deleted.
    request_id = _linked(instance, intake, "dsr/request_id")
    assert wait_for_run(client, fulfilment) == "SUCCESS"
    result = ledger.get(request_id).result
    evidence = Path(result["bundle" if kind == "access" else "proof"])
    return evidence.stat().st_mtime - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench launch", description=__doc__)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--contacts", type=int, default=300, help="demo contacts per region")
    args = parser.parse_args(argv)

    from standins.demo import DemoServices

    work = Path(tempfile.mkdtemp(prefix="dsr-launch-"))
    home = work / "home"
    for key in [k for k in os.environ if k.startswith("DSR_") or k == "DAGSTER_HOME"]:
        del os.environ[key]
    with DemoServices() as services:
        os.environ.update({**services.env(), "DSR_HOME": str(home)})
        dsr = [sys.executable, "-m", "dsr.cli.main"]
        subprocess.run(
            [*dsr, "seed", "--contacts", str(args.contacts)], check=True, capture_output=True
        )
        from dsr.settings import Settings
        from pipelines.launch import instance_for
        from resources import build_resources

        settings = Settings.from_env()
        instance = instance_for(settings)
        ledger = build_resources(settings)["ledger"].ledger()
        (work / "workspace.yaml").write_text(WORKSPACE.format(repo=REPO))
        figures: dict[str, list[float]] = {"floor": [], "access": [], "erasure": []}
        with dagster_dev(
            settings.dagster_home, work / "workspace.yaml", work / "dagster-dev.log", locations=2
        ) as (client, _url):
            for _ in range(args.trials):
                figures["floor"].append(floor(client, instance))
                figures["access"].append(request(client, instance, ledger, "access", DEMO_EMAIL))
            figures["erasure"].append(request(client, instance, ledger, "erasure", DEMO_EMAIL))
    summary = {
        name: {"median_s": round(statistics.median(v), 2), "runs_s": [round(x, 2) for x in v]}
        for name, v in figures.items()
    }
    summary["access_over_floor"] = round(
        statistics.median(figures["access"]) / statistics.median(figures["floor"]), 2
    )
    print(json.dumps(summary, indent=2))
