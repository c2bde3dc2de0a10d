"""The request ledger on SQLite and PostgreSQL: registration, claims, the state machine, deadlines,
forgetting identities. The audit chain has its own file, ``test_ledger_audit.py``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import create_engine, func, select

from connectors.base import Identity
from dsr.keys import KeyRing
from dsr.ledger import (
    REQUEST_ID_PATTERN,
    IdentitiesForgotten,
    InvalidTransition,
    Ledger,
    RequestRefused,
    RequestType,
    Scope,
    State,
    UnknownRequest,
    add_business_days,
    business_days_between,
    due_date,
)
from dsr.ledger.schema import audit_log, request_identities, requests

EMAIL = "Maria.Jensen@Example.org"
PHONE = "+14155550142"
SUBJECT = [Identity("email", EMAIL), Identity("phone", PHONE)]


@pytest.fixture
def ledger(db_url: str, keys: KeyRing) -> Iterator[Ledger]:
    led = Ledger(db_url, keys)
    led.create_schema()
    led.create_schema()  # idempotent
    yield led
    led.close()


def register(ledger: Ledger, **kw: object) -> str:
    args: dict[str, object] = {
        "type": RequestType.ACCESS,
        "scope": Scope.USER_ACCOUNT,
        "identities": SUBJECT,
    }
    args.update(kw)
    return ledger.register(**args).request_id  # type: ignore[arg-type]


def count_rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (requests, request_identities, audit_log)
            }
    finally:
        engine.dispose()


def test_register_get_and_identities(ledger: Ledger, keys: KeyRing) -> None:
    received = datetime(2026, 3, 15, 9, 30, tzinfo=UTC)
    rec = ledger.register(
        type=RequestType.ERASURE,
        scope=Scope.USER_ACCOUNT,
        identities=SUBJECT,
        ticket_ref="ZD-4411",
        channel="launchpad",
        received_at=received,
    )
    assert REQUEST_ID_PATTERN.match(rec.request_id)
    assert rec.request_id.startswith("r-20260315-")
    assert rec.state is State.RECEIVED and rec.type is RequestType.ERASURE
    assert rec.received_at == received and rec.due_at == datetime(2026, 4, 15, 9, 30, tzinfo=UTC)
    assert rec.subject_hash == keys.keyed_hash("email", EMAIL.lower())
    assert not rec.identity_verified and rec.result == {} and rec.channel == "launchpad"
    assert ledger.get(rec.request_id) == rec
    assert ledger.identities(rec.request_id) == {
        Identity("email", EMAIL.lower()),
        Identity("phone", PHONE),
    }
    [entry] = ledger.audit_entries(rec.request_id)
    assert entry.event == "registered" and entry.details["subject_hash"] == rec.subject_hash
    assert [r.request_id for r in ledger.list_requests(states=[State.RECEIVED])] == [rec.request_id]
    assert ledger.list_requests(states=[State.FULFILLED]) == []


def test_register_needs_an_email_and_aware_time(ledger: Ledger, db_url: str) -> None:
    with pytest.raises(ValueError, match="e-mail identity"):
        register(ledger, identities=[Identity("phone", PHONE)])
    with pytest.raises(ValueError, match="timezone-aware"):
        register(ledger, received_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="channel"):
        register(ledger, channel="fax")
    assert count_rows(db_url) == {"requests": 0, "request_identities": 0, "audit_log": 0}


def test_get_rejects_malformed_and_unknown_ids(ledger: Ledger) -> None:
    with pytest.raises(UnknownRequest, match="not a request id") as exc:
        ledger.get("maria@example.org")
    assert "maria" not in str(exc.value)
    with pytest.raises(UnknownRequest, match="no request r-20260101-00000000"):
        ledger.get("r-20260101-00000000")


@pytest.mark.parametrize(
    ("client_id", "authorization_ref", "missing"),
    [
        (None, None, "client_id, authorization_ref"),
        ("acme", " ", "authorization_ref"),
        (None, "DPA-7 instruction 2026-03", "client_id"),
    ],
)
def test_client_data_without_mandate_is_refused_and_writes_nothing(
    ledger: Ledger, db_url: str, client_id: str | None, authorization_ref: str | None, missing: str
) -> None:
    with pytest.raises(RequestRefused, match=f"missing: {missing}") as exc:
        register(
            ledger,
            scope=Scope.CLIENT_DATA,
            client_id=client_id,
            authorization_ref=authorization_ref,
        )
    assert "documented instruction" in str(exc.value)
    assert count_rows(db_url) == {"requests": 0, "request_identities": 0, "audit_log": 0}
    assert ledger.list_requests() == [] and ledger.audit_entries() == []
    ok = register(
        ledger, scope=Scope.CLIENT_DATA, client_id="2000000017", authorization_ref="DPA-7 2026/11"
    )
    assert ledger.get(ok).client_id == "2000000017"
    assert ledger.audit_entries(ok)[0].details["authorization_ref"] == "DPA-7 2026/11"


def test_only_one_claim_wins(ledger: Ledger) -> None:
    rid = register(ledger)
    assert ledger.claim(rid) is True
    assert ledger.claim(rid) is False
    rid2 = register(ledger)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(ledger.claim(rid2))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert [e.event for e in ledger.audit_entries(rid2)] == ["registered", "claimed"]


def test_state_machine(ledger: Ledger) -> None:
    rid = register(ledger)
    for illegal in (State.FULFILLED, State.FAILED, State.RECEIVED):
        with pytest.raises(InvalidTransition, match=f"received: it cannot become {illegal}"):
            ledger.transition(rid, illegal, reason="x")
    assert ledger.claim(rid)
    with pytest.raises(ValueError, match="reason is required"):
        ledger.transition(rid, State.FAILED)
    failed = ledger.transition(rid, State.FAILED, reason="crm-eu timed out for maria@example.org")
    assert failed.failure_reason == "crm-eu timed out for <redacted>"
    with pytest.raises(InvalidTransition):
        ledger.transition(rid, State.FULFILLED)
    assert ledger.claim(rid)  # retry after failure
    assert ledger.get(rid).failure_reason is None
    done = ledger.transition(rid, State.FULFILLED, result={"rows": 12, "bundle": f"eu/{rid}.zip"})
    assert done.state is State.FULFILLED and done.result == {"rows": 12, "bundle": f"eu/{rid}.zip"}
    for state in State:
        with pytest.raises(InvalidTransition, match="closed"):
            ledger.transition(rid, state, reason="x")
    assert ledger.claim(rid) is False
    before = ledger.audit_entries(rid)
    assert [e.event for e in before] == ["registered"] + ["claimed", "state_changed"] * 2
    assert before[-1].details["result"]["rows"] == 12

    refused = register(ledger)
    rec = ledger.transition(refused, State.REFUSED, reason="identity could not be verified")
    assert rec.state is State.REFUSED and rec.failure_reason == "identity could not be verified"
    with pytest.raises(ValueError, match="e-mail"):
        ledger.transition(register(ledger), State.REFUSED, reason="r", result={"to": "a@b.org"})


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (datetime(2026, 1, 31, 12, tzinfo=UTC), datetime(2026, 2, 28, 12, tzinfo=UTC)),
        (datetime(2028, 1, 31, 12, tzinfo=UTC), datetime(2028, 2, 29, 12, tzinfo=UTC)),
        (datetime(2026, 3, 31, 12, tzinfo=UTC), datetime(2026, 4, 30, 12, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 1, 31, 23, 59, tzinfo=UTC)),
    ],
)
def test_due_date_is_one_calendar_month(received: datetime, due: datetime) -> None:
    assert due_date(received) == due
    assert due_date(received.date()) == due.date()


def test_due_date_at_month_end_through_the_ledger(ledger: Ledger) -> None:
    rid = register(ledger, received_at=datetime(2028, 1, 31, 8, tzinfo=UTC))
    assert ledger.get(rid).due_at == datetime(2028, 2, 29, 8, tzinfo=UTC)
    # Counted from receipt, not from Feb 29: three months after Jan 31 is Apr 30.
    early = datetime(2028, 2, 10, tzinfo=UTC)
    ledger.extend(rid, months=1, reason="many systems", notified_via="SUP-1", at=early)
    rec = ledger.extend(rid, months=1, reason="backups to restore", notified_via="SUP-2", at=early)
    assert rec.due_at == datetime(2028, 4, 30, 8, tzinfo=UTC)


def test_extension_limits(ledger: Ledger) -> None:
    rid = register(ledger, received_at=datetime(2026, 5, 10, tzinfo=UTC))
    within = datetime(2026, 5, 20, tzinfo=UTC)
    for months, reason, via, message in [
        (1, " ", "SUP-1", "recorded reason"),
        (1, "complex", " ", "how the person was told"),
        (0, "complex", "SUP-1", "at least 1"),
        (3, "complex", "SUP-1", "2 in total"),
        (1, "asked by maria@example.org", "SUP-1", "e-mail"),
        (1, "complex", "mailed maria@example.org", "e-mail"),
    ]:
        with pytest.raises(ValueError, match=message):
            ledger.extend(rid, months=months, reason=reason, notified_via=via, at=within)
    assert ledger.get(rid).extension_months == 0 and len(ledger.audit_entries(rid)) == 1
    rec = ledger.extend(
        rid, months=2, reason="complex: 14 systems, 3 regions", notified_via="SUP-1", at=within
    )
    assert rec.due_at == datetime(2026, 8, 10, tzinfo=UTC)
    assert rec.extension_reason == "complex: 14 systems, 3 regions"
    entry = ledger.audit_entries(rid)[-1]
    assert entry.event == "extended" and entry.details["notified_via"] == "SUP-1"
    with pytest.raises(ValueError, match="already extended by 2"):
        ledger.extend(rid, months=1, reason="more", notified_via="SUP-1", at=within)
    assert ledger.get(rid).due_at == datetime(2026, 8, 10, tzinfo=UTC)
    other = register(ledger)
    ledger.transition(other, State.REFUSED, reason="manifestly unfounded")
    with pytest.raises(InvalidTransition, match="only open requests"):
        ledger.extend(other, months=1, reason="late", notified_via="SUP-1")


@pytest.mark.parametrize(
    ("received", "at", "allowed"),
    [
        # The first month ends on the original due date, month ends clamped (Jan 31 -> Feb 28).
        (datetime(2027, 1, 31, 9, tzinfo=UTC), datetime(2027, 2, 28, 9, tzinfo=UTC), True),
        (datetime(2027, 1, 31, 9, tzinfo=UTC), datetime(2027, 2, 28, 9, 1, tzinfo=UTC), False),
        (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC), False),
    ],
)
def test_an_extension_is_notified_within_the_first_month(
    ledger: Ledger, received: datetime, at: datetime, allowed: bool
) -> None:
    rid = register(ledger, received_at=received)
    before = ledger.get(rid).due_at
    if allowed:
        assert ledger.extend(rid, months=1, reason="r", notified_via="SUP-9", at=at).due_at > before
        return
    with pytest.raises(ValueError, match="too late to extend"):
        ledger.extend(rid, months=1, reason="r", notified_via="SUP-9", at=at)
    assert ledger.get(rid).due_at == before and ledger.get(rid).extension_months == 0


def test_identity_verification(ledger: Ledger) -> None:
    rid = register(ledger)
    with pytest.raises(ValueError, match="e-mail"):
        ledger.mark_identity_verified(rid, by="agent@inextcrm.example")
    assert ledger.mark_identity_verified(rid, by="support:jdoe").identity_verified
    assert ledger.audit_entries(rid)[-1].details == {"by": "support:jdoe"}


def test_forget_identities(ledger: Ledger, db_url: str) -> None:
    rid = register(ledger)
    ledger.claim(rid)
    with pytest.raises(InvalidTransition, match="in progress"):
        ledger.forget_identities(rid)
    ledger.transition(rid, State.FULFILLED, result={"rows": 3})
    subject_hash = ledger.get(rid).subject_hash
    ledger.forget_identities(rid)
    with pytest.raises(IdentitiesForgotten):
        ledger.identities(rid)
    assert ledger.get(rid).subject_hash == subject_hash
    ledger.forget_identities(rid)  # idempotent
    events = ledger.audit_entries(rid)[-2:]
    assert [(e.event, e.details) for e in events] == [
        ("identities_forgotten", {"deleted": True}),
        ("identities_forgotten", {"deleted": False}),
    ]
    assert count_rows(db_url)["request_identities"] == 0
    assert ledger.verify_chain().ok


def test_business_days() -> None:
    friday = date(2026, 11, 20)
    assert add_business_days(friday, 1) == date(2026, 11, 23)
    assert add_business_days(friday, 10) == date(2026, 12, 4)
    assert add_business_days(friday, 10, holidays={date(2026, 11, 26)}) == date(2026, 12, 7)
    assert add_business_days(friday, 0) == friday
    for n in range(30):
        assert business_days_between(friday, add_business_days(friday, n)) == n
    assert business_days_between(date(2026, 11, 23), friday) == -1
