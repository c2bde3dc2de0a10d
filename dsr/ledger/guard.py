"""No entry is appended to an audit chain that does not verify.

Before a write the ledger checks, inside its write transaction (the chain head is locked), that
the chain still verifies: the whole chain the first time in a process, then only the entries
appended since (by this process or any other). It also checks the chain against the latest
signed checkpoint kept outside the database (``checkpoints``): a chain shorter than the
checkpoint, or with another entry at its seq, was shortened or rewritten. Either refuses the
write with ``ChainBroken`` naming the first bad entry; nothing is written.

After a write that appended entries, the new head is checkpointed.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from dsr.ledger import audit as _audit
from dsr.ledger.checkpoints import Checkpoints
from dsr.ledger.records import LedgerError
from dsr.ledger.schema import audit_chain_head


class ChainBroken(LedgerError):
    """The audit chain fails verification: nothing may be appended to it."""

    refusal = True  # the command line says it in one line (dsr.cli.group)


class ChainGuard:
    def __init__(self, checkpoints: Checkpoints | None) -> None:
        self.checkpoints = checkpoints
        self._verified: tuple[int, str] | None = None
        self._checkpointed = 0

    def check(self, conn: Connection) -> tuple[int, str]:
        """Raise ``ChainBroken`` unless the chain verifies; returns the head (seq, hash)."""
        head_now = head(conn)
        if head_now != self._verified:
            report = _audit.verify(conn, self._verified)
            if not report.ok:
                raise ChainBroken(
                    f"the audit log fails verification at entry {report.first_bad_seq}: "
                    f"{report.problem}; nothing was written (see `dsr verify-ledger`)"
                )
            problem = self.against_checkpoint(conn, head_now)
            if problem:
                raise ChainBroken(f"{problem}; nothing was written (see `dsr verify-ledger`)")
            self._verified = head_now
        return head_now

    def against_checkpoint(self, conn: Connection, end: tuple[int, str]) -> str | None:
        point = self.checkpoints.latest() if self.checkpoints else None
        if point is None:
            return None
        if end[0] < point.seq:
            return (
                f"the audit log ends at entry {end[0]}, but a signed checkpoint records entry "
                f"{point.seq}: entries were removed from its end"
            )
        entry = _audit.entry_at(conn, point.seq)
        if entry is None or entry.entry_hash != point.entry_hash:
            return (
                f"entry {point.seq} is not the one its signed checkpoint records: it was rewritten"
            )
        return None

    def committed(self, head: tuple[int, str], at: str) -> None:
        """The write committed with ``head``: trust it, and checkpoint it if it is new."""
        self._verified = head
        if self.checkpoints is not None and head[0] > self._checkpointed:
            self.checkpoints.write(head[0], head[1], at)
            self._checkpointed = head[0]


def head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(
        select(audit_chain_head.c.last_seq, audit_chain_head.c.last_hash).where(
            audit_chain_head.c.id == 1
        )
    ).one()
    return int(row.last_seq), str(row.last_hash)


def check_state_matches_log(conn: Connection, request_id: str, state: str) -> None:
    """``ChainBroken`` if the request's row says another state than its own audit entries."""
    logged = _audit.state_from_entries(_audit.entries(conn, request_id))
    if logged is not None and logged != state:
        raise ChainBroken(
            f"{request_id}: the ledger says {state} but its audit log says {logged}; the "
            "request's state was edited outside the ledger: nothing was written (see "
            "`dsr verify-ledger`)"
        )
