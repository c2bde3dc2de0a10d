"""Issue a proof: record it in the audit chain, sign proof and entry together, write the file.

The order matters. The ledger entry comes first because the signature covers it: the signed
document says "this proof is entry N of our audit chain", which a verifier holding the ledger can
check and which we cannot later deny. A folder that cannot be written is found out before the entry
is appended (the temporary file is created first), and so is a signing key that cannot be loaded.
A failure after the append leaves an entry without a file; issuing again writes the file for
that entry from the body kept beside it, so a request has one proof and one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsr.faults import crash_point
from dsr.keys import KeyRing
from dsr.ledger import AuditEntry, Ledger
from dsr.proof.canonical import NotCanonical, canonical_bytes, digest, loads, sha256_hex
from dsr.proof.document import check_body
from dsr.proof.envelope import SIGNATURE_ALGORITHM, entry_fields, write_atomically, write_signed

EVENT = "deletion_proof"
SUFFIX = ".proof.json"


@dataclass
class IssuedProof:
    path: Path
    sha256: str  # of the canonical proof body: what the ledger records and `supersedes` names
    audit_seq: int


def refusal(body: dict[str, Any]) -> str | None:
    """Why no proof may be issued over ``body`` (None if it may)."""
    problems = check_body(body)
    if problems:
        return "the proof body is malformed: " + " ".join(problems)
    for s in body["systems"]:
        where = f"{s['system']}/{s['region']}"
        if s["status"] == "failed":
            return f"{where} failed: a proof is never issued over a failed step"
        if not s["verification"]["ok"]:
            return f"{where} did not verify: something remains that should not"
    return None


def _keep_previous(path: Path) -> None:
    """A proof already handed out stays on disk under its own hash when a newer one replaces it."""
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        return
    try:
        name = digest(loads(old)["proof"])
    except (NotCanonical, KeyError, TypeError):
        name = sha256_hex(old)
    kept = path.with_name(f"{path.name.removesuffix(SUFFIX)}.{name[:16]}{SUFFIX}")
    if not kept.exists():
        write_atomically(kept, lambda: old)


def issue_proof(
    body: dict[str, Any] | Callable[[], dict[str, Any]],
    keys: KeyRing,
    ledger: Ledger,
    out_dir: Path,
    request_id: str | None = None,
) -> IssuedProof:
    """The request's one deletion proof: issued once, whatever crashes around it.

    ``body`` (or a function building it) is used only if no proof was recorded yet. The body is
    kept beside the proofs (``.<id>.body.json``: hashes and counts, no personal data) before the
    ``deletion_proof`` entry is appended, so a crash between the entry and the file is finished
    by signing that same body with that same entry; a proof whose file and entry exist is
    returned as it is. ValueError if any system failed or did not verify, or the body is
    malformed.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if request_id is None:
        request_id = body["request"]["id"] if isinstance(body, dict) else ""
    path = out_dir / f"{request_id}{SUFFIX}"
    pending = out_dir / f".{request_id}.body.json"
    for stale in out_dir.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)  # a write a crash interrupted: never a proof
    ledger.get(request_id)  # UnknownRequest before anything is written
    entry = _recorded_entry(ledger, request_id)
    replaces = body.get("supersedes") if isinstance(body, dict) else None
    if entry is not None and replaces:
        # A new version on purpose, naming the proof it replaces: never silently.
        if replaces != entry.details.get("proof_sha256"):
            raise ValueError(
                f"no deletion proof issued: it supersedes {str(replaces)[:16]}…, which is not "
                f"the proof recorded for {request_id}"
            )
        entry = None
    if entry is not None:
        if _file_matches(path, entry):
            pending.unlink(missing_ok=True)
            return IssuedProof(path, entry.details["proof_sha256"], entry.seq)
        chosen = _pending_body(pending, entry)
    else:
        chosen = body() if callable(body) else body
        problem = refusal(chosen)
        if problem:
            raise ValueError(f"no deletion proof issued: {problem}")
        write_atomically(pending, lambda: canonical_bytes(chosen))
        crash_point("proof_body_written")
    proof_sha = digest(chosen)

    def record() -> AuditEntry:
        if entry is not None:
            return entry
        try:
            appended = ledger.audit(request_id, EVENT, {"proof_sha256": proof_sha})
        except BaseException:
            pending.unlink(missing_ok=True)  # nothing was recorded: nothing to finish later
            raise
        crash_point("proof_entry_appended")
        return appended

    written = write_signed(path, "proof", chosen, keys, record, before_replace=_keep_previous)
    crash_point("proof_written")
    pending.unlink(missing_ok=True)
    return IssuedProof(path=path, sha256=proof_sha, audit_seq=written.seq)


def _recorded_entry(ledger: Ledger, request_id: str) -> AuditEntry | None:
    """The request's current proof entry (the latest, when a proof was superseded)."""
    entries = [e for e in ledger.audit_entries(request_id) if e.event == EVENT]
    return entries[-1] if entries else None


def _file_matches(path: Path, entry: AuditEntry) -> bool:
    try:
        doc = loads(path.read_bytes())
    except (FileNotFoundError, NotCanonical, ValueError):
        return False
    recorded = doc.get("audit_entry") if isinstance(doc, dict) else None
    return isinstance(recorded, dict) and recorded.get("entry_hash") == entry.entry_hash


def _pending_body(pending: Path, entry: AuditEntry) -> dict[str, Any]:
    try:
        kept = loads(pending.read_bytes())
    except (FileNotFoundError, NotCanonical, ValueError):
        kept = None
    if not isinstance(kept, dict) or digest(kept) != entry.details.get("proof_sha256"):
        raise RuntimeError(
            f"deletion proof entry {entry.seq} of {entry.request_id} is recorded but its body "
            "is not in the proof store: the proof cannot be written again under that entry"
        )
    return kept


__all__ = ["EVENT", "SIGNATURE_ALGORITHM", "IssuedProof", "entry_fields", "issue_proof"]
