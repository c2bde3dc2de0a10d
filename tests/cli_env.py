"""`dsr` as a user runs it, on a demo home prepared once per module, and a fingerprint of
everything that home holds, to show that a refused command changed nothing.

The home has what the commands act on: a fulfilled access request (a bundle), a fulfilled
Client-data erasure (a proof), a fulfilled restriction and a backup.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import time_machine
from typer.testing import CliRunner

from dsr.cli.main import app
from dsr.democrm.planted import DEMO_EMAIL, client_id
from tests.clock import FROZEN_NOW
from tests.dsr_env import DsrEnv, demo_environment

runner = CliRunner()
NORTHWIND = str(client_id("Northwind Traders"))
# SQLite's side files change when a database is only read; their content is in the dump.
_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def dsr(*args: str, env: Mapping[str, str | None] | None = None) -> Outcome:
    result = runner.invoke(app, list(args), env=dict(env or {}))
    return Outcome(result.exit_code, result.stdout, result.stderr)


def dsr_json(*args: str, env: Mapping[str, str | None] | None = None) -> dict:
    outcome = dsr(*args, "--json", env=env)
    assert outcome.code == 0, outcome
    return json.loads(outcome.out)


@dataclass(frozen=True)
class Prepared:
    env: DsrEnv
    bundle: Path
    proof: Path
    access_id: str
    erasure_id: str
    restriction_id: str
    backup_id: str

    @property
    def home(self) -> Path:
        return self.env.settings.home


def at_tests_now() -> time_machine.travel:
    """A module's fixture is made before any test's clock starts (tests/conftest.py): it
    travels to the same "now" for its setup (the planted minor's birth date follows "today")."""
    return time_machine.travel(FROZEN_NOW, tick=True)


@contextmanager
def prepared_home(home: Path) -> Iterator[Prepared]:
    with ExitStack() as stack:
        with at_tests_now():
            env = stack.enter_context(demo_environment(home))
            access = dsr_json("access", "--email", DEMO_EMAIL)
            erasure = dsr_json(
                "erase",
                "--email",
                "tom.becker@example.net",
                "--scope",
                "client_data",
                "--client",
                NORTHWIND,
                "--authorization",
                "NW-DPA-2026-01",
            )
            restriction = dsr_json(
                "restrict",
                "--email",
                "priya.raman@northwind.test",
                "--grounds",
                "legal_claims",
                "--verified-by",
                "agent-1",
            )
            backup = dsr_json("backup")
        yield Prepared(
            env=env,
            bundle=Path(access["bundle"]),
            proof=Path(erasure["proof"]),
            access_id=access["request_id"],
            erasure_id=erasure["request_id"],
            restriction_id=restriction["request_id"],
            backup_id=backup["backups"][0]["backup_id"],
        )


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def _dump(path: Path) -> str:
    """The database's rows, not its bytes (a read may checkpoint the WAL into the file)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


def fingerprint(root: Path) -> dict[str, str]:
    """Every folder and file under ``root``: SQLite databases by their rows, others by bytes."""
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir():
            seen[rel + "/"] = "folder"
        elif not path.name.endswith(_SIDE_FILES):
            data = _dump(path) if _is_sqlite(path) else hashlib.sha256(path.read_bytes())
            seen[rel] = data if isinstance(data, str) else data.hexdigest()
    return seen


def changes(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """What differs, by path: the files and folders a refusal must not have touched."""
    return sorted(
        f"{'added' if k not in before else 'removed' if k not in after else 'changed'} {k}"
        for k in set(before) | set(after)
        if before.get(k) != after.get(k)
    )
