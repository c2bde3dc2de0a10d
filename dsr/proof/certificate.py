"""The final certificate: the last word of an erasure, once no backup holds the person any more.

A deletion proof names the backups that still held the person when it was issued and when each
expires (policy 12 keeps backups a month). When the expiry job has deleted the last of them and
no remaining backup's identity index holds any of the person's keyed hashes, it issues this
certificate. It names no one: the request id, the proof it completes (the SHA-256 of the first
proof's body and the hash of that proof's audit entry), each backup that held the person with
when it was deleted (and that deletion's audit entry), and the statement itself. The body is
derived from the ledger alone, so issuing it again after a crash yields the very same bytes.

Like a proof it is an entry of the hash-chained audit log (``final_certificate_issued``, whose
details link the proof's entry), and the Ed25519 signature covers certificate and entry together:
with only the file and our public key an auditor checks that nothing was changed and that the
entry is the one that records this very certificate; with our ledger too, that the entry and the
proof's entry are in the chain. The file is ``<request_id>.certificate.json`` beside the proof.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsr.keys import KeyRing
from dsr.ledger import AuditEntry, Ledger, UnknownRequest
from dsr.proof.canonical import NotCanonical, digest, loads
from dsr.proof.envelope import (
    canonical_pem,
    check_chain,
    check_entry,
    check_signed_entry,
    read_envelope,
    write_signed,
)
from dsr.proof.sign import EVENT as PROOF_EVENT

FORMAT = "inextcrm-dsr-final-certificate/1"
EVENT = "final_certificate_issued"
SUFFIX = ".certificate.json"
STATEMENT = (
    "No backup of the iNextCRM databases holds the person's erased data any more: every backup "
    "that held the person when the deletion proof was issued has been deleted, and no remaining "
    "backup taken before the erasure contains any of the person's keyed identity hashes. Backups "
    "taken since hold only what the deletion proof lists as kept."
)
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_BACKUP_FIELDS = (
    "backup_id",
    "region",
    "created_at",
    "expires_at",
    "deleted_at",
    "deletion_audit_seq",
    "deletion_entry_hash",
)


@dataclass(frozen=True)
class DeletedBackup:
    backup_id: str
    region: str
    created_at: str
    expires_at: str
    deletion: AuditEntry  # the backup_expired entry the expiry job wrote for it

    def as_json(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "region": self.region,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "deleted_at": self.deletion.at.isoformat(timespec="microseconds"),
            "deletion_audit_seq": self.deletion.seq,
            "deletion_entry_hash": self.deletion.entry_hash,
        }


@dataclass
class IssuedCertificate:
    path: Path
    sha256: str
    audit_seq: int


def certificate_path(out_dir: Path, request_id: str) -> Path:
    return Path(out_dir) / f"{request_id}{SUFFIX}"


def build_certificate(
    request_id: str,
    proof_entry: AuditEntry,
    backups: list[DeletedBackup],
) -> dict[str, Any]:
    if proof_entry.event != PROOF_EVENT or proof_entry.request_id != request_id:
        raise ValueError(f"audit entry {proof_entry.seq} is not a deletion proof of {request_id}")
    if not backups:
        raise ValueError("a final certificate names the backups that held the person")
    return {
        "format": FORMAT,
        "request": {"id": request_id},
        "completes": {
            "proof_sha256": proof_entry.details["proof_sha256"],
            "audit_seq": proof_entry.seq,
            "audit_entry_hash": proof_entry.entry_hash,
        },
        "backups": [b.as_json() for b in sorted(backups, key=lambda b: b.backup_id)],
        "statement": STATEMENT,
    }


def issue_certificate(
    body: dict[str, Any],
    keys: KeyRing,
    ledger: Ledger,
    out_dir: Path,
    *,
    remaining_checked: int = 0,
) -> IssuedCertificate:
    """Append the ``final_certificate_issued`` entry, sign, write ``<request_id>.certificate.json``.

    The temporary file is created before the entry is appended, so an unwritable folder is found
    out first. A crash after the append leaves an entry without a file: issuing the same body
    again reuses that entry instead of appending a second one (Ed25519 signatures are
    deterministic, so the file is what the first attempt would have written).
    """
    problems = check_certificate_body(body)
    if problems:
        raise ValueError("no final certificate issued: " + " ".join(problems))
    request_id = body["request"]["id"]
    sha = digest(body)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = certificate_path(out_dir, request_id)
    completes = body["completes"]

    def record() -> AuditEntry:
        earlier = [
            e
            for e in ledger.audit_entries(request_id)
            if e.event == EVENT and e.details.get("certificate_sha256") == sha
        ]
        if earlier:
            return earlier[0]
        details = {
            "certificate_sha256": sha,
            "completes_proof_sha256": completes["proof_sha256"],
            "completes_audit_seq": completes["audit_seq"],
            "completes_entry_hash": completes["audit_entry_hash"],
            "remaining_backups_checked": remaining_checked,
        }
        return ledger.audit(request_id, EVENT, details)

    entry = write_signed(path, "certificate", body, keys, record)
    return IssuedCertificate(path=path, sha256=sha, audit_seq=entry.seq)


def check_certificate_body(body: Any) -> list[str]:
    """What is structurally wrong with a certificate body (empty if nothing)."""
    if not isinstance(body, dict):
        return ["The certificate is not a JSON object."]
    problems = []
    expected = {
        "format",
        "request",
        "completes",
        "backups",
        "statement",
    }
    if set(body) != expected:
        return ["The certificate does not have exactly the fields of " + FORMAT + "."]
    if body["format"] != FORMAT:
        problems.append(f"The certificate format is not {FORMAT}.")
    request = body["request"]
    if not isinstance(request, dict) or not isinstance(request.get("id"), str):
        problems.append("The certificate names no request id.")
    completes = body["completes"]
    if (
        not isinstance(completes, dict)
        or set(completes) != {"proof_sha256", "audit_seq", "audit_entry_hash"}
        or not _HEX64.match(str(completes.get("proof_sha256")))
        or not _HEX64.match(str(completes.get("audit_entry_hash")))
        or not isinstance(completes.get("audit_seq"), int)
    ):
        problems.append("The certificate does not link a deletion proof and its audit entry.")
    backups = body["backups"]
    if (
        not isinstance(backups, list)
        or not backups
        or not all(isinstance(b, dict) and set(b) == set(_BACKUP_FIELDS) for b in backups)
    ):
        problems.append("The certificate must name each backup that held the person.")
    if body["statement"] != STATEMENT:
        problems.append("The certificate's statement is not the statement we issue.")
    return problems


@dataclass
class CertificateReport:
    ok: bool
    problems: list[str]
    signature: str  # "valid" | "invalid" | "untrusted-key"
    chain: str  # "consistent" | "broken" | "in-ledger" | "not-in-ledger"
    request_id: str | None = None
    certificate_sha256: str | None = None
    backups: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_certificate(data: bytes) -> bool:
    """Whether a file is a final certificate rather than a deletion proof (by its shape only)."""
    try:
        doc = loads(data)
    except NotCanonical:
        return False
    return isinstance(doc, dict) and "certificate" in doc


def _entry(doc: dict[str, Any], report: CertificateReport) -> dict[str, Any] | None:
    entry = check_entry(doc, report)
    if entry is None:
        return None
    details = entry["details"] if isinstance(entry["details"], dict) else {}
    if details.get("certificate_sha256") != report.certificate_sha256:
        report.problems.append(
            "The audit entry records another certificate: its certificate_sha256 is not the "
            "SHA-256 of this certificate (the certificate or the entry was changed)."
        )
    completes = doc["certificate"].get("completes")
    if isinstance(completes, dict) and (
        details.get("completes_proof_sha256") != completes.get("proof_sha256")
        or details.get("completes_entry_hash") != completes.get("audit_entry_hash")
    ):
        report.problems.append("The audit entry links another deletion proof than the certificate.")
    if entry["event"] != EVENT:
        report.problems.append(f"The audit entry is a {str(entry['event'])[:64]!r} event.")
    if entry["request_id"] != report.request_id:
        report.problems.append("The audit entry belongs to another request than the certificate.")
    return entry


def _in_ledger(
    entry: dict[str, Any], body: dict[str, Any], ledger: Ledger, report: CertificateReport
) -> None:
    try:
        recorded = {e.seq: e for e in ledger.audit_entries(entry["request_id"])}
    except UnknownRequest:
        recorded = {}
    ours = recorded.get(entry["seq"])
    proof = recorded.get(body["completes"]["audit_seq"])
    if ours is None or ours.entry_hash != entry["entry_hash"]:
        report.chain = "not-in-ledger"
        report.problems.append("The ledger has no audit entry with this entry_hash: not ours.")
        return
    if (
        proof is None
        or proof.event != PROOF_EVENT
        or proof.entry_hash != body["completes"]["audit_entry_hash"]
    ):
        report.chain = "not-in-ledger"
        report.problems.append("The deletion proof it completes is not in the ledger's chain.")
        return
    check_chain(ledger, report)


def verify_certificate(
    source: Path | str | bytes, public_key_pem: str | None = None, *, ledger: Ledger | None = None
) -> CertificateReport:
    """Check a final certificate; ``ok`` only if nothing at all is wrong with it."""
    trusted = canonical_pem(public_key_pem) if public_key_pem is not None else None
    report = CertificateReport(False, [], "invalid", "broken")

    def read() -> bytes:
        return source if isinstance(source, bytes) else Path(source).read_bytes()

    doc = read_envelope(read, "certificate", "a final certificate", report)
    if doc is None:
        return report
    body = doc["certificate"]
    report.problems += check_certificate_body(body)
    if report.problems:
        return report
    report.request_id = body["request"]["id"]
    report.certificate_sha256 = digest(body)
    report.backups = [b["backup_id"] for b in body["backups"]]
    entry = check_signed_entry(doc, "certificate", trusted, report, _entry)
    if entry is not None and ledger is not None:
        _in_ledger(entry, body, ledger, report)
    report.ok = not report.problems
    return report


__all__ = [
    "EVENT",
    "FORMAT",
    "STATEMENT",
    "SUFFIX",
    "CertificateReport",
    "DeletedBackup",
    "IssuedCertificate",
    "build_certificate",
    "certificate_path",
    "check_certificate_body",
    "is_certificate",
    "issue_certificate",
    "verify_certificate",
]
