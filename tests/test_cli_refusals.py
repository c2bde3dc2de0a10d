"""Every command of the README's table, with the bad input a person could give it: one line on
stderr saying what is wrong, exit code 2, no traceback, and nothing changed — not the ledger, not
the CRM, not a store, key, log or Dagster's storage (the whole home is fingerprinted)."""

from __future__ import annotations

import json
import re
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsr.democrm.planted import DEMO_EMAIL
from tests.cli_env import NORTHWIND, Prepared, changes, dsr, fingerprint, prepared_home

_NAME = re.compile(r"\{(home|tmp|file|proof|bundle|erasure|restriction|backup|long)\}")
NW = f"--scope client_data --client {NORTHWIND} --authorization NW-DPA-2026-01"
M = f"--email {DEMO_EMAIL}"
SCOPE = "apply only to scope client_data"
WINDOW = "-t contacts --since 2026-01-01 --until 2026-02-01"
LIFT = "--reason done --notified-via SUP-1 --by agent-1"
EXTEND = "--reason busy --notified-via SUP-1"
NO_ID = "r-20260101-00000000"

# (command line, what the one line on stderr says). {names} come from the prepared home.
ROWS: list[tuple[str, str]] = [
    ("seed --contacts 0", "--contacts must be at least 10"),
    ("seed --contacts -5", "--contacts must be at least 10"),
    ("seed --seed -1", "--seed must be 0 or more"),
    ("seed --contacts many", "Invalid value for '--contacts'"),
    ("access", "Missing option '--email'"),
    ("access --email ''", "at least one e-mail address is required"),
    ("access --email maria.jensen", "not a valid address"),
    ('access --email "\' OR 1=1 --"', "not a valid address"),
    ("access --email {long}", "e-mail"),
    (f"access {M} --phone 'call me'", "phone"),
    (f"access {M} --client {NORTHWIND}", SCOPE),
    (f"access {M} --authorization X-1", SCOPE),
    (f"access {M} --client {NORTHWIND} --authorization X-1", SCOPE),
    (f"access {M} --scope client_data --client {NORTHWIND}", "authorisation reference"),
    (f"access {M} --scope client_data", "needs the Client's id"),
    (f"access {M} --scope client_data --client 77 --authorization X-1", "unknown client"),
    (f"access {M} --scope everything", "Invalid value for '--scope'"),
    (f"access {M} --ticket maria@example.org", "ticket reference"),
    (f"access {M} --portability --nope", "No such option: --nope"),
    (f"erase {M} --client {NORTHWIND} --authorization X-1", SCOPE),
    (f"erase {M} --dry-run --scope client_data --client {NORTHWIND}", "authorisation reference"),
    (f"erase {M} --dry-run --client {NORTHWIND}", SCOPE),
    (f"erase {M} --dry-run --queue", "--queue does not apply to --dry-run"),
    (f"erase {M} --dry-run --verified-by agent-1", "--verified-by does not apply"),
    ("erase --email nope --verified-by agent-1", "not a valid address"),
    (f"erase {M} --verified-by maria@example.org", "identity verified by"),
    ("requests --state bogus", "Invalid value for '--state'"),
    ("requests --type everything", "Invalid value for '--type'"),
    ("requests --due-within -1", "Invalid value for '--due-within'"),
    ("requests --limit 0", "Invalid value for '--limit'"),
    ("backups --region mars", "unknown region 'mars'"),
    (f"verify-identity {NO_ID} --by agent-1", NO_ID),
    ("verify-identity ../../etc/passwd --by agent-1", "request"),
    ("verify-identity {erasure}", "Missing option '--by'"),
    (f"rectify {M} --set nonsense=1", "nonsense"),
    (f"rectify {M} --set phone", "expected field=value"),
    (f"rectify {M}", "Missing option '--set'"),
    (f"rectify {M} --set phone=+14155550100 --client {NORTHWIND}", SCOPE),
    (f"run {NO_ID}", f"no request {NO_ID}"),
    ("run not-an-id", "request"),
    (f"extend {{erasure}} --months 3 {EXTEND}", "at most 2 months in total"),
    (f"extend {{erasure}} --months 0 {EXTEND}", "1 or 2"),
    (f"extend {NO_ID} --months 1 {EXTEND}", f"no request {NO_ID}"),
    ("extend {erasure} --months 1 --notified-via SUP-1", "Missing option '--reason'"),
    (f"status {NO_ID}", NO_ID),
    ("status", "Missing argument"),
    (f"opt-out {M} --client {NORTHWIND}", SCOPE),
    ("opt-out --email x@", "not a valid address"),
    (f"restrict {M} --grounds because", "--grounds must be one of"),
    (f"restrict {M} --grounds legal_claims --client {NORTHWIND}", SCOPE),
    (f"lift-restriction {NO_ID} {LIFT}", NO_ID),
    (f"lift-restriction {{erasure}} {LIFT}", "not lifted"),
    ("lift-restriction {restriction} --reason ' ' --notified-via S-1 --by a-1", "not lifted"),
    ("lift-restriction {restriction} --reason done --notified-via S-1", "Missing option '--by'"),
    ("purge --only everything", "unknown purge everything"),
    ("purge --now yesterday", "--now"),
    ("breach-impact -t passwords --since 2026-01-01 --until 2026-02-01", "not a table"),
    ("breach-impact -t contacts --since 2026-03-01 --until 2026-02-01", "must come before"),
    ("breach-impact -t contacts --since 2030-01-01 --until 2030-02-01", "is in the future"),
    ("breach-impact -t contacts --since 'last week' --until 2026-02-01", "not an ISO date"),
    (f"breach-impact {WINDOW} --regions mars", "not a configured region"),
    (f"breach-impact {WINDOW} --out {{file}}", "is a file"),
    ("deadlines --days -1", "--days must not be negative"),
    ("deadlines --days soon", "Invalid value for '--days'"),
    ("verify-proof {home}/proofs/nothing.proof.json", "no such proof"),
    ("verify-proof {proof} --public-key {home}/missing.pem", "no such file"),
    ("verify-proof {proof} --public-key {file}", "not an Ed25519 public key"),
    ("verify-proof {proof} --email not-an-address", "--email"),
    ("verify-bundle {home}/nothing.zip", "no such bundle"),
    ("verify-bundle {bundle} --public-key {home}/missing.pem", "no such file"),
    ("verify-bundle {bundle} --public-key {file}", "not an Ed25519 public key"),
    ("public-key extra", "Got unexpected extra argument"),
    ("backup --region us", "No such option: --region"),
    ("restore-backup ../../etc/passwd --target {tmp}/restored", "not a backup id"),
    ("restore-backup b-us-20260101T000000Z-abcdef --target {tmp}/r", "not in the store"),
    ("restore-backup {backup} --target {file}", "is a file"),
    ("restore-backup {backup} --target postgresql://x@127.0.0.1/y", "into a folder"),
    ("restore-backup {backup}", "Missing option '--target'"),
    ("demo --contacts 0", "--contacts must be at least 10"),
    ("demo --contacts 20000", "already seeded"),
    ("ui --port 0", "Invalid value for '--port'"),
    ("datamap check --datamap {tmp}/none.yaml", "none.yaml"),
    ("datamap check --datamap {file}", "a-file.txt"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    with prepared_home(tmp_path_factory.mktemp("cli") / "home") as prepared:
        yield prepared


def _fill(args: list[str], prepared: Prepared, tmp: Path) -> list[str]:
    """The command line with the prepared home's paths and ids in place of {names}."""
    file = tmp / "a-file.txt"
    file.write_text("not a key, not a folder, not a data map: {[\n")
    names = {
        "home": str(prepared.home),
        "tmp": str(tmp),
        "file": str(file),
        "proof": str(prepared.proof),
        "bundle": str(prepared.bundle),
        "erasure": prepared.erasure_id,
        "restriction": prepared.restriction_id,
        "backup": prepared.backup_id,
        "long": "a" * 5000 + "@example.org",
    }
    return [_NAME.sub(lambda m: names[m.group(1)], a) for a in args]


@pytest.mark.parametrize(("line", "message"), ROWS, ids=[r[0][:60] for r in ROWS])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    prepared: Prepared, tmp_path: Path, line: str, message: str
) -> None:
    args = _fill(shlex.split(line), prepared, tmp_path)
    before = fingerprint(prepared.home)
    outcome = dsr(*args)
    assert outcome.code == 2, outcome
    assert len(outcome.err_lines) == 1, outcome.err
    assert outcome.err_lines[0].startswith("error: "), outcome.err
    assert message in outcome.err, outcome.err
    assert "Traceback" not in outcome.err + outcome.out
    assert changes(before, fingerprint(prepared.home)) == []
    assert not (tmp_path / "restored").exists() and not (tmp_path / "r").exists()


def test_under_json_a_refusal_is_one_json_document_on_stdout(prepared: Prepared) -> None:
    before = fingerprint(prepared.home)
    outcome = dsr("erase", "-e", DEMO_EMAIL, "--client", NORTHWIND, "--json")
    assert outcome.code == 2 and outcome.err == ""
    refusal = json.loads(outcome.out)
    assert refusal["ok"] is False and SCOPE in refusal["error"]
    config = dsr("status", "r-20260101-00000000", "--json", env={"DSR_EXECUTOR": "threads"})
    assert json.loads(config.out)["error"].startswith("configuration error: DSR_EXECUTOR")
    assert changes(before, fingerprint(prepared.home)) == []


# --- configuration: every DSR_* variable is checked before a command does anything ----------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SECRET = "s3cr3t-password"
CONFIG_ROWS: list[tuple[dict[str, str], str]] = [
    ({"DSR_EXECUTOR": "threads"}, "DSR_EXECUTOR must be one of in_process, multiprocess"),
    ({"DSR_PHYSICAL_CLEANUP": "maybe"}, "DSR_PHYSICAL_CLEANUP must be one of"),
    ({"DSR_SERVICES": "fake"}, "DSR_SERVICES must be one of standins, real"),
    ({"DSR_REGIONS": ""}, "DSR_REGIONS is set but lists no region"),
    ({"DSR_REGIONS": " , "}, "DSR_REGIONS is set but lists no region"),
    ({"DSR_REGIONS": "us,US"}, "lists a region twice"),
    ({"DSR_REGIONS": "us;eu"}, "is not a region name"),
    ({"DSR_ALERT_WEBHOOK_URL": "notaurl"}, "DSR_ALERT_WEBHOOK_URL must be an http(s) URL"),
    ({"DSR_GOOGLE_URL": "127.0.0.1:8080"}, "DSR_GOOGLE_URL must be an http(s) URL"),
    ({"DSR_LEDGER_URL": "not a url"}, "DSR_LEDGER_URL is not a database URL"),
    ({"DSR_LEDGER_URL": "postgres://dsr@127.0.0.1/ledger"}, "write postgresql+psycopg://"),
    ({"DSR_LEDGER_URL": "mysql://dsr@127.0.0.1/ledger"}, "supports sqlite and postgresql"),
    ({"DSR_LEDGER_URL": "postgresql+psycopg://dsr@127.0.0.1:port/x"}, "not a database URL"),
    ({"DSR_HASH_KEY": "not hex"}, "DSR_HASH_KEY is not hexadecimal"),
    ({"DSR_HASH_KEY": "abcd"}, "DSR_HASH_KEY is 2 bytes"),
    ({"DSR_DATA_KEY": "not-a-fernet-key"}, "DSR_DATA_KEY is not a Fernet key"),
    ({"DSR_SIGNING_KEY": "/nonexistent/signing.pem"}, "no such file /nonexistent/signing.pem"),
    (
        {"DSR_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"},
        "DSR_SIGNING_KEY is not an unencrypted PEM private key",
    ),
    ({"DSR_DROPBOX_CA": "/nonexistent/ca.pem"}, "DSR_DROPBOX_CA: no such file"),
    ({"DSR_DATAMAP": "/nonexistent/map.yaml"}, "DSR_DATAMAP: no such file"),
    ({"DSR_PHONE_REGION": "XX"}, "DSR_PHONE_REGION must be a two-letter country code"),
    ({"DSR_BACKUP_RETENTION_DAYS": "thirty"}, "DSR_BACKUP_RETENTION_DAYS must be a whole number"),
    ({"DSR_DEADLINE_WARN_DAYS": "-1"}, "DSR_DEADLINE_WARN_DAYS must not be negative"),
    ({"DSR_BUSINESS_CALENDAR": "ATLANTIS"}, "DSR_BUSINESS_CALENDAR"),
    ({"DSR_EXECUTER": "multiprocess"}, "did you mean DSR_EXECUTOR?"),
    ({"DSR_CRM_URL_APAC": "sqlite:////tmp/apac.sqlite"}, "DSR_REGIONS does not list"),
    ({"DSR_HOME": ""}, "DSR_HOME is set but empty"),
    ({"DSR_EXPORTS_DIR": "{file}"}, "DSR_EXPORTS_DIR: "),
]
# Each bad setting, tried with a command that reads, one that registers, and the seed.
COMMANDS = [
    ["status", "{erasure}"],
    ["access", "--email", DEMO_EMAIL],
    ["seed", "--contacts", "20"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize(
    ("overrides", "message"),
    CONFIG_ROWS,
    ids=[f"{k}={v[:20]}" for o, _ in CONFIG_ROWS for k, v in o.items()],
)
def test_a_bad_setting_is_one_configuration_error_line_and_changes_nothing(
    prepared: Prepared, tmp_path: Path, command: list[str], overrides: dict, message: str
) -> None:
    env = {k: _fill([v], prepared, tmp_path)[0] for k, v in overrides.items()}
    before = fingerprint(prepared.home)
    outcome = dsr(*_fill(command, prepared, tmp_path), env=env)
    assert outcome.code == 2, outcome
    assert len(outcome.err_lines) == 1, outcome.err
    assert outcome.err_lines[0].startswith("configuration error: "), outcome.err
    assert message in outcome.err, outcome.err
    assert "Traceback" not in outcome.err + outcome.out
    assert changes(before, fingerprint(prepared.home)) == []


@pytest.mark.parametrize("command", COMMANDS[:2], ids=[c[0] for c in COMMANDS[:2]])
def test_an_unreachable_postgresql_ledger_is_one_line_without_its_password(
    prepared: Prepared, tmp_path: Path, command: list[str]
) -> None:
    url = f"postgresql+psycopg://dsr:{SECRET}@127.0.0.1:{_closed_port()}/ledger"
    before = fingerprint(prepared.home)
    outcome = dsr(*_fill(command, prepared, tmp_path), env={"DSR_LEDGER_URL": url})
    assert outcome.code == 2, outcome
    assert outcome.err_lines == [outcome.err_lines[0]] and len(outcome.err_lines) == 1
    assert outcome.err_lines[0].startswith("configuration error: DSR_LEDGER_URL: cannot open")
    assert SECRET not in outcome.err + outcome.out and "***" in outcome.err
    assert changes(before, fingerprint(prepared.home)) == []


@pytest.mark.parametrize("command", COMMANDS[1:], ids=[c[0] for c in COMMANDS[1:]])
def test_an_unreachable_crm_database_is_one_line_and_the_seed_drops_nothing(
    prepared: Prepared, tmp_path: Path, command: list[str]
) -> None:
    url = f"postgresql+psycopg://dsr:{SECRET}@127.0.0.1:{_closed_port()}/crm"
    before = fingerprint(prepared.home)
    outcome = dsr(*command, env={"DSR_CRM_URL_EU": url})
    assert outcome.code == 2, outcome
    assert len(outcome.err_lines) == 1, outcome.err
    assert "DSR_CRM_URL_EU: cannot reach the eu CRM database" in outcome.err
    assert SECRET not in outcome.err + outcome.out
    assert changes(before, fingerprint(prepared.home)) == []
