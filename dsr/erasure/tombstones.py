"""Tombstones: the erasures a restored backup must re-apply, kept outside every backup.

A backup taken before an erasure still holds the person until it expires. If it is ever
restored, the erasure must be applied again before the copy is used. To do that a tombstone has
to let restore *find* the person in the restored database — without keeping the person's
identities, which is exactly what the erasure took away.

So a tombstone keeps only keyed hashes (HMAC-SHA256 under the hash key, ``KeyRing.keyed_hash``)
of the person's normalised identities, never a plain or decryptable value. Restore scans every
identity value of the restored database (``connectors.backups.index.scan_identities``), hashes
each one the same way, and where a hash is tombstoned the value in front of it *is* the person's
identity again, read from the very copy that still holds it. Discovery and erasure then run with
it as for a live request. A person absent from the restored copy is never recovered, and nothing
about them is learned.

What is kept about an erased person, per erasure request: the request id, the scope and client
id the erasure ran with, when it ran and when it was recorded, and the sorted list of keyed
hashes. The hashes reveal nothing without the hash key, but whoever holds the key can test a
guessed e-mail address against them: they are pseudonymous data, kept only as long as a backup
older than the erasure exists or the erasure's final certificate is still due (``purge_before``
with ``keep``, run by the expiry job), and protected like the key. Losing or rotating the hash
key makes every tombstone unmatchable (and every backup index unreadable): restores would then
come back without the erasures, so the key must be rotated only together with new backups and
tombstones.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    select,
)
from sqlalchemy.engine import Engine, Row

from connectors.backups.index import key_id
from connectors.base import Identity
from connectors.crm.sql import SCOPES
from dsr.keys import KeyRing
from dsr.times import aware_utc, utc

metadata = MetaData()
tombstones_table = Table(
    "dsr_tombstones",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("scope", String(32), nullable=False),
    Column("client_id", String(64)),
    Column("erased_at", DateTime(timezone=True), nullable=False, index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # Which hash key made the hashes (connectors.backups.index.key_id): a restore refuses to match
    # hashes made under another key, since that would silently recognise nobody.
    Column("key_id", String(32), nullable=False),
    # JSON list of hex keyed hashes, sorted: the order identities were given in says nothing.
    Column("hashes", Text, nullable=False),
)


suppressions_table = Table(
    "dsr_suppressions",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("region", String(32), primary_key=True),
    # When the flags were set: the value of every ``now`` column, and what restores compare
    # with the snapshot time.
    Column("applied_at", DateTime(timezone=True), primary_key=True, index=True),
    Column("request_type", String(20), nullable=False),
    Column("action", String(20), nullable=False),
    Column("scope", String(32), nullable=False),
    Column("client_id", String(64)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("hashes", Text, nullable=False),
)
FLAG_ACTIONS = {"opt_out": "suppression", "restriction": "restriction"}

# A restriction lifted (Art. 18(3)) in one region: the rows whose flag the live lift cleared,
# so a restore that re-applies the restriction clears them again after it. Row keys, no hashes:
# the rows are named exactly, and rows another restriction still needed are not among them.
lifts_table = Table(
    "dsr_restriction_lifts",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("lifted_at", DateTime(timezone=True), primary_key=True, index=True),
    Column("scope", String(32), nullable=False),
    Column("client_id", String(64)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # JSON list of [table, primary key as text], sorted.
    Column("rows", Text, nullable=False),
)


def rows_since(
    engine: Engine, table: Table, at: str, timestamp: datetime, region: str | None = None
) -> list[Row[Any]]:
    """The rows of ``table`` whose ``at`` time is at or after ``timestamp`` (only ``region``'s,
    if given), oldest first: what a restore of a backup taken at ``timestamp`` re-applies."""
    query = select(table).where(table.c[at] >= aware_utc(timestamp, "timestamp"))
    if region is not None:
        query = query.where(table.c.region == region)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(table.c[at], table.c.request_id)))


@dataclass(frozen=True)
class Tombstone:
    request_id: str
    scope: str
    client_id: str | None
    erased_at: datetime
    recorded_at: datetime
    hashes: frozenset[str]
    key_id: str

    def __repr__(self) -> str:
        return f"Tombstone({self.request_id}, {self.scope}, {len(self.hashes)} hashes)"


@dataclass(frozen=True)
class Suppression:
    request_id: str
    region: str
    applied_at: datetime
    request_type: str  # opt_out | restriction
    action: str  # the data map action it sets: suppression | restriction
    scope: str
    client_id: str | None
    recorded_at: datetime
    hashes: frozenset[str]
    key_id: str

    def __repr__(self) -> str:
        n = len(self.hashes)
        return f"Suppression({self.request_id}, {self.region}, {self.action}, {n} hashes)"


@dataclass(frozen=True)
class RestrictionLift:
    request_id: str
    region: str
    lifted_at: datetime
    scope: str
    client_id: str | None
    recorded_at: datetime
    rows: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:
        return f"RestrictionLift({self.request_id}, {self.region}, {len(self.rows)} rows)"


_Entry = TypeVar("_Entry", Tombstone, Suppression)


def _as_row(entry: Tombstone | Suppression) -> dict[str, Any]:
    """A tombstone or suppression as its table row: the hashes as a sorted JSON list."""
    values = {f.name: getattr(entry, f.name) for f in fields(entry)}
    values["hashes"] = json.dumps(sorted(entry.hashes))
    return values


def _from_row(cls: type[_Entry], row: Row[Any]) -> _Entry:
    """The row read back: times in UTC (SQLite keeps no zone), the hashes as a set."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        value = getattr(row, f.name)
        if isinstance(value, datetime):
            value = utc(value)
        values[f.name] = frozenset(json.loads(value)) if f.name == "hashes" else value
    return cls(**values)


class Tombstones:
    """The suppression list: in the ledger database or any other SQLAlchemy URL."""

    def __init__(self, url: str | Engine, keys: KeyRing) -> None:
        if isinstance(url, Engine):
            self.engine = url
        elif url.startswith("sqlite"):
            self.engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        self.keys = keys
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def digest(self, ident: Identity) -> str:
        return self.keys.keyed_hash(ident.kind, ident.value)

    def record(
        self,
        request_id: str,
        identities: set[Identity],
        scope: str,
        client_id: str | None,
        erased_at: datetime,
    ) -> Tombstone:
        """Record (or, for a re-run of the same request, widen) the tombstone of an erasure.

        Call it after the erasure committed: ``erased_at`` then never precedes a backup that
        still held the person. A re-run keeps the later time, so backups taken between two
        attempts are covered too.
        """
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        if scope == "client_data" and not client_id:
            raise ValueError("a client_data erasure needs the client id it ran in")
        if not identities:
            raise ValueError("a tombstone needs at least one identity")
        hashes = {self.digest(i) for i in identities}
        when = aware_utc(erased_at, "erased_at")
        with self.engine.begin() as conn:
            row = conn.execute(
                select(tombstones_table).where(tombstones_table.c.request_id == request_id)
            ).first()
            if row is not None:
                if row.key_id != key_id(self.keys):
                    raise ValueError(f"tombstone {request_id} was recorded under another hash key")
                hashes |= set(json.loads(row.hashes))
                when = max(when, utc(row.erased_at))
                conn.execute(
                    delete(tombstones_table).where(tombstones_table.c.request_id == request_id)
                )
            stone = Tombstone(
                request_id=request_id,
                scope=scope,
                client_id=str(client_id) if client_id is not None else None,
                erased_at=when,
                recorded_at=datetime.now(UTC),
                hashes=frozenset(hashes),
                key_id=key_id(self.keys),
            )
            conn.execute(tombstones_table.insert().values(**_as_row(stone)))
        return stone

    def get(self, request_id: str) -> Tombstone | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tombstones_table).where(tombstones_table.c.request_id == request_id)
            ).first()
        return self._tombstone(row) if row is not None else None

    def since(self, timestamp: datetime) -> list[Tombstone]:
        """Erasures that ran at or after ``timestamp``, oldest first."""
        rows = rows_since(self.engine, tombstones_table, "erased_at", timestamp)
        return [self._tombstone(row) for row in rows]

    def purge_before(self, timestamp: datetime, keep: Collection[str] = ()) -> int:
        """Forget erasures older than ``timestamp`` (the oldest remaining backup, less a margin),
        except the requests in ``keep`` (those still waiting for their final certificate)."""
        query = delete(tombstones_table).where(
            tombstones_table.c.erased_at < aware_utc(timestamp, "timestamp")
        )
        if keep:
            query = query.where(tombstones_table.c.request_id.not_in(sorted(keep)))
        with self.engine.begin() as conn:
            return int(conn.execute(query).rowcount or 0)

    def suppress(
        self,
        request_id: str,
        region: str,
        request_type: str,
        identities: set[Identity],
        scope: str,
        client_id: str | None,
        applied_at: datetime,
    ) -> Suppression:
        """Record an opt-out or restriction applied in ``region`` at ``applied_at`` (the time its
        flags carry). Call it after the flags committed; a re-run adds a row of its own."""
        if request_type not in FLAG_ACTIONS:
            raise ValueError(
                f"unknown flag request {request_type!r}; expected one of {', '.join(FLAG_ACTIONS)}"
            )
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        if scope == "client_data" and not client_id:
            raise ValueError("a client_data request needs the client id it ran in")
        if not identities:
            raise ValueError("a suppression needs at least one identity")
        entry = Suppression(
            request_id=request_id,
            region=region,
            applied_at=aware_utc(applied_at, "applied_at"),
            request_type=request_type,
            action=FLAG_ACTIONS[request_type],
            scope=scope,
            client_id=str(client_id) if client_id is not None else None,
            recorded_at=datetime.now(UTC),
            hashes=frozenset(self.digest(i) for i in identities),
            key_id=key_id(self.keys),
        )
        with self.engine.begin() as conn:
            conn.execute(suppressions_table.insert().values(**_as_row(entry)))
        return entry

    def suppressions_since(self, timestamp: datetime, region: str) -> list[Suppression]:
        """Opt-outs and restrictions applied in ``region`` at or after ``timestamp``, oldest
        first."""
        rows = rows_since(self.engine, suppressions_table, "applied_at", timestamp, region)
        return [self._suppression(row) for row in rows]

    def purge_suppressions_before(self, timestamp: datetime) -> int:
        """Forget opt-outs and restrictions older than ``timestamp`` (the oldest remaining
        backup, less a margin): every backup still kept already carries their flags."""
        before = aware_utc(timestamp, "timestamp")
        query = delete(suppressions_table).where(suppressions_table.c.applied_at < before)
        with self.engine.begin() as conn:
            # Lifts go with them: every backup still kept was taken after the lift too.
            conn.execute(delete(lifts_table).where(lifts_table.c.lifted_at < before))
            return int(conn.execute(query).rowcount or 0)

    def record_lift(
        self,
        request_id: str,
        region: str,
        rows: Collection[tuple[str, str]],
        scope: str,
        client_id: str | None,
        lifted_at: datetime,
    ) -> RestrictionLift:
        """Record the rows a lift cleared in ``region``, after they committed; a re-run of the
        same lift adds a row of its own."""
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")
        entry = RestrictionLift(
            request_id=request_id,
            region=region,
            lifted_at=aware_utc(lifted_at, "lifted_at"),
            scope=scope,
            client_id=str(client_id) if client_id is not None else None,
            recorded_at=datetime.now(UTC),
            rows=tuple(sorted((str(t), str(pk)) for t, pk in rows)),
        )
        values = {f.name: getattr(entry, f.name) for f in fields(entry)}
        values["rows"] = json.dumps([list(r) for r in entry.rows])
        with self.engine.begin() as conn:
            conn.execute(lifts_table.insert().values(**values))
        return entry

    def lifts_since(self, timestamp: datetime, region: str) -> list[RestrictionLift]:
        """Restrictions lifted in ``region`` at or after ``timestamp``, oldest first."""
        return [
            RestrictionLift(
                request_id=row.request_id,
                region=row.region,
                lifted_at=utc(row.lifted_at),
                scope=row.scope,
                client_id=row.client_id,
                recorded_at=utc(row.recorded_at),
                rows=tuple((t, pk) for t, pk in json.loads(row.rows)),
            )
            for row in rows_since(self.engine, lifts_table, "lifted_at", timestamp, region)
        ]

    @staticmethod
    def _suppression(row: Row[Any]) -> Suppression:
        return _from_row(Suppression, row)

    @staticmethod
    def _tombstone(row: Row[Any]) -> Tombstone:
        return _from_row(Tombstone, row)
