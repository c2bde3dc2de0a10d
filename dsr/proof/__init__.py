"""Deletion proofs: a signed, canonical JSON record of an erasure that an auditor can check with
only the file and our public key, and that names the person only through salted hashes."""

from dsr.proof.canonical import NotCanonical, canonical_bytes
from dsr.proof.certificate import CertificateReport, issue_certificate, verify_certificate
from dsr.proof.document import FORMAT, ProofRequest, SystemSection, build_proof
from dsr.proof.sign import IssuedProof, issue_proof
from dsr.proof.verify import ProofReport, verify_proof

__all__ = [
    "FORMAT",
    "CertificateReport",
    "IssuedProof",
    "NotCanonical",
    "ProofReport",
    "ProofRequest",
    "SystemSection",
    "build_proof",
    "canonical_bytes",
    "issue_certificate",
    "issue_proof",
    "verify_certificate",
    "verify_proof",
]
