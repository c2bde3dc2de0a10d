"""Closed Users: each erased through the normal per-person erasure path.

A User whose account closed a month ago (``accounts.user``) gets an erasure request like any
person's: scope ``user_account``, channel ``schedule``, identified by the e-mail and phone still
on the account row, its identity verified by this job (the account row is the proof of who it
is). The pending-requests sensor launches it; its run erases the person everywhere the data map
says, verifies and issues the normal deletion proof. Colleagues are untouched because erasure is
precise, not because this module is careful.

A restricted account (the data map's ``restriction`` flag on its row, Art. 18) is held, not
queued, and counted as ``held: restricted``; once the restriction is lifted the next run queues it.

Idempotent: the request carries ``ticket_ref = retention:user:<keyed hash of the account>``, and
an account that has any such request is never queued again. An account whose row no longer
holds anything to erase (erased before) is left alone. Users of a Client whose own purge is due
are the tenant purge's: that purge anonymises them with the rest of the tenant.
"""

from __future__ import annotations

from typing import Any

from connectors.base import EMAIL, PHONE, Identity
from connectors.crm.flags import is_flagged
from connectors.free_text import MentionMatcher
from connectors.identities import harvest_identity
from dsr.erasure.crm import CrmEraser
from dsr.ledger import RequestType, Scope, State
from dsr.retention.accounts import ClosedAccount, account_row, closed_accounts
from dsr.retention.purges import HELD, PurgeContext, PurgeOutcome, first_line

PURGE = "closed_users"
MATCHING = (EMAIL, PHONE)
HELD_RESTRICTED = f"{HELD}restricted"


def account_hash(ctx: PurgeContext, account: ClosedAccount) -> str:
    """How reports and logs name a User's account: a keyed hash, not its row id."""
    return ctx.keys.keyed_hash("account", account.key)[:24]


def ticket_ref(ctx: PurgeContext, account: ClosedAccount) -> str:
    return f"retention:user:{account_hash(ctx, account)}"


def queue_closed_users(ctx: PurgeContext) -> PurgeOutcome:
    outcome = PurgeOutcome(PURGE, ctx.dry_run)
    by_ticket = {r.ticket_ref: r for r in ctx.ledger.list_requests() if r.ticket_ref}
    for connector in ctx.connectors:
        accounts = connector.datamap.accounts
        spec = accounts.user if accounts else None
        if spec is None:
            continue
        tenants_due = set()
        if accounts and accounts.tenant:
            due = closed_accounts(connector, accounts.tenant, "tenant", ctx.today)
            tenants_due = {a.account_id for a in due}
        eraser = CrmEraser(connector, hasher=ctx.keys.keyed_hash, physical="none")
        eraser.check()
        rules = eraser.rules(spec.table)
        tmap = connector.datamap.tables[spec.table]
        for account in closed_accounts(connector, spec, "user", ctx.today):
            if account.tenant_id in tenants_due:
                continue
            try:
                item = _queue_one(ctx, connector, spec, tmap, rules, account, by_ticket, outcome)
            except Exception as exc:
                who = account_hash(ctx, account)
                outcome.failures.append(f"user account {who}: {first_line(exc)}")
                item = {"account_hash": who, "region": account.region, "status": "failed"}
            if item:
                outcome.items.append(item)
    return outcome


def _queue_one(
    ctx: PurgeContext,
    connector: Any,
    spec: Any,
    tmap: Any,
    rules: Any,
    account: ClosedAccount,
    by_ticket: dict[str, Any],
    outcome: PurgeOutcome,
) -> dict[str, Any] | None:
    base = {
        "account_hash": account_hash(ctx, account),
        "region": account.region,
        "closed_on": account.closed_on.isoformat(),
    }
    earlier = by_ticket.get(ticket_ref(ctx, account))
    if earlier is not None:
        if earlier.state == State.FAILED:
            outcome.failures.append(
                f"user account {base['account_hash']}: erasure request {earlier.request_id} "
                "failed; "
                f"run it again with `dsr run {earlier.request_id}`"
            )
        if earlier.state == State.FULFILLED:
            return None
        return {**base, "status": str(earlier.state), "request_id": earlier.request_id}
    row = account_row(connector, spec, account.account_id)
    if row is None:
        return None
    if is_flagged(tmap.restriction, row):
        # Art. 18: kept, storage only, until the restriction is lifted; the next run after that
        # queues it. Counted, not queued, so the hold is visible in every report.
        outcome.add(account.region, spec.table, HELD_RESTRICTED, 1)
        return {**base, "status": HELD_RESTRICTED}
    identities = _identities(tmap, row, connector.countries.for_row(spec.table, row))
    if not identities:
        if rules.leftovers(row, MentionMatcher(set())):
            raise ValueError(
                "the account row still holds personal data but no e-mail or phone to erase "
                "its holder by"
            )
        return None  # erased before: nothing left that could identify anyone
    if ctx.dry_run:
        outcome.add(account.region, spec.table, "queued", 1)
        return {**base, "status": "would_queue"}
    record = ctx.ledger.register(
        type=RequestType.ERASURE,
        scope=Scope.USER_ACCOUNT,
        identities=[*sorted(identities), account.identity],
        ticket_ref=ticket_ref(ctx, account),
        channel="schedule",
        received_at=ctx.now,
        identity_verified=True,
    )
    ctx.ledger.audit(
        record.request_id,
        "retention_user_queued",
        {"region": account.region, "closed_on": account.closed_on.isoformat()},
    )
    outcome.add(account.region, spec.table, "queued", 1)
    return {**base, "status": "queued", "request_id": record.request_id}


def _identities(tmap: Any, row: dict[str, Any], phone_region: str) -> set[Identity]:
    found = set()
    for ident in tmap.identities:
        if ident.kind in MATCHING and ident.matches and ident.column:
            value = harvest_identity(ident.kind, row.get(ident.column), phone_region)
            if value is not None:
                found.add(value)
    return found
