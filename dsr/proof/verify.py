"""Check a deletion proof without trusting whoever handed it over.

With only the file and our public key an auditor learns: the file is exactly what we signed (the
signature covers proof and audit entry; the file must be their canonical encoding, byte for byte,
so no edit goes unseen even where it would not change the parsed content); the audit entry
hashes to its own entry_hash under the ledger's rules and records this very proof body; the body
is well-formed and its totals add up. Given our ledger too, the entry is checked against it and
the whole chain is re-verified. Given an e-mail address, the salted hashes say whether the proof is
about that person.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import EMAIL
from connectors.identities import parse_identity
from dsr.ledger import Ledger, UnknownRequest
from dsr.proof.canonical import (
    DEFAULT_KDF_COST,
    MAX_PROOF_BYTES,
    NotCanonical,
    digest,
    identity_hash,
    kdf_problem,
)
from dsr.proof.document import check_body
from dsr.proof.envelope import (
    canonical_pem,
    check_chain,
    check_entry,
    check_signed_entry,
    read_envelope,
)
from dsr.proof.sign import EVENT


@dataclass
class ProofReport:
    ok: bool
    problems: list[str]
    signature: str  # "valid" | "invalid" | "untrusted-key"
    about_person: bool | None  # None when no e-mail was given or the subject is unreadable
    chain: str  # "consistent" | "broken" | "in-ledger" | "not-in-ledger"
    notes: list[str] = field(default_factory=list)  # caveats that are not failures
    request_id: str | None = None
    proof_sha256: str | None = None


def _part(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` if both are JSON objects, else an empty one: a hostile file has any shape."""
    part = value.get(key) if isinstance(value, dict) else None
    return part if isinstance(part, dict) else {}


def _read(source: Path | str | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    if path.stat().st_size > MAX_PROOF_BYTES:
        raise NotCanonical(f"{path.stat().st_size} bytes is implausibly large for a proof")
    return path.read_bytes()


def _audit_entry(doc: dict[str, Any], report: ProofReport) -> dict[str, Any] | None:
    entry = check_entry(doc, report)
    if entry is None:
        return None
    proof = doc["proof"]
    details = entry["details"] if isinstance(entry["details"], dict) else {}
    if details.get("proof_sha256") != report.proof_sha256:
        report.problems.append(
            "The audit entry records another proof: its proof_sha256 is not the SHA-256 of "
            "this proof body (the body or the entry was changed)."
        )
    if entry["event"] != EVENT:
        event = str(entry["event"])[:64]
        report.problems.append(f"The audit entry is a {event!r} event, not {EVENT!r}.")
    request = proof.get("request") if isinstance(proof, dict) else None
    if not isinstance(request, dict) or entry["request_id"] != request.get("id"):
        report.problems.append("The audit entry belongs to another request than the proof.")
    return entry


def _ledger(
    entry: dict[str, Any], proof: dict[str, Any], ledger: Ledger, report: ProofReport
) -> None:
    try:
        recorded = ledger.audit_entries(entry["request_id"])
    except UnknownRequest:
        recorded = []
    ours = [e for e in recorded if e.seq == entry["seq"]]
    if not ours or ours[0].entry_hash != entry["entry_hash"]:
        report.chain = "not-in-ledger"
        report.problems.append(
            f"The ledger has no audit entry {str(entry['seq'])[:20]} with this entry_hash for "
            "the proof's request: the proof is not the one we recorded."
        )
        return
    earlier = proof.get("supersedes")
    if earlier is not None and not any(
        e.event == EVENT and e.seq < ours[0].seq and e.details.get("proof_sha256") == earlier
        for e in recorded
    ):
        report.problems.append(
            "The proof supersedes a proof the ledger does not record for this request."
        )
    check_chain(ledger, report)


def _about(proof: Any, email: str, report: ProofReport) -> None:
    identity = parse_identity(EMAIL, email)  # InvalidIdentity (a ValueError) for a bad address
    subject = proof.get("subject") if isinstance(proof, dict) else None
    if not isinstance(subject, dict) or kdf_problem(subject.get("kdf")):
        return
    try:
        salt = base64.b64decode(str(subject.get("salt")), validate=True)
        hashes = {i.get("hash") for i in subject["identities"] if i.get("kind") == EMAIL}
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
        return
    report.about_person = identity_hash(salt, identity, subject["kdf"]) in hashes
    if not report.about_person:
        report.problems.append("The proof is not about the e-mail address given.")


def verify_proof(
    path_or_bytes: Path | str | bytes,
    public_key_pem: str | None = None,
    *,
    email: str | None = None,
    ledger: Ledger | None = None,
) -> ProofReport:
    """Check a proof file; ``ok`` only if nothing at all is wrong with it.

    ValueError for bad input of the caller (an unusable public key or e-mail address), never for
    a bad proof: that is reported in ``problems``.
    """
    trusted = canonical_pem(public_key_pem) if public_key_pem is not None else None
    report = ProofReport(False, [], "invalid", None, "broken")
    doc = read_envelope(lambda: _read(path_or_bytes), "proof", "a proof", report)
    if doc is None:
        return report
    proof = doc["proof"]
    part = _part(proof, "request")
    report.request_id = part.get("id") if isinstance(part.get("id"), str) else None
    report.proof_sha256 = digest(proof)
    report.problems += check_body(proof)
    entry = check_signed_entry(doc, "proof", trusted, report, _audit_entry)
    if entry is not None and ledger is not None:
        _ledger(entry, proof, ledger, report)
    kdf = _part(_part(proof, "subject"), "kdf")
    if isinstance(kdf.get("n"), int) and kdf["n"] < DEFAULT_KDF_COST:
        report.notes.append(f"The subject's hashes use a low scrypt cost (n={kdf['n']}).")
    if email is not None:
        _about(proof, email, report)
    report.ok = not report.problems
    return report


__all__ = ["ProofReport", "verify_proof"]
