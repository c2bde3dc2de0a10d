"""Lifting a restriction (Art. 18(3)): the one path the CLI and the Launchpad job both take.

The person is told before the restriction is lifted, so a lift needs a reason, a reference to
that notice and who lifts it. Which rows it clears, per region:

- the rows the restriction covers: those its ``restricted`` audit entries name (what it set,
  even if an identity on the row changed since), and the rows discovery finds with its
  identities now (what was already flagged when it ran). A restriction keeps its encrypted
  identities while it is in force for this; one fulfilled before they were kept lifts the rows
  it set;
- less the rows another restriction not lifted (open or in force) covers, found the same way: a
  second restriction of the same person keeps its flags. Where such a restriction no longer has
  its identities and was already in place on some of the person's rows of a table, nothing of
  that table is cleared, since which rows it needs is no longer known.

Each database is cleared in one transaction, then the cleared rows are recorded beside the
suppressions (``dsr.erasure.tombstones``) so a restore re-applies the lift after the restriction.
Only then does the ledger mark the request ``lifted`` with a ``restriction_lifted`` entry (counts
per region and table, no personal data) and forget its identities. A lift that stopped half-way
is finished by running it again: rows already cleared count as ``already_clear``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from connectors.base import Identity
from connectors.crm.sql import CrmSqlConnector, resolve_across
from connectors.crm.unrestrict import CrmUnrestrictor, RowKey
from dsr.erasure.tombstones import Tombstones
from dsr.ledger import IdentitiesForgotten, Ledger, RequestRecord, RequestType, State
from dsr.ledger.records import check_lift_reasons, check_liftable

IN_FORCE = (State.RECEIVED, State.IN_PROGRESS, State.FAILED, State.FULFILLED)
PerRegion = dict[str, set[RowKey]]
# region -> row (or ("*", table)) -> the restrictions covering it
Owners = dict[str, dict[RowKey | tuple[str, str], set[str]]]


def check_lift(
    ledger: Ledger, request_id: str, *, reason: str, notified_via: str, by: str
) -> tuple[RequestRecord, dict[str, str]]:
    """The request and the cleaned reasons, or a LedgerError / ValueError that changed nothing."""
    record = ledger.get(request_id)
    check_liftable(record)
    return record, check_lift_reasons(reason, notified_via, by)


def lift_restriction(
    ledger: Ledger,
    connectors: Sequence[CrmSqlConnector],
    tombstones: Tombstones,
    request_id: str,
    *,
    reason: str,
    notified_via: str,
    by: str,
) -> RequestRecord:
    record, why = check_lift(ledger, request_id, reason=reason, notified_via=notified_via, by=by)
    for connector in connectors:
        connector.validate()
    own, _ = _covered(ledger, connectors, [record], unknown_for=None)
    others = [
        r
        for r in ledger.list_requests(states=IN_FORCE)
        if r.type is RequestType.RESTRICTION and r.request_id != request_id
    ]
    owners: Owners = defaultdict(lambda: defaultdict(set))
    keep, keep_tables = _covered(
        ledger, connectors, others, unknown_for=record.subject_hash, owners=owners
    )
    ledger.audit(request_id, "restriction_lift_started", why)
    per_region: dict[str, dict[str, dict[str, int]]] = {}
    for connector in connectors:
        region = connector.region
        unrestrictor = CrmUnrestrictor(connector)
        plan = unrestrictor.plan(own[region], keep[region], keep_tables[region])
        unrestrictor.apply(plan)
        if plan.changes:
            # After the commit: a backup taken before now may still carry these flags.
            tombstones.record_lift(
                request_id,
                region,
                plan.cleared_rows,
                str(record.scope),
                record.client_id,
                datetime.now(UTC),
            )
        per_region[f"crm:{region}"] = plan.counts()
    cleared = {
        system: sum(c["cleared"] for c in tables.values()) for system, tables in per_region.items()
    }
    details = {
        **why,
        "at": datetime.now(UTC).isoformat(),
        "rows_cleared_per_system": cleared,
        "rows_per_table": per_region,
        # Which other restrictions keep some of these rows flagged, so the operator can see
        # what still has to be lifted (request ids only).
        "kept_for": _blockers(own, owners),
    }
    return ledger.lift(request_id, details)


def _blockers(own: PerRegion, owners: Owners) -> list[str]:
    found: set[str] = set()
    for region, keys in own.items():
        by_key = owners.get(region, {})
        for key in keys:
            found |= by_key.get(key, set()) | by_key.get(("*", key[0]), set())
    return sorted(found)


def _covered(
    ledger: Ledger,
    connectors: Sequence[CrmSqlConnector],
    records: Sequence[RequestRecord],
    *,
    unknown_for: str | None,
    owners: Owners | None = None,
) -> tuple[PerRegion, dict[str, set[str]]]:
    """Rows the restrictions cover per region; and, for those of subject ``unknown_for`` that
    lost their identities, the tables where they covered rows nobody recorded. ``owners``
    gathers which request covers each row (``("*", table)`` for such a whole table)."""
    rows: PerRegion = defaultdict(set)
    unknown: dict[str, set[str]] = defaultdict(set)
    owners = defaultdict(lambda: defaultdict(set)) if owners is None else owners
    groups: dict[tuple[str, str | None], dict[str, set[Identity]]] = defaultdict(dict)
    for record in records:
        recorded, already = _recorded(ledger, record.request_id)
        for region, keys in recorded.items():
            rows[region] |= keys
            for key in keys:
                owners[region][key].add(record.request_id)
        try:
            ids = ledger.identities(record.request_id)
        except IdentitiesForgotten:
            if record.subject_hash == unknown_for:
                for region, tables in already.items():
                    unknown[region] |= tables
                    for table in tables:
                        owners[region][("*", table)].add(record.request_id)
            continue
        groups[(str(record.scope), record.client_id)][record.request_id] = ids
    for (scope, client_id), subjects in groups.items():
        resolved = resolve_across(connectors, subjects, scope=scope, client_id=client_id)
        for connector in connectors:
            found = connector.find(resolved, scope=scope, client_id=client_id)
            unrestrictor = CrmUnrestrictor(connector)
            for request_id, findings in found.items():
                keys = unrestrictor.covered(findings)
                rows[connector.region] |= keys
                for key in keys:
                    owners[connector.region][key].add(request_id)
    return rows, unknown


def _recorded(ledger: Ledger, request_id: str) -> tuple[PerRegion, dict[str, set[str]]]:
    """From the ``restricted`` entries: the rows it set, and the tables where it found some
    already flagged (which rows is not recorded)."""
    rows: PerRegion = defaultdict(set)
    already: dict[str, set[str]] = defaultdict(set)
    for entry in ledger.audit_entries(request_id):
        if entry.event != "restricted":
            continue
        region = str(entry.details.get("region"))
        for row in entry.details.get("rows", []):
            rows[region].add((str(row["table"]), str(row["row_id"])))
        for table, counts in entry.details.get("rows_per_table", {}).items():
            if counts.get("already"):
                already[region].add(str(table))
    return rows, already
