"""The request ledger: what was asked, by whom (as a keyed hash), when it is due, where it stands.

All writes are serialised: on SQLite by ``BEGIN IMMEDIATE``, on PostgreSQL by locking the audit
chain head first. So each state change and its audit entry commit together, the chain never forks,
and lock order is the same everywhere (no deadlocks between a CLI, a run and a sensor).
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from connectors.base import Identity
from dsr.keys import KeyRing
from dsr.ledger import audit as _audit
from dsr.ledger.audit import AuditEntry, ChainReport, check_no_personal_data, redact
from dsr.ledger.checkpoints import Checkpoints
from dsr.ledger.dates import MAX_EXTENSION_MONTHS, due_date
from dsr.ledger.guard import ChainGuard, check_state_matches_log
from dsr.ledger.guard import head as _audit_head
from dsr.ledger.migrate import widen_checks
from dsr.ledger.queries import LedgerQueries
from dsr.ledger.records import (
    OPEN_STATES,
    IdentitiesForgotten,
    InvalidTransition,
    RequestRecord,
    UnknownRequest,
    check_liftable,
    check_request_id,
    check_transition,
    now,
    record_from_row,
)
from dsr.ledger.registration import insert_request, prepare
from dsr.ledger.schema import (
    WRITE_OPTION,
    State,
    audit_chain_head,
    create_all,
    make_engine,
    request_identities,
    requests,
    sqlite_checkpoint,
)
from dsr.ledger.work import WorkStore
from dsr.times import utc

_SCHEMA_LOCK_KEY = 0x1D5A_1ED6  # pg advisory lock: concurrent create_schema calls take turns


class Ledger(LedgerQueries):
    """One ledger database, safe to share between threads; call ``create_schema()`` first."""

    def __init__(
        self,
        url: str,
        keys: KeyRing,
        holidays: Container[date] | None = None,
        checkpoints_dir: Path | None = None,
        calendar: str | None = None,
    ) -> None:
        """``holidays``: the days an opt-out's business days skip besides weekends (default: the
        US legal public holidays CAN-SPAM counts). ``checkpoints_dir``: where signed checkpoints
        of the chain head are kept (the proof store; ``dsr.ledger.guard``)."""
        self._engine = make_engine(url)
        self._holidays = holidays
        self._calendar = calendar  # resolved on the first opt-out (``business_calendar``)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._pg = self._engine.dialect.name == "postgresql"
        self._keys = keys
        points = Checkpoints(checkpoints_dir, keys) if checkpoints_dir else None
        self._guard = ChainGuard(points)
        self.work = WorkStore(self._engine, keys)

    @property
    def engine(self) -> Engine:
        """The ledger database, for tables kept beside the ledger's (``dsr.ledger.leases``)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def _opt_out_holidays(self) -> Container[date]:
        # Resolved on first use: most ledgers never register an opt-out.
        if self._holidays is None:
            from dsr.ledger.business_calendar import business_calendar

            self._holidays = business_calendar(*([self._calendar] if self._calendar else []))
        return self._holidays

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as conn:
            if self._pg:
                conn.execute(
                    select(audit_chain_head.c.id)
                    .where(audit_chain_head.c.id == 1)
                    .with_for_update()
                )
            before = self._guard.check(conn)
            yield conn
            after = _audit_head(conn)
        if after != before:
            self._guard.committed(after, now().isoformat())

    def create_schema(self) -> None:
        with self._writer.begin() as conn:
            if self._pg:
                conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
            create_all(conn)
            widen_checks(conn)

    def _row(self, conn: Connection, request_id: str) -> Any:
        row = conn.execute(
            select(requests).where(requests.c.request_id == check_request_id(request_id))
        ).first()
        if row is None:
            raise UnknownRequest(f"no request {request_id} in the ledger")
        return row

    def _update(self, conn: Connection, request_id: str, **values: Any) -> None:
        conn.execute(
            update(requests)
            .where(requests.c.request_id == request_id)
            .values(**values, updated_at=now())
        )

    def register(self, **request: Any) -> RequestRecord:
        """Register one request (``registration.prepare`` names the fields). ``payload`` holds
        what a request needs besides identities (a rectification's new values): personal data
        too, so it is encrypted and forgotten with the identities."""
        return self.register_many([request])[0]

    def register_many(self, requests_: Sequence[Mapping[str, Any]]) -> list[RequestRecord]:
        """Register every request in ONE transaction (all or none), in the given order."""
        prepared = [prepare(self._keys, self._opt_out_holidays, **r) for r in requests_]
        with self._write() as conn:
            ids = [insert_request(conn, reg) for reg in prepared]
            rows = conn.execute(select(requests).where(requests.c.request_id.in_(ids))).all()
        by_id = {row.request_id: record_from_row(row) for row in rows}
        return [by_id[rid] for rid in ids]

    def get(self, request_id: str) -> RequestRecord:
        with self._engine.connect() as conn:
            return record_from_row(self._row(conn, request_id))

    def identities(self, request_id: str) -> set[Identity]:
        return {Identity(k, v) for k, v in self._secret(request_id)["identities"]}

    def payload(self, request_id: str) -> dict[str, Any]:
        return dict(self._secret(request_id)["payload"])

    def _secret(self, request_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            self._row(conn, request_id)
            token = conn.execute(
                select(request_identities.c.token).where(
                    request_identities.c.request_id == request_id
                )
            ).scalar()
        if token is None:
            raise IdentitiesForgotten(f"the identities of {request_id} were deleted")
        return json.loads(self._keys.decrypt(bytes(token)))

    def claim(self, request_id: str, *, resume: bool = False) -> bool:
        """Mark the request in progress for a run. ``resume``: the caller holds the request's
        lease, so one left in progress by a run that died is taken up again."""
        with self._write() as conn:
            before = State(self._row(conn, request_id).state)
            check_state_matches_log(conn, request_id, before.value)
            # The guarded UPDATE is the claim: atomic even without the writer lock.
            claimable = (State.RECEIVED.value, State.FAILED.value)
            if resume:
                claimable += (State.IN_PROGRESS.value,)
            changed = conn.execute(
                update(requests)
                .where(requests.c.request_id == request_id, requests.c.state.in_(claimable))
                .values(state=State.IN_PROGRESS.value, failure_reason=None, updated_at=now())
            ).rowcount
            if changed != 1:
                return False
            _audit.append(conn, request_id, "claimed", {"from": before.value})
            return True

    def transition(
        self,
        request_id: str,
        state: State,
        *,
        reason: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> RequestRecord:
        target = State(state)
        # Reasons are often exception text, which may quote a value: keep them, minus identities.
        reason = redact(reason.strip()) if reason and reason.strip() else None
        if target in (State.FAILED, State.REFUSED) and not reason:
            raise ValueError(f"a reason is required to mark a request {target.value}")
        if result is not None:
            check_no_personal_data(result, "result")
        with self._write() as conn:
            current = State(self._row(conn, request_id).state)
            check_state_matches_log(conn, request_id, current.value)
            check_transition(request_id, current, target)
            values: dict[str, Any] = {"state": target.value, "updated_at": now()}
            values["failure_reason"] = reason if target in (State.FAILED, State.REFUSED) else None
            if result is not None:
                values["result"] = _audit.canonical_json(result)
            conn.execute(
                update(requests)
                .where(requests.c.request_id == request_id, requests.c.state == current.value)
                .values(**values)
            )
            details: dict[str, Any] = {"from": current.value, "to": target.value}
            if reason:
                details["reason"] = reason
            if result is not None:
                details["result"] = result
            _audit.append(conn, request_id, "state_changed", details)
            return record_from_row(self._row(conn, request_id))

    def extend(
        self,
        request_id: str,
        *,
        months: int,
        reason: str,
        notified_via: str,
        at: datetime | None = None,
    ) -> RequestRecord:
        """Art. 12(3): the person is told of an extension, with its reasons, within one month of
        receipt. ``notified_via`` records how (a ticket reply, a letter reference); after the
        first month an extension is refused, because telling the person would already be late.
        """
        if isinstance(months, bool) or not isinstance(months, int) or months < 1:
            raise ValueError("months must be a whole number of months, at least 1")
        reason = (reason or "").strip()
        if not reason:
            raise ValueError("an extension needs a recorded reason (GDPR Art. 12(3))")
        notified_via = (notified_via or "").strip()
        if not notified_via:
            raise ValueError(
                "say how the person was told of the extension and its reasons (GDPR Art. 12(3)), "
                "e.g. a ticket reply reference"
            )
        check_no_personal_data({"reason": reason, "notified_via": notified_via}, "extension")
        when = utc(at) if at else now()
        with self._write() as conn:
            row = self._row(conn, request_id)
            if State(row.state) not in OPEN_STATES:
                raise InvalidTransition(f"{request_id} is {row.state}: only open requests extend")
            first_month_ends = due_date(utc(row.received_at))
            if when > first_month_ends:
                raise ValueError(
                    f"{request_id} was received {utc(row.received_at):%Y-%m-%d}: an extension "
                    f"had to be notified by {first_month_ends:%Y-%m-%d} (GDPR Art. 12(3)); "
                    "it is too late to extend"
                )
            total = row.extension_months + months
            if total > MAX_EXTENSION_MONTHS:
                raise ValueError(
                    f"{request_id} is already extended by {row.extension_months} month(s); "
                    f"GDPR Art. 12(3) allows {MAX_EXTENSION_MONTHS} in total"
                )
            due = due_date(utc(row.received_at), total)
            reasons = f"{row.extension_reason}; {reason}" if row.extension_reason else reason
            values = {"extension_months": total, "extension_reason": reasons, "due_at": due}
            self._update(conn, request_id, **values)
            details = {"months": months, "total_months": total, "due_at": due.isoformat()}
            details |= {"reason": reason, "notified_via": notified_via}
            _audit.append(conn, request_id, "extended", {**details, "at": when.isoformat()})
            return record_from_row(self._row(conn, request_id))

    def mark_identity_verified(self, request_id: str, *, by: str) -> RequestRecord:
        by = (by or "").strip()
        if not by:
            raise ValueError("say who verified the identity (a staff handle, not an e-mail)")
        check_no_personal_data({"by": by}, "verification")
        with self._write() as conn:
            row = self._row(conn, request_id)
            if State(row.state) not in OPEN_STATES:
                raise InvalidTransition(f"{request_id} is {row.state}: it is closed")
            self._update(conn, request_id, identity_verified=True)
            _audit.append(conn, request_id, "identity_verified", {"by": by})
            return record_from_row(self._row(conn, request_id))

    def lift(self, request_id: str, details: dict[str, Any]) -> RequestRecord:
        """Art. 18(3): a fulfilled restriction becomes ``lifted``, with ``details`` (reason, how
        the person was told, by whom, counts) as its ``restriction_lifted`` entry and under
        ``lifted`` in its result. The identities it kept while in force are forgotten with it."""
        check_no_personal_data(details, "lift")
        with self._write() as conn:
            record = record_from_row(self._row(conn, request_id))
            check_liftable(record)
            result = _audit.canonical_json({**record.result, "lifted": details})
            self._update(conn, request_id, state=State.LIFTED.value, result=result)
            moved = {"from": record.state.value, "to": State.LIFTED.value}
            _audit.append(conn, request_id, "state_changed", moved)
            _audit.append(conn, request_id, "restriction_lifted", details)
        self.forget_identities(request_id)
        return self.get(request_id)

    def forget_identities(self, request_id: str) -> None:
        with self._write() as conn:
            if State(self._row(conn, request_id).state) is State.IN_PROGRESS:
                raise InvalidTransition(f"{request_id} is in progress: its run needs them")
            deleted = conn.execute(
                delete(request_identities).where(request_identities.c.request_id == request_id)
            ).rowcount
            _audit.append(conn, request_id, "identities_forgotten", {"deleted": deleted == 1})
        if not self._pg:
            # The zeroed page moves into the main file, so the ciphertext leaves the WAL too.
            sqlite_checkpoint(self._engine)

    def audit(self, request_id: str | None, event: str, details: dict[str, Any]) -> AuditEntry:
        with self._write() as conn:
            if request_id is not None:
                self._row(conn, request_id)
            return _audit.append(conn, request_id, event, details)

    def audit_entries(self, request_id: str | None = None) -> list[AuditEntry]:
        with self._engine.connect() as conn:
            return _audit.entries(
                conn, None if request_id is None else check_request_id(request_id)
            )

    def verify_chain(self) -> ChainReport:
        """The whole chain, and its end against the latest signed checkpoint."""
        # One snapshot for the whole walk, so a concurrent append cannot look like tampering.
        options = {"isolation_level": "REPEATABLE READ"} if self._pg else {}
        with self._engine.connect().execution_options(**options) as conn:
            report = _audit.verify(conn)
            if not report.ok:
                return report
            problem = self._guard.against_checkpoint(conn, _audit_head(conn))
        if problem:
            return ChainReport(False, report.entries, None, problem)
        return report
