"""PostgreSQL client tools for backups: find pg_dump / pg_restore, run them without leaking secrets.

The tools must be at least as new as the server. They are looked for in an explicit folder first
(the store's ``pg_bin_dir``), then in Debian's newest ``/usr/lib/postgresql/<version>/bin`` (where
the server binaries live on these machines), then on PATH.

The connection goes to the tool as a libpq connection string *without* the password, which goes
in ``PGPASSWORD``: a command line is readable by every user of the machine (``ps``), the
environment of another user's process is not.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from psycopg.conninfo import make_conninfo
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    inspect,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

T = TypeVar("T")

# A table restore writes into a PostgreSQL target: 'restoring' until every erasure recorded since
# the snapshot is re-applied, then 'usable' — or 'unusable' with the reason. A process killed
# half-way leaves 'restoring', never a database that looks fine.
RESTORE_STATUS_TABLE = "dsr_restore_status"
_status_metadata = MetaData()
restore_status = Table(
    RESTORE_STATUS_TABLE,
    _status_metadata,
    Column("backup_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


class PgToolError(RuntimeError):
    """pg_dump or pg_restore failed or could not be found; stderr without row values attached."""


def find_pg_tool(name: str, bin_dir: Path | None = None) -> Path:
    if bin_dir is not None:
        path = Path(bin_dir) / name
        if not path.exists():
            raise PgToolError(f"{name} not found in {bin_dir}")
        return path

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", p.parent.parent.name)) or (0,)

    debian = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=version)
    if debian:
        return debian[-1]
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    raise PgToolError(f"{name} not found under /usr/lib/postgresql/*/bin or on PATH")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """(connection string without password, environment carrying the password)."""
    parsed = make_url(url)
    params: dict[str, str] = {
        k: v for k, v in parsed.query.items() if isinstance(v, str) and k != "password"
    }
    for key, value in (
        ("host", parsed.host),
        ("port", parsed.port),
        ("user", parsed.username),
        ("dbname", parsed.database),
    ):
        if value is not None:
            params[key] = str(value)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return make_conninfo(**params), env


def _clean_stderr(text: str) -> str:
    # DETAIL and CONTEXT lines of a server error quote row values ("Key (email)=(...)").
    kept = [
        line
        for line in text.splitlines()
        if not line.lstrip().startswith(("DETAIL", "CONTEXT", "Key (", "Failing row"))
    ]
    return "\n".join(kept)[-2000:]


def run_pg_tool(
    name: str,
    options: list[str],
    url: str,
    bin_dir: Path | None = None,
    positional: list[str] | None = None,
) -> None:
    conninfo, env = _libpq(url)
    # --no-password: fail at once rather than wait for a prompt nobody will answer.
    cmd = [str(find_pg_tool(name, bin_dir)), *options, "--no-password", f"--dbname={conninfo}"]
    cmd += positional or []
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise PgToolError(f"{name} failed ({proc.returncode}): {_clean_stderr(proc.stderr)}")


def user_tables(bind: Engine | Connection) -> list[str]:
    return sorted(inspect(bind).get_table_names())


def mark(engine: Engine, backup_id: str, state: str, detail: str = "") -> None:
    with engine.begin() as conn:
        if state == "restoring":
            _status_metadata.create_all(conn)
            conn.execute(restore_status.insert().values(backup_id=backup_id, state=state))
        else:
            conn.execute(
                update(restore_status)
                .where(restore_status.c.backup_id == backup_id)
                .values(state=state, detail=detail[:2000], updated_at=func.now())
            )


def quarantine(engine: Engine, backup_id: str, reason: str) -> None:
    """Drop every restored table and say why: the target held nothing before the restore."""
    preparer = engine.dialect.identifier_preparer
    with engine.begin() as conn:
        for name in user_tables(conn):
            if name != RESTORE_STATUS_TABLE:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {preparer.quote(name)} CASCADE")
    mark(engine, backup_id, "unusable", reason)


def dump_pg(
    url: str,
    out: Path,
    read: Callable[[Connection], T],
    bin_dir: Path | None = None,
) -> T:
    """pg_dump (custom format) into ``out``; ``read`` sees exactly the data the dump holds.

    Both run on one exported snapshot of a REPEATABLE READ transaction, so a row committed
    while the dump runs is in neither the archive nor what ``read`` returns (the index).
    """
    engine = create_engine(url, poolclass=NullPool, hide_parameters=True)
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                snap = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                options = [
                    "--format=custom",
                    f"--snapshot={snap}",
                    # A database restored by us carries this marker; a backup of it must not.
                    f"--exclude-table={RESTORE_STATUS_TABLE}",
                    f"--file={out}",
                ]
                run_pg_tool("pg_dump", options, url, bin_dir)
                return read(conn)
    finally:
        engine.dispose()
