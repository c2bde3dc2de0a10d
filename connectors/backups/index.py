"""The identity index kept beside a backup, and the scan that reads identities out of a database.

"Which backups hold this person?" must be answered without restoring anything, and without the
index itself becoming a second copy of the personal data. So the index holds only keyed hashes
(``KeyRing.keyed_hash``, HMAC-SHA256 under the hash key) of every identity value in the snapshot,
truncated to 128 bits, deduplicated and sorted, as raw bytes: a lookup is a binary search over a
memory-mapped file. Without the hash key the file says nothing; 128 bits keep accidental
collisions out of reach for any realistic number of values.

``scan_identities`` is the one definition of "an identity value in this database": every
identity column the data map declares (all kinds, normalised as discovery harvests them), plus
e-mail addresses and phone numbers written in free text, since a backup that still holds a
redacted mention still holds the person. The index is built with it, and restore uses it again
to recognise tombstoned people, so both always agree on what a value is. Names in free text are
not scanned: a name mention is only erased together with the person's own rows, which carry the
name in an identity column.
"""

from __future__ import annotations

import hashlib
import hmac
import mmap
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from sqlalchemy import column, func, select, table
from sqlalchemy.engine import Connection

from connectors.backups.harvest import Harvester
from connectors.base import EMAIL, NAME, PHONE, Identity
from connectors.crm.datamap import DataMap, IdentityColumn
from connectors.crm.phone_countries import PhoneCountries, tenant_countries
from connectors.identities import _EMAIL_IN_TEXT, _PHONE_IN_TEXT

DIGEST_BYTES = 16
INDEX_FORMAT = "hmac-sha256/128, sorted, unique, raw bytes"
_SCAN_BATCH = 5000


class HashKey(Protocol):
    """The hash key an index is built and read with (``dsr.keys.KeyRing`` in the product)."""

    @property
    def hash_key(self) -> bytes: ...

    def keyed_hash(self, kind: str, value: str) -> str: ...


class IndexCorrupt(RuntimeError):
    """An index file that cannot be a sorted array of digests (truncated or tampered)."""


def key_id(keys: HashKey) -> str:
    """Names the hash key without revealing it: index, tombstones and lookups must share one key,
    or a lookup silently finds nobody (after a key rotation, say)."""
    return keys.keyed_hash("dsr-key-id", "identity-index")[:16]


def index_digest(keys: HashKey, ident: Identity) -> bytes:
    return bytes.fromhex(keys.keyed_hash(ident.kind, ident.value))[:DIGEST_BYTES]


def _digester(keys: HashKey) -> Callable[[Identity], bytes]:
    """``index_digest`` for millions of values: the same HMAC-SHA256 through the one-shot
    ``hmac.digest`` (OpenSSL, no object per value); a test holds both to the same bytes."""
    key = keys.hash_key

    def digest(ident: Identity) -> bytes:
        msg = f"{ident.kind}\x1f{ident.value}".encode()
        return hmac.digest(key, msg, "sha256")[:DIGEST_BYTES]

    return digest


def identities_in_text(
    text: Any, phone_region: str, harvest: Harvester | None = None
) -> Iterator[Identity]:
    """E-mail addresses and phone numbers written in a free text, normalised; a phone without a
    country code is read in ``phone_region`` (the country of the row the text is in)."""
    if not isinstance(text, str) or not text:
        return
    harvest = harvest or Harvester(phone_region)
    if "@" in text:
        for m in _EMAIL_IN_TEXT.finditer(text):
            ident = harvest(EMAIL, m.group(0).strip("."))
            if ident is not None:
                yield ident
    for m in _PHONE_IN_TEXT.finditer(text):
        ident = harvest(PHONE, m.group(0), phone_region)
        if ident is not None:
            yield ident


def _column_identity(
    spec: IdentityColumn, row: Any, harvest: Harvester, country: str
) -> Identity | None:
    parts = [row[c] for c in spec.source_columns]
    # Joined exactly as discovery harvests a name, so the same person hashes the same way.
    raw = " ".join(str(p) for p in parts if p) if spec.kind == NAME else parts[0]
    return harvest(spec.kind, raw, country)


def scan_identities(
    conn: Connection, datamap: DataMap, phone_region: str = "US", region: str = ""
) -> Iterator[tuple[str, Identity]]:
    """(table, identity) for every identity value in the mapped tables, duplicates included.

    Phones are read in each row's country exactly as discovery reads them
    (``connectors.crm.phone_countries``), so the same number hashes the same way in both.
    """
    countries = PhoneCountries(
        datamap, region, phone_region, lambda: tenant_countries(conn, datamap)
    )
    harvest = Harvester(countries.region_country)
    for name in sorted(datamap.tables):
        tmap = datamap.tables[name]
        wanted = [c for spec in tmap.identities for c in spec.source_columns]
        if not wanted and not tmap.free_text:
            continue
        wanted = list(dict.fromkeys([*wanted, *tmap.free_text, *countries.row_columns(name)]))
        # A lightweight table clause: no reflection, and only the columns the scan needs.
        query = select(*table(name, *(column(c) for c in wanted)).c).execution_options(
            stream_results=True, yield_per=_SCAN_BATCH
        )
        for row in conn.execute(query).mappings():
            country = countries.for_row(name, row)
            for spec in tmap.identities:
                ident = _column_identity(spec, row, harvest, country)
                if ident is not None:
                    yield name, ident
            for col in tmap.free_text:
                text = row[col]
                if text:  # most rows have no note: skip the call
                    for ident in identities_in_text(text, country, harvest):
                        yield name, ident


def row_counts(conn: Connection, datamap: DataMap) -> dict[str, int]:
    return {
        name: int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())
        for name in sorted(datamap.tables)
    }


def collect_digests(
    conn: Connection, datamap: DataMap, keys: HashKey, phone_region: str = "US", region: str = ""
) -> bytearray:
    """Every identity value's index digest, concatenated (unsorted, with duplicates)."""
    # 16 bytes a value in one buffer (not a set of bytes objects, ~100 bytes each): the index of
    # a million-contact region is sorted and deduplicated in numpy afterwards.
    out = bytearray()
    digest = _digester(keys)
    for _, ident in scan_identities(conn, datamap, phone_region, region):
        out += digest(ident)
    return out


def write_index(digests: bytes | bytearray, path: Path) -> tuple[int, str]:
    """Sort and deduplicate the digests into ``path``; returns (entries, sha256 of the file)."""
    unique = np.unique(np.frombuffer(bytes(digests), dtype=f"V{DIGEST_BYTES}"))
    data = unique.tobytes()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return len(unique), hashlib.sha256(data).hexdigest()


class IdentityIndex:
    """Read side of an index file: membership by binary search, nothing loaded into memory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def contains(self, digests: Iterable[bytes]) -> set[bytes]:
        """The given digests that are in the index."""
        wanted = sorted(set(digests))
        size = self.path.stat().st_size
        if size % DIGEST_BYTES:
            raise IndexCorrupt(f"{self.path.name}: size is not a multiple of {DIGEST_BYTES}")
        if not wanted or size == 0:
            return set()
        n = size // DIGEST_BYTES
        found: set[bytes] = set()
        with open(self.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:

            def at(i: int) -> bytes:
                return mm[i * DIGEST_BYTES : (i + 1) * DIGEST_BYTES]

            for digest in wanted:
                lo, hi = 0, n
                while lo < hi:
                    mid = (lo + hi) // 2
                    if at(mid) < digest:
                        lo = mid + 1
                    else:
                        hi = mid
                if lo < n and at(lo) == digest:
                    found.add(digest)
        return found

    def contains_any(self, digests: Iterable[bytes]) -> bool:
        return bool(self.contains(digests))
