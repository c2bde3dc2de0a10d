"""The whole ledger checked at once: chain, length, the evidence handed out, and the states.

* the audit chain recomputes, link by link, up to its head;
* it is at least as long as the latest signed checkpoint kept outside the database, and holds
  that checkpoint's entry (nothing removed from the end, nothing rewritten and re-chained);
* every proof and final certificate in the proof store names an entry the chain holds, with
  the same hash (each is a signed checkpoint too);
* every request's state is the one its own audit entries lead to (a state edited in the
  ``requests`` table, bypassing the ledger, shows).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from dsr.ledger.audit import AuditEntry, state_from_entries
from dsr.ledger.ledger import Ledger

EVIDENCE = ("*.proof.json", "*.certificate.json")


@dataclass
class LedgerReport:
    entries: int = 0
    requests: int = 0
    evidence_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_ledger(ledger: Ledger, proofs_dir: Path | None) -> LedgerReport:
    report = LedgerReport()
    chain = ledger.verify_chain()
    report.entries = chain.entries
    if not chain.ok:
        where = f" (first bad entry: {chain.first_bad_seq})" if chain.first_bad_seq else ""
        report.problems.append(f"the audit chain does not verify{where}: {chain.problem}")
    entries = ledger.audit_entries()
    by_seq = {e.seq: e for e in entries}
    if proofs_dir is not None:
        _evidence(Path(proofs_dir), by_seq, report)
    per_request: dict[str, list[AuditEntry]] = defaultdict(list)
    for e in entries:
        if e.request_id:
            per_request[e.request_id].append(e)
    records = ledger.list_requests()
    report.requests = len(records)
    for record in records:
        logged = state_from_entries(per_request.get(record.request_id, []))
        if logged != record.state.value:
            report.problems.append(
                f"request {record.request_id} is {record.state.value} in the ledger but its audit "
                f"log says {logged or 'nothing'}: its state was edited outside the ledger"
            )
    return report


def _evidence(folder: Path, by_seq: dict[int, AuditEntry], report: LedgerReport) -> None:
    for pattern in EVIDENCE:
        for path in sorted(folder.glob(pattern)):
            try:
                entry = json.loads(path.read_bytes())["audit_entry"]
                seq, digest = int(entry["seq"]), str(entry["entry_hash"])
            except (OSError, ValueError, KeyError, TypeError):
                report.problems.append(f"{path.name} is not a readable proof or certificate")
                continue
            report.evidence_checked += 1
            held = by_seq.get(seq)
            if held is None:
                report.problems.append(
                    f"{path.name} was issued as audit entry {seq}, which the chain no longer "
                    "holds: entries were removed"
                )
            elif held.entry_hash != digest:
                report.problems.append(
                    f"{path.name} was issued as audit entry {seq}, but the chain's entry {seq} "
                    "has another hash: the chain was rewritten"
                )
