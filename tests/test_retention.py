"""Retention purges on SQLite and PostgreSQL: due dates, closed Clients, closed Users, billing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dsr.democrm.planted import planted_id
from dsr.democrm.schema import (
    contacts,
    invoices,
    payment_methods,
    users,
    visitor_analytics,
)
from dsr.ledger import State
from dsr.proof import verify_proof
from dsr.retention.dates import is_due
from dsr.retention.run import run_purges
from tests.retention_env import CONTOSO, NORTHWIND, RetentionCrm, at, retention_crm

MARIA_USER = planted_id("us", 2)
PRIYA_USER = planted_id("us", 1)


@pytest.fixture
def crm(db_url: str, tmp_path: Path) -> Iterator[RetentionCrm]:
    yield from retention_crm(db_url, tmp_path / "home")


def proofs(crm: RetentionCrm) -> list[Path]:
    folder = crm.home / "proofs"
    return sorted(folder.glob("*.proof.json")) if folder.exists() else []


def merged(*counts: dict) -> dict:
    out: dict = {}
    for c in counts:
        for region, tables in c.items():
            for table, actions in tables.items():
                for action, n in actions.items():
                    by = out.setdefault(region, {}).setdefault(table, {})
                    by[action] = by.get(action, 0) + n
    return out


# -- the calendar ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "period", "today", "due"),
    [
        ("2026-01-10", "1m", "2026-02-09", False),  # a month minus a day
        ("2026-01-10", "1m", "2026-02-10", True),  # exactly a month
        ("2026-01-10", "1m", "2026-02-11", True),  # a month and a day
        ("2026-01-31", "1m", "2026-02-27", False),  # month end: February is shorter
        ("2026-01-31", "1m", "2026-02-28", True),
        ("2028-01-31", "1m", "2028-02-28", False),  # leap year: 29 February exists
        ("2028-01-31", "1m", "2028-02-29", True),
        ("2026-03-31", "1m", "2026-04-30", True),
        ("2020-02-29", "7y", "2027-02-27", False),  # 29 February + 7 years = 28 February
        ("2020-02-29", "7y", "2027-02-28", True),
        ("2019-03-01", "7y", "2026-02-28", False),
        ("2019-03-01", "7y", "2026-03-01", True),
    ],
)
def test_due_dates_follow_the_calendar(start: str, period: str, today: str, due: bool) -> None:
    assert is_due(date.fromisoformat(start), period, date.fromisoformat(today)) is due


@pytest.mark.parametrize(
    ("now", "purged"),
    [("2026-02-27T23:59:00", False), ("2026-02-28T04:15:00", True), ("2026-03-01T04:15:00", True)],
)
def test_a_client_closed_on_31_january_is_purged_from_28_february(
    crm: RetentionCrm, now: str, purged: bool
) -> None:
    crm.close_client(CONTOSO, at("2026-01-31T16:45:00"))
    [outcome] = run_purges(crm.context(at(now)), ["closed_clients"])
    assert outcome.ok
    left = crm.rows(select(users.c.email).where(users.c.id == MARIA_USER))
    assert (left[0]["email"] is None) is purged
    assert (len(outcome.items) == 1) is purged


# -- closed Clients ----------------------------------------------------------------------------


def test_a_closed_client_is_purged_once_with_a_proof_and_other_tenants_untouched(
    crm: RetentionCrm,
) -> None:
    crm.close_client(CONTOSO, at("2026-01-05T10:00:00"))
    now = at("2026-03-01T04:15:00")
    others = crm.snapshot(except_client=CONTOSO)
    everything = crm.snapshot()
    invoices_before = crm.rows(select(invoices).where(invoices.c.client_id == CONTOSO))

    dry = run_purges(crm.context(now, dry_run=True), ["closed_clients"])[0]
    assert crm.snapshot() == everything  # a dry run changes nothing...
    assert crm.ledger.list_requests() == [] and proofs(crm) == []  # ...records nothing
    real = run_purges(crm.context(now), ["closed_clients"])[0]

    assert real.ok and real.counts == dry.counts
    counts = real.counts["us"]
    assert counts["users"] == {"anonymise": 1}  # Maria's account, emptied (invoices point at it)
    assert counts["clients"] == {"anonymise": 1}  # the billing address; the tenant row stays
    assert counts["visitor_analytics"] == {"delete": 2}  # her signed-in visits, not the cookie's
    assert counts["invoices"] == {"keep": len(invoices_before)}
    # Every other tenant, and every row not the Client's, is byte for byte as it was.
    assert crm.snapshot(except_client=CONTOSO) == others
    assert crm.rows(select(contacts.c.id).where(contacts.c.client_id == CONTOSO)) == []
    [maria] = crm.rows(select(users).where(users.c.id == MARIA_USER))
    assert maria["email"] is None and maria["full_name"] == "[erased]" and maria["phone"] is None
    kept = crm.rows(select(invoices).where(invoices.c.client_id == CONTOSO))
    assert [r["id"] for r in kept] == [r["id"] for r in invoices_before]
    assert all(r["billing_email"] is None and r["billing_name"] for r in kept)
    anonymous = crm.rows(select(visitor_analytics).where(visitor_analytics.c.user_id.is_(None)))
    assert anonymous  # the visit before she signed in is not the account's

    [item] = real.items
    record = crm.ledger.get(item["request_id"])
    assert record.state == State.FULFILLED and record.channel == "schedule"
    assert record.client_id == str(CONTOSO)
    [path] = proofs(crm)
    report = verify_proof(path, crm.keys.public_key_pem(), ledger=crm.ledger)
    assert report.ok, report.problems
    text = path.read_text()
    assert "Contoso" not in text and "maria" not in text.lower()
    proof = json.loads(text)["proof"]
    [section] = proof["systems"]
    assert section["counts"]["users"] == {"anonymised": 1}
    assert section["counts"]["support_tickets"] == {"deleted": counts["support_tickets"]["delete"]}
    [kept_invoices] = [k for k in section["kept"] if k["table"] == "invoices"]
    assert "Art. 17(3)(b)" in kept_invoices["legal_basis"] and kept_invoices["until"] > "2030"
    assert {r["table"] for r in section["verification"]["remaining"]} >= {"invoices", "users"}

    again = run_purges(crm.context(at("2026-03-02T04:15:00")), ["closed_clients"])[0]
    assert again.ok and again.total == 0 and again.items == []
    assert len(proofs(crm)) == 1 and len(crm.ledger.list_requests()) == 1


def test_a_failing_account_is_rolled_back_reported_and_resumed_by_the_next_run(
    crm: RetentionCrm,
) -> None:
    crm.close_client(NORTHWIND, at("2026-01-05T10:00:00"))
    crm.close_client(CONTOSO, at("2026-01-06T10:00:00"))
    now = at("2026-03-01T04:15:00")
    northwind_before = crm.snapshot(except_client=CONTOSO)["contacts"]
    northwind_contacts = crm.rows(select(contacts.c.id).where(contacts.c.client_id == NORTHWIND))
    dry = run_purges(crm.context(now, dry_run=True), ["closed_clients"])[0]
    calls = []

    def fail_first_contacts_delete(step: str, conn: object) -> None:
        if step == "delete contacts":
            calls.append(step)
            if len(calls) == 1:
                raise RuntimeError("disk full")

    first = run_purges(crm.context(now, step_hook=fail_first_contacts_delete), ["closed_clients"])[
        0
    ]
    assert not first.ok and len(first.failures) == 1
    assert f"Client {NORTHWIND}" in first.failures[0] and "rolled back" in first.failures[0]
    # Northwind's transaction rolled back whole; Contoso, after it, was purged.
    assert crm.snapshot(except_client=CONTOSO)["contacts"] == northwind_before
    failed = [r for r in crm.ledger.list_requests() if r.state == State.FAILED]
    assert len(failed) == 1 and failed[0].client_id == str(NORTHWIND)
    assert len(proofs(crm)) == 1

    second = run_purges(crm.context(now), ["closed_clients"])[0]
    assert second.ok and [i["client_id"] for i in second.items] == [str(NORTHWIND)]
    assert second.items[0]["request_id"] == failed[0].request_id  # the same request, resumed
    assert second.counts["us"]["contacts"] == {"delete": len(northwind_contacts)}
    assert merged(first.counts, second.counts) == dry.counts  # together, what the dry run said
    assert len(proofs(crm)) == 2
    assert all(r.state == State.FULFILLED for r in crm.ledger.list_requests())


class Killed(BaseException):
    """The process dies: nothing after this point runs, no handler sees it."""


@pytest.mark.parametrize("point", ["planned", "committed", "proof_issued"])
def test_a_purge_killed_midway_resumes_without_half_work_or_a_second_proof(
    crm: RetentionCrm, point: str
) -> None:
    crm.close_client(CONTOSO, at("2026-01-05T10:00:00"))
    now = at("2026-03-01T04:15:00")
    dry = run_purges(crm.context(now, dry_run=True), ["closed_clients"])[0]

    def kill(reached: str, key: str) -> None:
        if reached == point:
            raise Killed

    with pytest.raises(Killed):
        run_purges(crm.context(now, checkpoint=kill), ["closed_clients"])
    [record] = crm.ledger.list_requests()
    assert record.state == State.IN_PROGRESS
    # A dry run now shows what finishing will do: the same counts the plan recorded.
    assert run_purges(crm.context(now, dry_run=True), ["closed_clients"])[0].counts == dry.counts

    resumed = run_purges(crm.context(now), ["closed_clients"])[0]
    assert resumed.ok and resumed.counts == dry.counts
    assert [i["request_id"] for i in resumed.items] == [record.request_id]
    assert crm.ledger.get(record.request_id).state == State.FULFILLED
    [path] = proofs(crm)
    issued = [e for e in crm.ledger.audit_entries(record.request_id) if e.event == "deletion_proof"]
    assert len(issued) == 1  # never a second proof for the same purge
    assert verify_proof(path, crm.keys.public_key_pem(), ledger=crm.ledger).ok
    assert crm.rows(select(contacts.c.id).where(contacts.c.client_id == CONTOSO)) == []
    assert run_purges(crm.context(now), ["closed_clients"])[0].total == 0


def test_a_purge_killed_between_accounts_finishes_the_rest_and_repeats_nothing(
    crm: RetentionCrm,
) -> None:
    crm.close_client(NORTHWIND, at("2026-01-05T10:00:00"))
    crm.close_client(CONTOSO, at("2026-01-06T10:00:00"))
    now = at("2026-03-01T04:15:00")
    dry = run_purges(crm.context(now, dry_run=True), ["closed_clients"])[0]
    started: list[str] = []

    def kill_at_second_account(reached: str, key: str) -> None:
        if reached == "planned":
            started.append(key)
            if len(started) == 2:
                raise Killed

    with pytest.raises(Killed):
        run_purges(crm.context(now, checkpoint=kill_at_second_account), ["closed_clients"])
    states = sorted(r.state for r in crm.ledger.list_requests())
    assert states == [State.FULFILLED, State.IN_PROGRESS] and len(proofs(crm)) == 1

    rest = run_purges(crm.context(now), ["closed_clients"])[0]
    assert rest.ok and len(rest.items) == 1  # only the account that was cut off
    assert len(proofs(crm)) == 2
    assert all(r.state == State.FULFILLED for r in crm.ledger.list_requests())
    assert run_purges(crm.context(now, dry_run=True), ["closed_clients"])[0].total == 0
    assert dry.total > 0


# -- closed Users --------------------------------------------------------------------------------


def test_a_closed_user_of_an_active_client_is_queued_once_for_erasure(crm: RetentionCrm) -> None:
    crm.close_user(PRIYA_USER, at("2026-01-20T09:00:00"))
    colleague_rows = crm.snapshot()
    early = run_purges(crm.context(at("2026-02-19T04:15:00")), ["closed_users"])[0]
    assert early.total == 0 and crm.ledger.list_requests() == []

    now = at("2026-02-20T04:15:00")
    dry = run_purges(crm.context(now, dry_run=True), ["closed_users"])[0]
    assert crm.ledger.list_requests() == []
    real = run_purges(crm.context(now), ["closed_users"])[0]
    assert real.counts == dry.counts == {"us": {"users": {"queued": 1}}}
    [record] = crm.ledger.list_requests()
    assert record.type == "erasure" and record.scope == "user_account"
    assert record.channel == "schedule" and record.identity_verified
    assert record.state == State.RECEIVED  # the pending_requests sensor launches it
    assert {i.kind for i in crm.ledger.identities(record.request_id)} >= {"email", "phone"}
    # Queuing changes no CRM row, and nothing in the ledger names her.
    assert crm.snapshot() == colleague_rows
    assert "priya" not in json.dumps(real.as_dict()).lower()

    again = run_purges(crm.context(at("2026-02-21T04:15:00")), ["closed_users"])[0]
    assert again.total == 0 and len(crm.ledger.list_requests()) == 1
    assert [i["status"] for i in again.items] == ["received"]


def test_users_of_a_client_whose_purge_is_due_are_left_to_that_purge(crm: RetentionCrm) -> None:
    crm.close_client(CONTOSO, at("2026-01-05T10:00:00"))
    crm.close_user(MARIA_USER, at("2026-01-05T10:00:00"))
    outcome = run_purges(crm.context(at("2026-03-01T04:15:00")), ["closed_users"])[0]
    assert outcome.total == 0 and crm.ledger.list_requests() == []


# -- billing -------------------------------------------------------------------------------------


def test_billing_rows_go_after_seven_years_counting_29_february(crm: RetentionCrm) -> None:
    dates = {1: "2019-02-28", 2: "2020-02-29", 3: "2020-03-01"}
    ids = [r["id"] for r in crm.rows(select(invoices.c.id).order_by(invoices.c.id))]
    with crm.engine.begin() as conn:
        conn.execute(update(invoices).values(issued_at=date(2025, 1, 1)))
        conn.execute(update(payment_methods).values(created_at=at("2025-01-01T00:00:00")))
        for n, day in dates.items():
            conn.execute(
                update(invoices)
                .where(invoices.c.id == ids[n])
                .values(issued_at=date.fromisoformat(day))
            )

    def remaining() -> set[int]:
        return {r["id"] for r in crm.rows(select(invoices.c.id))} & {ids[n] for n in dates}

    before = crm.snapshot()
    dry = run_purges(crm.context(at("2027-02-27T04:15:00"), dry_run=True), ["billing"])[0]
    assert crm.snapshot() == before
    first = run_purges(crm.context(at("2027-02-27T04:15:00")), ["billing"])[0]
    assert first.counts == dry.counts == {"us": {"invoices": {"delete": 1}}}
    assert remaining() == {ids[2], ids[3]}
    leap = run_purges(crm.context(at("2027-02-28T04:15:00")), ["billing"])[0]
    assert leap.counts == {"us": {"invoices": {"delete": 1}}} and remaining() == {ids[3]}
    assert run_purges(crm.context(at("2027-02-28T04:15:00")), ["billing"])[0].total == 0
    entries = [e for e in crm.ledger.audit_entries() if e.event == "retention_rows_expired"]
    assert [e.details["deleted"] for e in entries] == [{"invoices": 1}, {"invoices": 1}]
    assert crm.ledger.verify_chain().ok
