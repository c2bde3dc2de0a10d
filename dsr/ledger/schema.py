"""The ledger's tables, and the database-side guards that keep the audit log append-only.

Three kinds of data, kept apart on purpose:
- ``requests``: one row per request, with no identity in clear (only a keyed hash);
- ``request_identities``: the encrypted identities, in their own table so they can be deleted
  when the request no longer needs them while the request row and its audit trail stay;
- ``audit_log`` + ``audit_chain_head``: the hash chain, and a one-row head that appenders lock
  and that records the last link, so removing entries from the end is detected too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    column,
    create_engine,
    event,
    func,
    insert,
    select,
    table,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from dsr.request_kinds import RequestType, Scope, State

# "schedule": registered by a scheduled check (closed accounts, minors), not by a person.
CHANNELS = ("cli", "launchpad", "api", "schedule")
GENESIS_HASH = "0" * 64


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    # Constants from our own enums, not input: safe to spell out in DDL.
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"ck_requests_{column}")


def request_key() -> Column[str]:
    """A table's key column naming the request its rows belong to, deleted with the request."""
    return Column(
        "request_id",
        String(32),
        ForeignKey("requests.request_id", ondelete="CASCADE"),
        primary_key=True,
    )


metadata = MetaData()

requests = Table(
    "requests",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("type", String(20), nullable=False),
    Column("scope", String(20), nullable=False),
    Column("client_id", String(200)),
    Column("authorization_ref", String(500)),
    Column("ticket_ref", String(200)),
    Column("state", String(20), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("extension_months", Integer, nullable=False, default=0),
    Column("extension_reason", Text),
    Column("identity_verified", Boolean, nullable=False, default=False),
    Column("subject_hash", String(64), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("result", Text, nullable=False, default="{}"),
    Column("failure_reason", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    _one_of("type", tuple(t.value for t in RequestType)),
    _one_of("scope", tuple(s.value for s in Scope)),
    _one_of("state", tuple(s.value for s in State)),
    _one_of("channel", CHANNELS),
    CheckConstraint("extension_months BETWEEN 0 AND 2", name="ck_requests_extension_months"),
    Index("ix_requests_state", "state"),
    Index("ix_requests_subject_hash", "subject_hash"),
)

request_identities = Table(
    "request_identities",
    metadata,
    request_key(),
    # Fernet token of a JSON list of [kind, value]: the only place identities are kept.
    Column("token", LargeBinary, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    # Assigned by the appender under the chain lock (head + 1), not by a sequence: a sequence
    # leaves gaps on rollback, and a gap-free seq lets verification spot a removed entry.
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("request_id", String(32)),
    # Kept as the exact ISO-8601 text that was hashed, so no driver round-trip can alter it.
    Column("at", String(40), nullable=False),
    Column("event", String(64), nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False, unique=True),
    Index("ix_audit_log_request_id", "request_id"),
)

audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

_SQLITE_GUARDS = (
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END""",
)

# No '%' anywhere: the DBAPI may read it as a placeholder.
_PG_GUARDS = (
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING
            MESSAGE = 'audit_log is append-only: ' || TG_OP || ' refused',
            ERRCODE = 'insufficient_privilege';
    END
    $$""",
    "DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    # TRUNCATE bypasses row triggers; it needs its own statement-level one.
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)


_PG_TRIGGER_NAMES = ("audit_log_no_update_delete", "audit_log_no_truncate")
_pg_trigger = table("pg_trigger", column("tgname"))


def create_all(conn: Connection) -> None:
    """Create tables, guards and the chain head inside the caller's (locked) transaction."""
    metadata.create_all(conn)
    dialect = conn.dialect.name
    if dialect == "sqlite":
        guards = _SQLITE_GUARDS
    elif dialect == "postgresql":
        # Every resource call creates the schema; re-creating triggers each time would take an
        # exclusive lock on audit_log and stall readers, so only do it when they are missing.
        present = conn.execute(
            select(func.count())
            .select_from(_pg_trigger)
            .where(_pg_trigger.c.tgname.in_(_PG_TRIGGER_NAMES))
        ).scalar_one()
        guards = () if present == len(_PG_TRIGGER_NAMES) else _PG_GUARDS
    else:
        raise NotImplementedError(f"the ledger supports sqlite and postgresql, not {dialect}")
    for ddl in guards:
        conn.exec_driver_sql(ddl)
    head = conn.execute(select(audit_chain_head.c.id).where(audit_chain_head.c.id == 1)).first()
    if head is None:
        conn.execute(insert(audit_chain_head).values(id=1, last_seq=0, last_hash=GENESIS_HASH))


# Execution option marking a connection whose transactions write (see ``make_engine``).
WRITE_OPTION = "dsr_ledger_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own BEGIN handling is deferred and implicit; turn it off and issue our own,
    # so a write transaction takes the write lock up front (BEGIN IMMEDIATE) and waits for it
    # under busy_timeout instead of failing with "database is locked" when it upgrades later.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # busy_timeout first: switching to WAL itself needs a lock that another process may hold.
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA foreign_keys = ON")
    # Deleted identities are overwritten with zeros in the file, not left in free pages.
    cur.execute("PRAGMA secure_delete = ON")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    writes = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for the ledger: SQLite (WAL, busy timeout, immediate writes) or PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    if backend != "sqlite":
        raise ValueError(f"the ledger supports sqlite and postgresql URLs, not {backend}")
    if parsed.database in (None, "", ":memory:"):
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def sqlite_checkpoint(engine: Engine) -> None:
    """Copy the WAL into the main file and empty it; best effort (a reader may defer it)."""
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
