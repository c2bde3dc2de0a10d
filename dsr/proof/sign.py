"""Issue a proof: record it in the audit chain, sign proof and entry together, write the file.

The order matters. The ledger entry comes first because the signature covers it: the signed
document says "this proof is entry N of our audit chain", which a verifier holding the ledger can
check and which we cannot later deny. A folder that cannot be written is found out before the entry
is appended (the temporary file is created first), and so is a signing key that cannot be loaded.
A failure after the append leaves an entry without a file, which is visible in the ledger and
harmless: issuing again appends a new entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsr.keys import KeyRing
from dsr.ledger import Ledger
from dsr.proof.canonical import NotCanonical, digest, loads, sha256_hex
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


def issue_proof(body: dict[str, Any], keys: KeyRing, ledger: Ledger, out_dir: Path) -> IssuedProof:
    """Append a ``deletion_proof`` audit entry, sign, and write ``<request_id>.proof.json``.

    ValueError if any system failed or did not verify, or the body is malformed.
    """
    problem = refusal(body)
    if problem:
        raise ValueError(f"no deletion proof issued: {problem}")
    request_id = body["request"]["id"]
    proof_sha = digest(body)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{request_id}{SUFFIX}"
    entry = write_signed(
        path,
        "proof",
        body,
        keys,
        lambda: ledger.audit(request_id, EVENT, {"proof_sha256": proof_sha}),
        before_replace=_keep_previous,
    )
    return IssuedProof(path=path, sha256=proof_sha, audit_seq=entry.seq)


__all__ = ["EVENT", "SIGNATURE_ALGORITHM", "IssuedProof", "entry_fields", "issue_proof"]
