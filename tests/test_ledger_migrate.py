"""A ledger created by an earlier version accepts the request types and channels added since."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateTable

from connectors.base import Identity
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType, Scope
from dsr.ledger.migrate import widen_checks
from dsr.ledger.schema import make_engine, requests

OLD_ROW = {
    "request_id": "r-20260101-0000abcd",
    "type": "access",
    "scope": "user_account",
    "state": "fulfilled",
    "received_at": datetime(2026, 1, 1, tzinfo=UTC),
    "due_at": datetime(2026, 2, 1, tzinfo=UTC),
    "extension_months": 0,
    "identity_verified": False,
    "subject_hash": "0" * 64,
    "channel": "cli",
    "result": "{}",
    "updated_at": datetime(2026, 1, 2, tzinfo=UTC),
}


def _old_ledger(url: str) -> None:
    """The requests table as the previous version created it: no restriction, no schedule."""
    engine = create_engine(url)
    ddl = str(CreateTable(requests).compile(dialect=engine.dialect))
    old = ddl.replace(", 'restriction'", "").replace(", 'schedule'", "")
    assert old != ddl
    with engine.begin() as conn:
        conn.exec_driver_sql(old)
        conn.execute(insert(requests).values(**OLD_ROW))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(requests).values(
                **{**OLD_ROW, "request_id": "r-20260101-0000abce", "type": "restriction"}
            )
        )
    engine.dispose()


def test_an_old_ledger_is_widened_in_place_and_keeps_its_rows(db_url: str, keys: KeyRing) -> None:
    _old_ledger(db_url)
    ledger = Ledger(db_url, keys)
    ledger.create_schema()
    record = ledger.register(
        type=RequestType.RESTRICTION,
        scope=Scope.USER_ACCOUNT,
        identities=[Identity("email", "maria.jensen@example.org")],
        channel="schedule",
        identity_verified=True,
    )
    assert ledger.get(record.request_id).channel == "schedule"
    assert ledger.get(OLD_ROW["request_id"]).type == RequestType.ACCESS
    ledger.create_schema()  # idempotent: nothing left to widen
    engine = make_engine(db_url)
    with engine.begin() as conn:
        assert widen_checks(conn) == []
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    # The widened lists still refuse what no version knows.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            insert(requests).values(
                **{**OLD_ROW, "request_id": "r-20260101-0000abcf", "type": "telepathy"}
            )
        )
    engine.dispose()
    ledger.close()
