"""What every batch run does around its requests: take them, resolve them together, record each.

A batch run fulfils up to ``DSR_BATCH_SIZE`` requests of one type in one Dagster run: one
discovery pass per table for all of them (the connector's batch path), then each request's own
bundle or proof, state and audit entries. Each request is held by the run's lease exactly as a
single run holds it, so a request another run is working on is left out (and named), and a
request whose own step fails is marked failed with its reason while the others go on. Lineage
stays per request: every request's assets are materialised for its own partition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    Output,
)
from pydantic import Field

from connectors.base import Findings, Identity
from connectors.crm.resolution import Resolution
from connectors.crm.sql import CrmSqlConnector
from dsr.ledger import InvalidTransition, Ledger, RequestRecord, State
from dsr.ledger.work import RESOLVED
from pipelines.checks import VERIFIED_CHECK
from pipelines.request_lease import hold_request
from pipelines.request_state import JOB_TYPES, launch_blocker


class BatchConfig(Config):
    request_ids: list[str] = Field(
        description="The requests this run fulfils together, all of one type (up to "
        "DSR_BATCH_SIZE); the pending_requests sensor fills it in."
    )


@dataclass
class Batch:
    records: list[RequestRecord] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # request id -> why not in this run
    failed: dict[str, str] = field(default_factory=dict)  # request id -> reason

    def fail(self, led: Ledger, record: RequestRecord, step: str, exc: BaseException) -> None:
        reason = f"{step} failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
        self.failed[record.request_id] = reason
        with suppress(InvalidTransition):  # a step of its own failed it first
            led.transition(record.request_id, State.FAILED, reason=reason)


def take_requests(
    context: OpExecutionContext, led: Ledger, request_ids: Sequence[str], job: str
) -> Batch:
    """Hold and claim every request this run may fulfil; the others are left out, named."""
    batch = Batch()
    wanted = JOB_TYPES[job]
    for request_id in dict.fromkeys(request_ids):
        try:
            record = led.get(request_id)
        except Exception as exc:
            batch.left_out[request_id] = f"{type(exc).__name__}: {exc}"
            continue
        blocker = launch_blocker(record)
        if record.type not in wanted:
            blocker = f"is a {record.type} request, not for {job}"
        if blocker:
            batch.left_out[request_id] = blocker
            continue
        try:
            hold_request(context, led, request_id)  # type: ignore[arg-type]
        except Failure as exc:
            batch.left_out[request_id] = exc.description or "held by another run"
            continue
        if not led.claim(request_id, resume=True):
            batch.left_out[request_id] = f"is {led.get(request_id).state}: nothing to run"
            continue
        batch.records.append(led.get(request_id))
    for request_id, why in batch.left_out.items():
        context.log.warning(f"request {request_id} left out of this batch: {why}")
    return batch


def resolve_together(
    connectors: Sequence[CrmSqlConnector],
    records: Iterable[RequestRecord],
    identities: dict[str, set[Identity]],
) -> dict[str, dict[str, Findings]]:
    """request id -> region -> findings: one fixpoint and one find per region for each group
    of requests that share a scope and Client (the identity pass is not sent again)."""
    groups: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for record in records:
        groups[(str(record.scope), record.client_id)].append(record.request_id)
    out: dict[str, dict[str, Findings]] = defaultdict(dict)
    for (scope, client_id), ids in groups.items():
        subjects = {rid: identities[rid] for rid in ids}
        resolution = Resolution.across(connectors, subjects, scope=scope, client_id=client_id)
        for connector in connectors:
            found = connector.find(
                resolution.identities,
                scope=scope,
                client_id=client_id,
                state=resolution.states[connector.region],
            )
            for rid, findings in found.items():
                out[rid][connector.region] = findings
    return out


def tenants_reached(
    connectors: Sequence[CrmSqlConnector], findings: dict[str, Findings], client_id: str | None
) -> dict[str, tuple[str, ...]]:
    """region -> the Clients whose rows the person's identities reached (as ``tenants_of``)."""
    out = {}
    for connector in connectors:
        if client_id is not None:
            out[connector.region] = (str(client_id),)
            continue
        tenants = set()
        for row in findings[connector.region].rows:
            column = connector.datamap.tables[row.ref.table].tenant_column
            if row.via.startswith("identity:") and column and row.data.get(column) is not None:
                tenants.add(str(row.data[column]))
        out[connector.region] = tuple(sorted(tenants))
    return out


def materialized(asset: str, request_id: str, metadata: dict) -> AssetMaterialization:
    """The request's own partition of ``asset``, materialised by this batch run (logged with the
    request's other events, ``pipelines.event_batch``)."""
    return AssetMaterialization(asset_key=asset, partition=request_id, metadata=metadata)


def verified(asset: str, request_id: str, passed: bool, remaining: int) -> AssetCheckEvaluation:
    """The request's own result of the erasure asset's verification check, as a single run
    records it, so the check's partitions read the same whichever way a request was erased."""
    return AssetCheckEvaluation(
        asset_key=AssetKey(asset),
        check_name=VERIFIED_CHECK,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        partition=request_id,
        metadata={"remaining": remaining},
    )


def kinds(identities: Iterable[Identity]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for ident in identities:
        counts[ident.kind] += 1
    return dict(sorted(counts.items()))


def finish_batch(
    context: OpExecutionContext, led: Ledger, batch: Batch, stages: dict[str, float], what: str
) -> Output[None]:
    """The run's counts; a run with a failed request fails (after every other one finished)."""
    fulfilled = sum(1 for r in batch.records if led.get(r.request_id).state == State.FULFILLED)
    metadata = {
        "fulfilled": fulfilled,
        "failed": MetadataValue.json(batch.failed),
        "left_out": MetadataValue.json(batch.left_out),
        "seconds_per_stage": MetadataValue.json({k: round(v, 3) for k, v in stages.items()}),
    }
    context.log.info(f"{what} batch: {fulfilled} fulfilled, {len(batch.failed)} failed")
    if batch.failed:
        raise Failure(
            description=f"{len(batch.failed)} of {len(batch.records)} {what} requests failed "
            "(each is marked failed with its reason; the others were fulfilled): "
            + "; ".join(f"{rid}: {why}" for rid, why in sorted(batch.failed.items())),
            metadata=metadata,
        )
    return Output(None, metadata=metadata)


def resolve_and_record(
    connectors: Sequence[CrmSqlConnector], led: Ledger, records: Sequence[RequestRecord]
) -> dict[str, tuple[frozenset[Identity], dict[str, tuple[str, ...]]]]:
    """request id -> (identities, region -> Clients reached), resolved once before the first
    change and recorded (``dsr.ledger.work``): a request resumed in a batch uses its record."""
    out: dict[str, tuple[frozenset[Identity], dict[str, tuple[str, ...]]]] = {}
    fresh: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for record in records:
        kept = led.work.get(record.request_id, RESOLVED)
        if kept is None:
            fresh[(str(record.scope), record.client_id)].append(record.request_id)
            continue
        identities = frozenset(Identity(k, v) for k, v in kept["identities"])
        out[record.request_id] = (identities, {r: tuple(t) for r, t in kept["tenants"].items()})
    for (scope, client_id), ids in fresh.items():
        given = {rid: led.identities(rid) for rid in ids}
        resolution = Resolution.across(connectors, given, scope=scope, client_id=client_id)
        for rid in ids:
            tenants: dict[str, tuple[str, ...]] = {}
            for connector in connectors:
                if client_id is not None:
                    tenants[connector.region] = (str(client_id),)
                    continue
                rows = resolution.states[connector.region][rid].rows.values()
                tenants[connector.region] = tuple(
                    sorted(
                        {
                            str(row.data[col])
                            for row in rows
                            if (col := connector.datamap.tables[row.ref.table].tenant_column)
                            and row.data.get(col) is not None
                        }
                    )
                )
            identities = frozenset(resolution.identities[rid])
            work = {
                "identities": sorted([i.kind, i.value] for i in identities),
                "tenants": {r: list(t) for r, t in tenants.items()},
            }
            kept = led.work.put_once(rid, RESOLVED, work)
            out[rid] = (
                frozenset(Identity(k, v) for k, v in kept["identities"]),
                {r: tuple(t) for r, t in kept["tenants"].items()},
            )
    return out
