"""The subject sections of proofs a batch will issue, hashed on a second thread ahead of need.

A proof's subject is one scrypt call per identity (``dsr.proof.canonical.subject``: ~35 ms each at
the default cost, by design), about a quarter of an erasure batch's time when done in line. scrypt
runs without holding Python's GIL, so a second thread hashes the subjects of the requests still
queued while the batch erases rows and calls services. Each section is still hashed under its own
fresh salt, exactly as ``subject`` hashes it; a request whose proof is never issued (it failed, or
its proof already exists) only wastes its hashing.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from connectors.base import Identity
from dsr.proof.canonical import DEFAULT_KDF_COST, subject


class SubjectsAhead:
    def __init__(self, kdf_cost: int = DEFAULT_KDF_COST) -> None:
        self._cost = kdf_cost
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="proof-subjects")
        self._sections: dict[str, tuple[frozenset[Identity], Future[dict[str, Any]]]] = {}

    def hash_ahead(self, request_id: str, identities: Collection[Identity]) -> None:
        hashed = self._pool.submit(subject, list(identities), self._cost)
        self._sections[request_id] = (frozenset(identities), hashed)

    def section(self, request_id: str, identities: Collection[Identity]) -> dict[str, Any]:
        """The subject section of ``identities``: the one hashed ahead if it was hashed for
        exactly these (the ledger's identities do not change once recorded), else hashed now."""
        hashed_for, ahead = self._sections.pop(request_id, (None, None))
        if ahead is None or hashed_for != frozenset(identities):
            return subject(identities, self._cost)
        return ahead.result()

    def __enter__(self) -> SubjectsAhead:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
