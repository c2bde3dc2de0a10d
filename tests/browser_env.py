"""A real browser on a real `dsr ui`: headless Chromium (Debian's, through Playwright) and the
UI's GraphQL endpoint, for the test that walks support's flow end to end."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster_graphql import DagsterGraphQLClient

from bench.live import REPO, free_port
from dsr.cli.demo import stop_group
from tests.conftest import in_ci
from tests.test_webserver import wait_for_server

# Debian's package; Playwright's own browser download (`playwright install`) does not work here.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Dagster's "Join the Dagster community" modal covers the first page a new profile opens.
SKIP_COMMUNITY_MODAL = "window.localStorage.setItem('communityNux', '\"1\"');"
LOCATION = "inextcrm_dsr"


def require_browser() -> None:
    """Skip without a browser, except in CI, where a missing browser is an error: the test is
    the only proof that the UI flow works, and a silent skip would hide that it never ran."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not missing:
        return
    reason = "no browser for the UI test: missing " + " and ".join(missing)
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def screenshots_dir(tmp_path: Path) -> Path:
    """``$UI_SCREENSHOTS_DIR`` when set (to keep them, e.g. for the README), else the test's
    own temporary folder. Not a DSR_* name: dsr refuses every DSR_* variable it does not read,
    and the code location is imported when the tests are collected."""
    chosen = os.environ.get("UI_SCREENSHOTS_DIR", "").strip()
    folder = Path(chosen).resolve() if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Ui:
    url: str
    client: DagsterGraphQLClient

    def query(self, text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.client._execute(text, variables or {})


@contextmanager
def dsr_ui(home: Path, log_dir: Path) -> Iterator[Ui]:
    """`dsr ui --json` on ``home`` (the DSR_* environment already points there), as support
    starts it: the UI, the daemon and the stand-in services, until the test ends."""
    port = free_port()
    out_path = log_dir / "dsr-ui.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dsr.cli.main", "ui", "--port", str(port), "--json"],
            cwd=REPO,
            env={**os.environ},
            stdout=out,
            stderr=subprocess.STDOUT,
            # `dsr ui` turns one SIGINT to its group into a clean stop of dagster dev's group.
            start_new_session=True,
        )
        try:
            said = _first_json_document(out_path, proc)
            dev_log = Path(said["log"])
            client = wait_for_server(port, proc, dev_log)
            yield Ui(said["url"], client)
        finally:
            stop_group(proc, timeout=40)


def _first_json_document(path: Path, proc: subprocess.Popen) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        # One JSON document (indented), possibly read while half written.
        with contextlib.suppress(ValueError):
            said, _end = json.JSONDecoder().raw_decode(text[text.index("{") :])
            return said
        if proc.poll() is not None:
            pytest.fail(f"dsr ui exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"dsr ui printed no JSON line:\n{path.read_text()[-3000:]}")


# --- what the instance answers over GraphQL --------------------------------------------------

_METADATA = """
fragment MD on MetadataEntry {
  label description
  ... on TextMetadataEntry { text }
  ... on MarkdownMetadataEntry { mdStr }
  ... on UrlMetadataEntry { url }
  ... on JsonMetadataEntry { jsonString }
  ... on PathMetadataEntry { path }
  ... on TableMetadataEntry { table { records } }
}
"""
RUNS = """
{ runsOrError { ... on Runs { results {
  runId jobName status runConfigYaml tags { key value }
} } } }
"""
RUN_LOGS = (
    """
query Logs($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
  __typename
  ... on MessageEvent { message stepKey }
  ... on DisplayableEvent { label description metadataEntries { ...MD } }
  ... on ErrorEvent { error { message stack } }
  ... on ExecutionStepFailureEvent { failureMetadata { metadataEntries { ...MD } } }
} } } }
"""
    + _METADATA
)
ASSETS = (
    """
{
  assetNodes { assetKey { path } description metadataEntries { ...MD } }
  assetsOrError { ... on AssetConnection { nodes { key { path }
    assetMaterializations(limit: 200) { partition runId metadataEntries { ...MD } }
    assetObservations(limit: 200) { partition runId metadataEntries { ...MD } }
  } } }
}
"""
    + _METADATA
)


def instance_answers(ui: Ui) -> dict[str, str]:
    """What the instance tells anyone who asks: its runs (config, tags), every run's events, and
    every asset's definition metadata, materialisations and observations; as text per query."""
    runs = ui.query(RUNS)
    answers = {"runsOrError": json.dumps(runs)}
    for run in runs["runsOrError"]["results"]:
        logs = ui.query(RUN_LOGS, {"runId": run["runId"]})
        answers[f"logsForRun {run['jobName']} {run['runId']}"] = json.dumps(logs)
    answers["assetNodes, assetsOrError"] = json.dumps(ui.query(ASSETS))
    return answers


# --- what the browser keeps ------------------------------------------------------------------

BROWSER_STORAGE = """
async () => {
  const local = {};
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    local[key] = localStorage.getItem(key);
  }
  const indexed = {};
  for (const info of (await indexedDB.databases())) {
    const db = await new Promise((ok, ko) => {
      const open = indexedDB.open(info.name);
      open.onsuccess = () => ok(open.result);
      open.onerror = () => ko(open.error);
    });
    for (const store of db.objectStoreNames) {
      indexed[info.name + '/' + store] = await new Promise((ok, ko) => {
        const all = db.transaction(store, 'readonly').objectStore(store).getAll();
        all.onsuccess = () => ok(JSON.stringify(all.result));
        all.onerror = () => ko(all.error);
      });
    }
    db.close();
  }
  return {localStorage: local, indexedDB: indexed};
}
"""
