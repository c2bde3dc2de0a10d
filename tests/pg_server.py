"""A throwaway PostgreSQL server for the test session: loopback only, trust auth, temp data dir.

Plain Python, no pytest, so a script or a benchmark can use it too. As root (sessions and CI run
as root) initdb and pg_ctl run as the ``postgres`` system user, since the server refuses root.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
_STARTUP_ATTEMPTS = 3


class PgUnavailable(RuntimeError):
    """The server could not be found or started; the message says why."""


def find_bin_dir() -> Path:
    """The directory holding initdb and pg_ctl: on PATH, else Debian's newest version."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    candidates = [
        p
        for p in Path("/usr/lib/postgresql").glob("*/bin")
        if (p / "pg_ctl").exists() and (p / "initdb").exists()
    ]
    if not candidates:
        raise PgUnavailable(
            "initdb/pg_ctl not found on PATH or under /usr/lib/postgresql/*/bin "
            "(install Debian's 'postgresql' package; scripts/test.sh does it)"
        )

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", p.parent.name)) or (0,)

    return max(candidates, key=version)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _traversable_tmp() -> str:
    # The postgres user must reach its data dir: TMPDIR may sit under a private home.
    base = Path(tempfile.gettempdir()).resolve()
    for part in (base, *base.parents):
        if not part.stat().st_mode & stat.S_IXOTH:
            return "/tmp"
    return str(base)


@dataclass
class PgServer:
    bin_dir: Path
    base_dir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    _run_as: list[str] = field(default_factory=list)
    _stopped: bool = False

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def url(self, dbname: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """A new database (optionally a copy of ``template``); returns its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with self._admin() as conn:
            conn.execute(query)
        return name

    def drop_database(self, name: str) -> None:
        # FORCE: a test that forgot to dispose its engine must not keep the database alive.
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*self._run_as, *(str(a) for a in args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd="/")
        if check and proc.returncode != 0:
            raise PgUnavailable(
                f"{Path(str(args[0])).name} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        return proc

    def stop(self) -> None:
        """Stop the server and remove its files; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            if (self.data_dir / "postmaster.pid").exists():
                self._run(
                    self.bin_dir / "pg_ctl",
                    "-D",
                    self.data_dir,
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                    check=False,
                )
        shutil.rmtree(self.base_dir, ignore_errors=True)


def _server_log(server: PgServer) -> str:
    try:
        return server.log_file.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def start() -> PgServer:
    """initdb + pg_ctl start on a free loopback port; PgUnavailable says why if it cannot."""
    bin_dir = find_bin_dir()
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="dsr-pg-", dir=_traversable_tmp()))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(SUPERUSER)
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            raise PgUnavailable("running as root but there is no 'postgres' user") from None
        os.chown(base, owner.pw_uid, owner.pw_gid)
        runuser = shutil.which("runuser")
        if not runuser:
            shutil.rmtree(base, ignore_errors=True)
            raise PgUnavailable("running as root but runuser (util-linux) is missing")
        run_as = [runuser, "-u", SUPERUSER, "--"]
    server = PgServer(bin_dir=bin_dir, base_dir=base, port=0, _run_as=run_as)
    try:
        server._run(
            bin_dir / "initdb",
            "-D",
            server.data_dir,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        # Another process may take the free port between probing and binding: try again.
        last_error = ""
        for _ in range(_STARTUP_ATTEMPTS):
            server.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {server.port} -k {base} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            proc = server._run(
                bin_dir / "pg_ctl",
                "-D",
                server.data_dir,
                "-l",
                server.log_file,
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if proc.returncode == 0:
                break
            last_error = f"{proc.stderr.strip()} {_server_log(server)}"
        else:
            raise PgUnavailable(f"pg_ctl start failed: {last_error.strip()[-2000:]}")
    except BaseException:
        server.stop()
        raise
    # Belt and braces for an interpreter that exits without running the fixture's teardown.
    atexit.register(server.stop)
    return server
