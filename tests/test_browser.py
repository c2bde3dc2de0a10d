"""Support's flow in a real browser: headless Chromium drives the Dagster UI that `dsr ui`
serves, from a refused form to an erasure with its proof, and then looks for the person's e-mail
in everything the instance and the browser still hold.

Run it alone with `pytest -m browser`; it prints the folder of its step screenshots (the test's
temporary folder, or ``$UI_SCREENSHOTS_DIR`` to keep them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from bench.live import wait_for_run
from dsr.democrm.planted import DEMO_EMAIL
from dsr.ledger import State
from pipelines.handoff import FULFILMENT_RUN_TAG
from pipelines.intake_names import INTAKE_JOBS, REQUEST_ID_TAG
from tests.browser_env import (
    BROWSER_STORAGE,
    CHROMIUM,
    CHROMIUM_ARGS,
    LOCATION,
    RUN_LOGS,
    SKIP_COMMUNITY_MODAL,
    Ui,
    dsr_ui,
    instance_answers,
    require_browser,
    screenshots_dir,
)
from tests.dsr_env import DsrEnv, environment, make_env

if TYPE_CHECKING:  # imported where used: without playwright the test skips, not errors
    from playwright.sync_api import Page

# The UI, its daemon and its runs live in other processes on the machine's clock.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.real_clock]

RUN_URL = re.compile(r"/runs/([0-9a-f-]{36})")
# Her address as any answer could spell it: any case (compared lower-cased), or URL-encoded.
HER = (DEMO_EMAIL.lower(), quote(DEMO_EMAIL.lower(), safe=""))


def form(op: str, **fields: object) -> str:
    """The Launchpad text of one intake form (YAML, as support would type it)."""
    lines = [f"      {key}: {_yaml(value)}" for key, value in fields.items()]
    return "\n".join(["ops:", f"  {op}:", "    config:", *lines]) + "\n"


def _yaml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return f'"{value}"'


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where the step screenshots go (made before the UI starts, so a bad folder fails fast)."""
    return screenshots_dir(tmp_path)


@pytest.fixture
def live(tmp_path: Path, shots: Path) -> Iterator[tuple[DsrEnv, Ui]]:
    require_browser()
    home = tmp_path / "home"
    # No stand-ins of the test's own: `dsr ui` starts them, as it does for support.
    with environment(home):
        env = make_env(home)
        with dsr_ui(home, tmp_path) as ui:
            yield env, ui


@pytest.fixture
def page(live: tuple[DsrEnv, Ui]) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(SKIP_COMMUNITY_MODAL)
        context.set_default_timeout(60_000)
        try:
            yield context.new_page()
        finally:
            browser.close()


class Steps:
    """One screenshot per step, numbered in the order taken."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.taken: list[Path] = []

    def shot(self, name: str) -> None:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.wait_for_timeout(500)  # animations settle
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)


def open_form(page: Page, ui: Ui, job: str, text: str) -> None:
    page.goto(f"{ui.url}/locations/{LOCATION}/jobs/{job}/playground")
    page.wait_for_selector(".CodeMirror")
    # CodeMirror's own setValue: typed keys would be re-indented by the editor.
    page.evaluate("t => document.querySelector('.CodeMirror').CodeMirror.setValue(t)", text)


def launch(page: Page, ui: Ui) -> tuple[str, str]:
    """Click Launch Run; the run's id (from the page the UI lands on) and how it ended."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name="Launch Run")
    expect(button).to_be_enabled()
    button.click()
    page.wait_for_url(RUN_URL)
    match = RUN_URL.search(page.url)
    assert match is not None
    run_id = match.group(1)
    return run_id, wait_for_run(ui.client, run_id)


def fulfilment_of(env: DsrEnv, intake_id: str) -> tuple[str, str]:
    """The fulfilment run the intake run queued, and the request id it registered."""
    intake = env.instance.get_run_by_id(intake_id)
    assert intake is not None
    return intake.tags[FULFILMENT_RUN_TAG], intake.tags[REQUEST_ID_TAG]


def test_support_flow_in_a_browser_leaves_no_trace_of_her(
    live: tuple[DsrEnv, Ui],
    page: Page,
    shots: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from playwright.sync_api import expect

    env, ui = live
    with capsys.disabled():
        print(f"\nscreenshots of each step: {shots}")
    steps = Steps(page, shots)

    # 1. A value the form's schema does not allow: Launch stays disabled, the error names it.
    open_form(page, ui, "register_access_request_job", form("register_access_request", scope="x"))
    expect(page.get_by_text(re.compile(r"config:scope not in enum"))).to_be_visible()
    expect(page.get_by_role("button", name="Launch Run")).to_be_disabled()
    steps.shot("form-refused-before-launch")

    # 2. What only the run can check (a malformed address beside hers): one sentence naming
    # the field, nothing registered.
    refused = form("register_access_request", email=DEMO_EMAIL, other_emails=["not an address"])
    open_form(page, ui, "register_access_request_job", refused)
    refused_id, status = launch(page, ui)
    assert status == "FAILURE"
    sentence = "Request not registered, check the form's email field"
    expect(page.get_by_text(sentence).first).to_be_visible()
    steps.shot("run-refused-naming-the-field")
    # The step's and the run's error are the sentence alone: no stack trace under them.
    events = ui.query(RUN_LOGS, {"runId": refused_id})["logsForRun"]["events"]
    errors = [e["error"] for e in events if e.get("error")]
    assert errors and all(not e["stack"] for e in errors)
    assert all(sentence in e["message"] for e in errors)
    assert env.ledger.list_requests() == []

    # 3. Access: the intake run queues the fulfilment run and links it; the bundle is written.
    open_form(
        page, ui, "register_access_request_job", form("register_access_request", email=DEMO_EMAIL)
    )
    intake_id, status = launch(page, ui)
    assert status == "SUCCESS"
    run_id, request_id = fulfilment_of(env, intake_id)
    link = f"{ui.url}/runs/{run_id}"
    expect(page.get_by_text(link).first).to_be_visible()
    page.goto(link)
    assert wait_for_run(ui.client, run_id) == "SUCCESS"
    expect(page.get_by_text("Success").first).to_be_visible()
    # The bundle's materialisation (path, SHA-256, counts) is lower in the log: filter to it.
    page.locator("input[placeholder^='Filter']").fill("access_bundle")
    bundle = page.get_by_text("Materialized value access_bundle").first
    expect(bundle).to_be_visible()
    bundle.scroll_into_view_if_needed()  # the log keeps itself scrolled to its end
    steps.shot("access-bundle")
    access = env.ledger.get(request_id)
    assert access.state == State.FULFILLED and Path(access.result["bundle"]).is_file()

    # 4. Erasure dry run: the plan is a table in the step's metadata; nothing registered.
    dry = form("register_erasure_request", email=DEMO_EMAIL, dry_run=True)
    open_form(page, ui, "register_erasure_request_job", dry)
    _run_id, status = launch(page, ui)
    assert status == "SUCCESS"
    page.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("table").first).to_be_visible()
    steps.shot("dry-run-plan")
    page.keyboard.press("Escape")
    assert [r.request_id for r in env.ledger.list_requests()] == [request_id]

    # 5. The erasure, identity verified on the form: a signed proof.
    erase = form("register_erasure_request", email=DEMO_EMAIL, identity_verified_by="agent-1")
    open_form(page, ui, "register_erasure_request_job", erase)
    intake_id, status = launch(page, ui)
    assert status == "SUCCESS"
    run_id, request_id = fulfilment_of(env, intake_id)
    page.goto(f"{ui.url}/runs/{run_id}")
    assert wait_for_run(ui.client, run_id) == "SUCCESS"
    expect(page.get_by_text("Success").first).to_be_visible()
    steps.shot("erasure-proof")
    erasure = env.ledger.get(request_id)
    assert erasure.state == State.FULFILLED and Path(erasure.result["proof"]).is_file()

    # 6. Nothing the instance answers holds her e-mail: runs (config, tags), every run's
    # events, every asset's metadata.
    answers = instance_answers(ui)
    # Her intake runs (refused, dry run, registered) went with the erasure; of her runs, the two
    # fulfilment runs are left. (The daemon's hourly schedules may have run meanwhile, whenever
    # the clock passed their minute: their runs are checked for her e-mail like any other.)
    jobs = sorted(k.split()[1] for k in answers if k.startswith("logsForRun"))
    assert not set(jobs) & INTAKE_JOBS
    assert [j for j in jobs if j.endswith("_fulfilment")] == [
        "access_fulfilment",
        "erasure_fulfilment",
    ]
    leaks = [name for name, text in answers.items() if any(h in text.lower() for h in HER)]
    assert leaks == []

    # ... nor any page: the runs list, each run, each asset that has a materialisation.
    pages = ["/runs", "/assets"]
    pages += [f"/runs/{k.rsplit(' ', 1)[1]}" for k in answers if k.startswith("logsForRun")]
    pages += [f"/assets/{'/'.join(path)}" for path in materialised_assets(ui)]
    seen = {}
    for path in pages:
        page.goto(ui.url + path)
        page.wait_for_load_state("networkidle")
        seen[path] = page.inner_text("body").lower()
        if path == "/runs":
            steps.shot("runs-after-erasure")
    assert [p for p, text in seen.items() if any(h in text for h in HER)] == []

    # 7. The browser: Dagster keeps each job's Launchpad text in localStorage
    # ("dagster.v2.-<location>-<repository>-<job>"), her e-mail with it; no erasure reaches it.
    storage = page.evaluate(BROWSER_STORAGE)
    launchpads = sorted(k for k in storage["localStorage"] if k.startswith("dagster.v2."))
    holding = [k for k in launchpads if DEMO_EMAIL in storage["localStorage"][k].lower()]
    with capsys.disabled():
        print(f"Launchpad text kept by the browser (localStorage): {holding}")
    assert holding  # so the README's warning stays true; if Dagster stops, drop it there
    assert [k for k, v in storage["indexedDB"].items() if any(h in v.lower() for h in HER)] == []
    # What the README tells support to do: empty the editor (select all, delete); the × on a
    # tab shows only beside a second tab, so the last tab's text cannot be closed away.
    for key in holding:
        job = key.rsplit("-", 1)[1]
        page.goto(f"{ui.url}/locations/{LOCATION}/jobs/{job}/playground")
        page.locator(".CodeMirror").click()
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        page.wait_for_function(
            "([key, her]) => !(localStorage.getItem(key) || '').toLowerCase().includes(her)",
            arg=[key, DEMO_EMAIL.lower()],
        )
    steps.shot("launchpad-emptied")
    after = page.evaluate(BROWSER_STORAGE)
    assert not any(h in str(after).lower() for h in HER)
    assert len(steps.taken) == 7


def materialised_assets(ui: Ui) -> list[list[str]]:
    data = ui.query(
        "{ assetsOrError { ... on AssetConnection { nodes { key { path } "
        "assetMaterializations(limit: 1) { runId } } } } }"
    )
    nodes = data["assetsOrError"]["nodes"]
    return [n["key"]["path"] for n in nodes if n["assetMaterializations"]]
