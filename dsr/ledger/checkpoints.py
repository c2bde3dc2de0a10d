"""Signed checkpoints of the audit chain's head, kept outside the ledger database.

The chain proves that no entry was changed or inserted; on its own it cannot prove that none was
removed from the end, because whoever can delete the last entries can also move the head back.
So after every write that appends entries the ledger appends a line to ``checkpoints.jsonl`` in
the proof store — ``{seq, entry_hash, at}`` signed with the proof key — and every proof and
certificate carries its own entry (a checkpoint too). A chain that ends before the latest
checkpoint, or whose entry at a checkpoint's seq has another hash, was shortened or rewritten.

The file is append-only by convention and read leniently: a torn last line (a crash while
appending) or a line whose signature does not verify is skipped, never trusted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dsr.keys import KeyRing, verify_signature
from dsr.ledger.audit import canonical_json

FILE_NAME = "checkpoints.jsonl"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    entry_hash: str
    at: str


def _payload(seq: int, entry_hash: str, at: str) -> bytes:
    return canonical_json({"checkpoint": {"seq": seq, "entry_hash": entry_hash, "at": at}}).encode()


class Checkpoints:
    def __init__(self, folder: Path, keys: KeyRing) -> None:
        self.path = Path(folder) / FILE_NAME
        self._keys = keys

    def write(self, seq: int, entry_hash: str, at: str) -> None:
        line = {
            "seq": seq,
            "entry_hash": entry_hash,
            "at": at,
            "signature": self._keys.sign(_payload(seq, entry_hash, at)),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def latest(self) -> Checkpoint | None:
        """The checkpoint with the highest seq among the lines whose signature verifies."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return None
        public = self._keys.public_key_pem()
        best: Checkpoint | None = None
        for text in lines:
            try:
                raw = json.loads(text)
                point = Checkpoint(int(raw["seq"]), str(raw["entry_hash"]), str(raw["at"]))
                good = verify_signature(
                    public, _payload(point.seq, point.entry_hash, point.at), raw["signature"]
                )
            except (ValueError, KeyError, TypeError):
                continue
            if good and (best is None or point.seq > best.seq):
                best = point
        return best
