"""Closed Clients: each tenant's contents erased per the data map, with a signed proof per account.

Per account (one database: a Client lives in its region): plan from every row of the tenant →
one transaction → physical cleanup → the tenant's rows read again and classified exactly as an
erasure's verification does → a signed deletion proof → the request fulfilled.

The ledger makes it resumable. Each account purge is a request (type erasure, channel
``schedule``, identity ``account``; its subject hash is the keyed hash of the account key, see
``dsr.ledger.records.normalise_identities``; scope client_data, the policy as the authorisation),
marked with ``TICKET`` so the pending-requests sensor never launches it as a person's erasure
(``pipelines.request_state.launch_blocker``). Before the transaction, the
planned counts go into the audit log. So a run that stops anywhere leaves one of:

* nothing committed: the next run plans the same rows and applies them;
* committed, no proof (the request is still open): the next run finds nothing left to change,
  verifies, and issues the proof with the counts recorded before the commit — the transaction
  was all-or-nothing, so those are the counts it applied;
* proof issued, request still open: the next run fulfils the request with that proof; it never
  issues a second one.

Once the transaction committed (and again when a run resumes after it), the purge is recorded as
a tenant tombstone (``dsr.erasure.tenant_tombstones``): a restore of a backup taken before it
re-applies it through ``reapply_tenant_purge``, the same plan, transaction and verification.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from connectors.base import Findings, Identity
from connectors.crm.datamap import AccountTable, DataMapError
from connectors.crm.sql import CrmSqlConnector
from dsr.erasure.apply import ErasureFailed
from dsr.erasure.crm import CrmEraser
from dsr.erasure.plan import ErasurePlan, build_plan
from dsr.erasure.tenant_tombstones import TenantTombstones
from dsr.erasure.verify import PhysicalCleanupError, Verification, classify
from dsr.ledger import InvalidTransition, RequestRecord, RequestType, Scope, State
from dsr.proof import ProofRequest, build_proof, issue_proof
from dsr.proof.crm_section import crm_proof_section
from dsr.proof.sign import EVENT as PROOF_EVENT
from dsr.retention.accounts import ACCOUNT, ClosedAccount, closed_accounts, tenant_findings
from dsr.retention.purges import PurgeContext, PurgeOutcome, first_line

PURGE = "closed_clients"
PLANNED = "retention_purge_planned"
# The instruction a closed account's purge acts on: the policy, not a person's request.
AUTHORIZATION = "privacy-policy-12:closed-account"
# Marks the ledger requests this purge runs itself; the request sensor leaves them alone.
TICKET = f"retention:{PURGE}"


def subject_hash(ctx: PurgeContext, account: ClosedAccount) -> str:
    return ctx.keys.keyed_hash("email", f"account\x1f{account.key}")


def purge_closed_clients(ctx: PurgeContext) -> PurgeOutcome:
    if not ctx.dry_run and ctx.tombstones is None:
        # Without a tenant tombstone a restored backup would bring the purged tenant back.
        raise ValueError("a closed-Client purge needs the tombstones to record itself in")
    outcome = PurgeOutcome(PURGE, ctx.dry_run)
    requests = ctx.ledger.list_requests()  # read-only: a dry run sees what a run would resume
    for connector in ctx.connectors:
        spec = connector.datamap.accounts.tenant if connector.datamap.accounts else None
        if spec is None:
            continue
        eraser = CrmEraser(
            connector,
            hasher=ctx.keys.keyed_hash,
            physical=ctx.physical,  # type: ignore[arg-type]
            step_hook=ctx.step_hook,
        )
        eraser.check()
        for account in closed_accounts(connector, spec, "tenant", ctx.today):
            ours = [r for r in requests if r.subject_hash == subject_hash(ctx, account)]
            try:
                item = _purge_one(ctx, connector, eraser, spec, account, ours, outcome)
            except Exception as exc:
                # One account failing must not stop the others; the run still fails at the end.
                reason = f"Client {account.account_id} ({account.region}): {first_line(exc)}"
                outcome.failures.append(reason)
                item = {"client_id": account.account_id, "region": account.region}
                item["status"] = "failed"
            if item:
                outcome.items.append(item)
    return outcome


def _plan(
    eraser: CrmEraser, spec: AccountTable, account: ClosedAccount, ctx: PurgeContext
) -> tuple[Findings, ErasurePlan]:
    return plan_tenant(eraser, spec, account.account_id, account.key, ctx.today)


def plan_tenant(
    eraser: CrmEraser, spec: AccountTable, client_id: str, key: str, today: date
) -> tuple[Findings, ErasurePlan]:
    """Every row of the tenant, and what the data map's actions do to each."""
    findings = tenant_findings(eraser.connector, spec, client_id, key)
    return findings, build_plan(findings, eraser.datamap, eraser.rules, today)


def verify_tenant(eraser: CrmEraser, client_id: str, key: str, today: date) -> Verification:
    """The tenant read again and classified as an erasure's verification does: only rows kept
    with a legal basis (billing) or emptied may remain."""
    again = tenant_findings(eraser.connector, eraser_spec(eraser), client_id, key)
    return classify(again, eraser.datamap, eraser.rules, today)


def _purge_one(
    ctx: PurgeContext,
    connector: CrmSqlConnector,
    eraser: CrmEraser,
    spec: AccountTable,
    account: ClosedAccount,
    ours: list[RequestRecord],
    outcome: PurgeOutcome,
) -> dict[str, Any] | None:
    findings, plan = _plan(eraser, spec, account, ctx)
    changes = _nonzero(plan.changes())
    open_request = next((r for r in ours if r.state in (State.IN_PROGRESS, State.FAILED)), None)
    base = {
        "client_id": account.account_id,
        "region": account.region,
        "closed_on": account.closed_on.isoformat(),
        "due_on": account.due_on.isoformat(),
    }
    if not changes and open_request is None:
        return None  # purged before: nothing to do, nothing to report
    if ctx.dry_run:
        resume = not changes and open_request is not None
        outcome.merge(
            account.region,
            _planned_counts(ctx, open_request.request_id) if resume else changes,  # type: ignore[union-attr]
        )
        return {**base, "status": "would_finish" if resume else "would_purge"}
    if not changes:
        # An earlier run stopped after its commit: finish that request, do not start another.
        assert open_request is not None
        return _finish(ctx, eraser, findings, plan, account, open_request, None, outcome, base)
    record = open_request or _register(ctx, account)
    if record.state in (State.RECEIVED, State.FAILED):
        if not ctx.ledger.claim(record.request_id):
            raise RuntimeError(f"request {record.request_id} is held by another run")
        record = ctx.ledger.get(record.request_id)
    ctx.ledger.audit(
        record.request_id,
        PLANNED,
        {
            "account_hash": subject_hash(ctx, account)[:32],
            "region": account.region,
            "changes": changes,
        },
    )
    ctx.reached("planned", account.key)
    try:
        applied = eraser.apply([plan], {account.key: findings.identities or {account.identity}})
    except ErasureFailed as exc:
        _fail(ctx, record.request_id, f"purge of {account.region} failed: {exc}")
        raise
    ctx.reached("committed", account.key)
    return _finish(
        ctx, eraser, findings, plan, account, record, applied[account.key], outcome, base
    )


def _finish(
    ctx: PurgeContext,
    eraser: CrmEraser,
    findings: Any,
    plan: ErasurePlan,
    account: ClosedAccount,
    record: RequestRecord,
    applied: dict[str, dict[str, int]] | None,
    outcome: PurgeOutcome,
    base: dict[str, Any],
) -> dict[str, Any]:
    request_id = record.request_id
    # Committed (now, or by a run this one resumes): from here a restore must re-apply it.
    assert ctx.tombstones is not None  # purge_closed_clients refuses a real run without
    TenantTombstones(ctx.tombstones.engine).record(
        request_id, account.region, account.account_id, datetime.now(UTC)
    )
    resumed = applied is None
    counts = _nonzero(applied) if applied is not None else _planned_counts(ctx, request_id)
    touched = sorted(counts)
    try:
        eraser.physical_cleanup(touched)
    except PhysicalCleanupError as exc:
        _fail(ctx, request_id, str(exc))
        raise
    verification = verify_tenant(eraser, account.account_id, account.key, ctx.today)
    if not verification.ok:
        reason = f"{len(verification.unexpected)} rows of the tenant still hold what should be gone"
        _fail(ctx, request_id, reason)
        raise RuntimeError(f"request {request_id}: {reason}")
    issued = _issued_proof(ctx, request_id)
    if issued is None:
        section = crm_proof_section(account.region, counts, plan, verification)
        body = build_proof(
            _proof_request(ctx, record),
            {account.identity},
            [section],
            pending=_backups_pending(ctx, account),
        )
        proof = issue_proof(body, ctx.keys, ctx.ledger, ctx.proofs_dir)
        issued = {
            "proof": str(proof.path),
            "proof_sha256": proof.sha256,
            "audit_seq": proof.audit_seq,
        }
    ctx.reached("proof_issued", account.key)
    if record.state == State.FAILED:
        ctx.ledger.claim(request_id)  # failed after its commit: FAILED -> IN_PROGRESS -> FULFILLED
    ctx.ledger.transition(
        request_id,
        State.FULFILLED,
        result={**issued, "purge": PURGE, "region": account.region, "counts": counts},
    )
    outcome.merge(account.region, counts)
    return {
        **base,
        "status": "resumed" if resumed else "purged",
        "request_id": request_id,
        "proof": issued["proof"],
        "rows": sum(n for acts in counts.values() for n in acts.values()),
    }


def eraser_spec(eraser: CrmEraser) -> AccountTable:
    accounts = eraser.datamap.accounts
    if accounts is None or accounts.tenant is None:
        raise DataMapError(
            f"{eraser.datamap.source_path}: no accounts.tenant, so a Client's tenant cannot be "
            "found to purge"
        )
    return accounts.tenant


@dataclass
class TenantReplay:
    """A recorded purge applied again to a restored copy."""

    counts: dict[str, dict[str, int]]  # table -> action -> rows changed
    verification: Verification

    @property
    def rows_changed(self) -> int:
        return sum(n for acts in self.counts.values() for n in acts.values())


def reapply_tenant_purge(eraser: CrmEraser, client_id: str, today: date) -> TenantReplay:
    """Purge ``client_id``'s tenant in the eraser's database as the retention purge did: the same
    data-map actions (billing kept), one transaction, physical cleanup, the same verification.
    No ledger request and no proof: the live purge has both."""
    eraser.check()
    key = f"tenant:{eraser.region}:{client_id}"  # as ClosedAccount.key names it
    findings, plan = plan_tenant(eraser, eraser_spec(eraser), client_id, key, today)
    counts: dict[str, dict[str, int]] = {}
    if _nonzero(plan.changes()):
        every = findings.identities or {Identity(ACCOUNT, key)}
        counts = _nonzero(eraser.apply([plan], {key: every})[key])
        eraser.physical_cleanup(sorted(counts))
    return TenantReplay(counts, verify_tenant(eraser, client_id, key, today))


def _register(ctx: PurgeContext, account: ClosedAccount) -> RequestRecord:
    return ctx.ledger.register(
        type=RequestType.ERASURE,
        # The contents are the Client's data and its instruction is the contract's end; the
        # reference names the policy that says so.
        scope=Scope.CLIENT_DATA,
        identities=[account.identity],
        client_id=account.account_id,
        authorization_ref=AUTHORIZATION,
        ticket_ref=TICKET,
        channel="schedule",
        received_at=ctx.now,
    )


def _fail(ctx: PurgeContext, request_id: str, reason: str) -> None:
    # Already failed: the first reason stands.
    with suppress(InvalidTransition):
        ctx.ledger.transition(request_id, State.FAILED, reason=reason)


def _nonzero(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    out = {t: {a: n for a, n in acts.items() if n} for t, acts in counts.items()}
    return {t: acts for t, acts in out.items() if acts}


def _planned_counts(ctx: PurgeContext, request_id: str) -> dict[str, dict[str, int]]:
    planned = [e for e in ctx.ledger.audit_entries(request_id) if e.event == PLANNED]
    if not planned:
        raise RuntimeError(
            f"request {request_id} is open but recorded no plan, and nothing is left to purge: "
            "check the tenant by hand before closing the request"
        )
    return dict(planned[-1].details["changes"])


def _issued_proof(ctx: PurgeContext, request_id: str) -> dict[str, Any] | None:
    """A proof already issued for this request whose file exists (a run stopped after it)."""
    path = ctx.proofs_dir / f"{request_id}.proof.json"
    entries = [e for e in ctx.ledger.audit_entries(request_id) if e.event == PROOF_EVENT]
    if not entries or not path.exists():
        return None
    last = entries[-1]
    return {"proof": str(path), "proof_sha256": last.details["proof_sha256"], "audit_seq": last.seq}


def _proof_request(ctx: PurgeContext, record: RequestRecord) -> ProofRequest:
    return ProofRequest.of(record, completed_at=max(ctx.now, record.received_at))


def _backups_pending(ctx: PurgeContext, account: ClosedAccount) -> list[dict[str, Any]]:
    """Snapshots of the account's region taken before now still hold its rows until they expire."""
    return [
        {
            "system": "backups",
            "what": f"snapshot {b.backup_id} of the {b.region} CRM",
            "status": "expires",
            "expires_at": b.expires_at.isoformat(),
        }
        for b in ctx.backups
        if b.region == account.region and b.created_at <= ctx.now
    ]
