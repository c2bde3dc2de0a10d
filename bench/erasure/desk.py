"""What surrounds an erasure in production: a ledger with the registered request, the keys, the
proof folder; and the last step, a signed deletion proof (``build_proof`` + ``issue_proof``).

Everything lives in a temporary folder of the measuring process, removed when it ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from connectors.base import EMAIL, Identity
from dsr.erasure.crm import ErasureResult
from dsr.keys import KeyRing
from dsr.ledger import Ledger, RequestType, Scope
from dsr.proof import IssuedProof, build_proof, issue_proof
from pipelines.proof_sections import crm_section, proof_request

AUTHORIZATION = "BENCH-AUTH-1"  # a client_data erasure needs the Client's instruction reference


class Desk:
    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-erasure-")
        root = Path(self._tmp.name)
        self.keys = KeyRing(root / "keys")
        # Key generation is a one-off of an installation, not a cost of each proof.
        self.keys.signing_key  # noqa: B018
        self.keys.hash_key  # noqa: B018
        self.ledger = Ledger(f"sqlite:///{root / 'ledger.sqlite'}", self.keys)
        self.ledger.create_schema()
        self.proofs = root / "proofs"

    def __enter__(self) -> Desk:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.ledger.close()
        self._tmp.cleanup()

    def register(self, email: str, scope: str, client_id: str | None) -> str:
        """An identity-verified erasure request, as intake leaves it; its request id."""
        record = self.ledger.register(
            type=RequestType.ERASURE,
            scope=Scope(scope),
            identities=[Identity(EMAIL, email)],
            client_id=client_id,
            authorization_ref=AUTHORIZATION if scope == Scope.CLIENT_DATA else None,
            ticket_ref="BENCH-1",
            identity_verified=True,
        )
        return record.request_id

    def issue(self, request_id: str, results: Sequence[ErasureResult]) -> IssuedProof:
        """The ``deletion_proof`` asset's work: sections, body, ledger entry, signature, file."""
        record = self.ledger.get(request_id)
        body = build_proof(
            proof_request(record),
            self.ledger.identities(request_id),
            [crm_section(r) for r in results],
        )
        return issue_proof(body, self.keys, self.ledger, self.proofs)
