"""The signed envelope a deletion proof and a final certificate share, written and checked.

``{<kind>: body, "audit_entry": entry, "signature": {...}}``: the Ed25519 signature covers the
body and its audit entry together, so neither can be swapped; the entry is checked against its
own hash, and the file is written atomically (a reader never sees half a document). Both
verifiers read the file, check the signature and entry, and re-verify the ledger's chain here;
what the body and the entry must say is each verifier's own.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from dsr.keys import KeyRing, load_public_key, verify_signature
from dsr.ledger import AuditEntry, Ledger
from dsr.ledger.audit import entry_hash
from dsr.proof.canonical import NotCanonical, canonical_bytes, loads

SIGNATURE_ALGORITHM = "Ed25519"
ENTRY_FIELDS = ("seq", "request_id", "at", "event", "details", "prev_hash", "entry_hash")


class Findings(Protocol):
    """What a verification report collects (ProofReport, CertificateReport)."""

    problems: list[str]
    notes: list[str]
    signature: str
    chain: str


Report = TypeVar("Report", bound=Findings)


def entry_fields(entry: AuditEntry) -> dict[str, Any]:
    """The audit entry exactly as the ledger hashed it."""
    # The ledger stamps `at` with microsecond precision in UTC; isoformat gives that text back.
    fields = {
        "seq": entry.seq,
        "request_id": entry.request_id,
        "at": entry.at.isoformat(timespec="microseconds"),
        "event": entry.event,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    if entry_hash(**fields) != entry.entry_hash:
        raise RuntimeError(
            f"audit entry {entry.seq} does not hash to its own entry_hash as read back; "
            "the ledger's timestamp format has changed and proofs would not verify"
        )
    return {**fields, "entry_hash": entry.entry_hash}


def signed_payload(kind: str, body: Any, audit_entry: Any) -> bytes:
    return canonical_bytes({kind: body, "audit_entry": audit_entry})


def write_atomically(
    path: Path,
    produce: Callable[[], bytes],
    *,
    before_replace: Callable[[Path], None] | None = None,
) -> None:
    """Write what ``produce()`` returns to ``path`` so that a reader never sees half of it.

    The temporary file exists before ``produce`` runs: an unwritable folder is found out before
    anything ``produce`` does (appending an audit entry) has happened.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(produce())
            fh.flush()
            os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_signed(
    path: Path,
    kind: str,
    body: dict[str, Any],
    keys: KeyRing,
    record: Callable[[], AuditEntry],
    *,
    before_replace: Callable[[Path], None] | None = None,
) -> AuditEntry:
    """Sign ``body`` with the audit entry ``record()`` appends; write the envelope to ``path``.

    ``record`` may return an entry appended earlier (a resume writing the file a crash left
    unwritten): the envelope is the same either way.
    """
    public_key = keys.public_key_pem()  # a broken signing key fails here, before the ledger entry
    recorded: list[AuditEntry] = []

    def envelope() -> bytes:
        recorded.append(record())
        fields = entry_fields(recorded[0])
        signature = keys.sign(signed_payload(kind, body, fields))
        return canonical_bytes(
            {
                kind: body,
                "audit_entry": fields,
                "signature": {
                    "algorithm": SIGNATURE_ALGORITHM,
                    "public_key": public_key,
                    "value": signature,
                },
            }
        )

    write_atomically(path, envelope, before_replace=before_replace)
    return recorded[0]


def canonical_pem(pem: str) -> str:
    """The PEM text our key ring writes for the key in ``pem`` (ValueError if not Ed25519)."""
    try:
        key = load_public_key(pem)
    except UnsupportedAlgorithm:
        raise ValueError("not an Ed25519 public key") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_bytes(serialization.Encoding.PEM, spki).decode()


def check_signature(doc: dict[str, Any], kind: str, trusted: str | None, report: Findings) -> None:
    """Record in ``report`` whether the envelope's signature covers its body and entry."""
    sig = doc["signature"]
    if not isinstance(sig, dict) or sig.get("algorithm") != SIGNATURE_ALGORITHM:
        report.problems.append(f"The signature block is not an {SIGNATURE_ALGORITHM} signature.")
        return
    embedded, value = sig.get("public_key"), sig.get("value")
    try:
        raw = base64.b64decode(value if isinstance(value, str) else "", validate=True)
        # Base64 has spare bits: other text may decode to the same signature. Only ours counts.
        if base64.b64encode(raw).decode() != value or len(raw) != 64:
            raise ValueError
    except (binascii.Error, ValueError):
        report.problems.append("The signature value is not a base64 Ed25519 signature.")
        return
    try:
        if not isinstance(embedded, str) or canonical_pem(embedded) != embedded:
            raise ValueError
    except ValueError:
        report.problems.append("The embedded public key is not an Ed25519 key in canonical PEM.")
        if trusted is None:
            return
    payload = signed_payload(kind, doc[kind], doc["audit_entry"])
    if trusted is not None:
        if embedded != trusted:
            report.problems.append("The embedded public key is not the trusted public key given.")
        good = verify_signature(trusted, payload, value)
        report.signature = "valid" if good else "invalid"
    else:
        good = verify_signature(embedded, payload, value)
        report.signature = "untrusted-key" if good else "invalid"
        if good:
            report.notes.append(
                f"The signature matches the key embedded in the {kind}, which anyone could have "
                "put there: pass our published public key to check who signed it."
            )
    if not good:
        report.problems.append(
            f"The signature does not match the {kind} and its audit entry: the file was changed "
            "after signing, or it was signed with another key."
        )


def check_entry(doc: dict[str, Any], report: Findings) -> dict[str, Any] | None:
    """The envelope's audit entry if it has the ledger's fields and hashes to its entry_hash."""
    entry = doc["audit_entry"]
    if not isinstance(entry, dict) or set(entry) != set(ENTRY_FIELDS):
        report.problems.append("The audit entry does not have exactly the ledger's entry fields.")
        return None
    try:
        datetime.fromisoformat(entry["at"])
        recomputed = entry_hash(**{k: entry[k] for k in ENTRY_FIELDS if k != "entry_hash"})
    except (TypeError, ValueError):
        report.problems.append("The audit entry is not well-formed (its time or fields).")
        return None
    if recomputed != entry["entry_hash"]:
        report.problems.append(
            "The audit entry was altered: its entry_hash does not match its content."
        )
    return entry


def read_envelope(
    read: Callable[[], bytes], kind: str, what: str, report: Findings
) -> dict[str, Any] | None:
    """The document ``read`` returns if it is an envelope around a ``kind`` (``what`` names it
    to the reader); else None, with the reason in ``report``. A document that is not in
    canonical form is returned too, with that problem: the rest is still worth checking."""
    try:
        data = read()
        doc = loads(data)
    except (NotCanonical, OSError) as exc:
        report.problems.append(f"The {kind} file cannot be read: {exc}.")
        return None
    if not isinstance(doc, dict) or set(doc) != {kind, "audit_entry", "signature"}:
        report.problems.append(f"The file is not {what}: it needs {kind}, audit_entry, signature.")
        return None
    if canonical_bytes(doc) != data:
        report.problems.append("The file is not in canonical form: it was edited after writing.")
    return doc


def check_signed_entry(
    doc: dict[str, Any],
    kind: str,
    trusted: str | None,
    report: Report,
    check_entry_of: Callable[[dict[str, Any], Report], dict[str, Any] | None],
) -> dict[str, Any] | None:
    """Check the signature, then the audit entry with ``check_entry_of`` (its fields, and that it
    records this ``kind``). The entry if that found nothing wrong with it: the chain is then
    "consistent" as far as the file can tell."""
    check_signature(doc, kind, trusted, report)
    before = len(report.problems)
    entry = check_entry_of(doc, report)
    if entry is None or len(report.problems) != before:
        return None
    report.chain = "consistent"
    return entry


def check_chain(ledger: Ledger, report: Findings) -> None:
    """Re-verify the ledger's whole audit chain: "in-ledger", or "broken" with its problem."""
    chain = ledger.verify_chain()
    if not chain.ok:
        report.chain = "broken"
        report.problems.append(f"The ledger's audit chain does not verify: {chain.problem}")
        return
    report.chain = "in-ledger"
