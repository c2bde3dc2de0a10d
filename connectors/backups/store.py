"""The backup store: compressed snapshots of the regional CRM databases with an identity index.

Layout, one folder per region under the store's root::

    <root>/<region>/<backup_id>.sqlite.gz   SQLite: online-backup copy, gzip-compressed
    <root>/<region>/<backup_id>.dump        PostgreSQL: pg_dump custom format (compressed)
    <root>/<region>/<backup_id>.index       keyed hashes of every identity value (``index``)
    <root>/<region>/<backup_id>.json        metadata: times, sizes, checksums, row counts

The metadata is written last and removed last, so a backup is listed (and therefore expires) as
long as any of its files exist, and a snapshot that crashed half-way leaves only ``.partial`` files
(``sweep_partials`` removes them). Nothing in the metadata or the index is an identity in clear.

Archive and index come from the same snapshot: SQLite is copied with the online backup API and
the copy is read for the index; PostgreSQL is read inside one REPEATABLE READ transaction whose
exported snapshot ``pg_dump --snapshot`` dumps, so a row written meanwhile is in neither.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from connectors.backups.index import (
    HashKey,
    IdentityIndex,
    collect_digests,
    index_digest,
    key_id,
    row_counts,
    write_index,
)
from connectors.backups.pg import dump_pg
from connectors.backups.record import (
    BACKUP_ID,
    BackupCorrupt,
    BackupError,
    BackupNotFound,
    BackupRecord,
    file_sha256,
)
from connectors.base import Identity
from connectors.crm.datamap import DataMap

DEFAULT_RETENTION_DAYS = 30
_REGION = re.compile(r"^[a-z0-9_]+$")
_PARTIAL = ".partial"


def _partial(path: Path) -> Path:
    return path.with_name(path.name + _PARTIAL)


class BackupStore:
    """Snapshots, lists, checks and expires backups; ``dsr.erasure.restore.restore`` restores."""

    def __init__(
        self,
        root: Path,
        keys: HashKey,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        default_phone_region: str = "US",
        pg_bin_dir: Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.keys = keys
        self.retention_days = retention_days
        self.default_phone_region = default_phone_region
        self.pg_bin_dir = pg_bin_dir

    # -- taking a snapshot ----------------------------------------------------------------------

    def snapshot(
        self, region: str, url: str, datamap: DataMap, *, now: datetime | None = None
    ) -> BackupRecord:
        if not _REGION.match(region):
            raise ValueError(f"region must be lower-case letters, digits or _, not {region!r}")
        created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        backup_id = f"b-{region}-{created:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        folder = self.root / region
        folder.mkdir(parents=True, exist_ok=True)
        backend = make_url(url).get_backend_name()
        suffix = {"sqlite": ".sqlite.gz", "postgresql": ".dump"}.get(backend)
        if suffix is None:
            raise BackupError(f"backups support sqlite and postgresql databases, not {backend}")
        archive, index = folder / f"{backup_id}{suffix}", folder / f"{backup_id}.index"
        try:
            if backend == "sqlite":
                digests, tables = self._snapshot_sqlite(
                    url, datamap, _partial(archive), folder, region
                )
            else:
                digests, tables = dump_pg(
                    url,
                    _partial(archive),
                    lambda conn: self._read(conn, datamap, region),
                    self.pg_bin_dir,
                )
            entries, index_sha = write_index(digests, _partial(index))
            os.chmod(_partial(archive), 0o600)
            record = BackupRecord(
                backup_id=backup_id,
                region=region,
                backend=backend,
                created_at=created,
                expires_at=created + timedelta(days=self.retention_days),
                archive=archive,
                index=index,
                size=_partial(archive).stat().st_size,
                sha256=file_sha256(_partial(archive)),
                index_entries=entries,
                index_sha256=index_sha,
                key_id=key_id(self.keys),
                datamap=datamap.name,
                tables=tables,
            )
            os.replace(_partial(archive), archive)
            os.replace(_partial(index), index)
            self._write_metadata(record)
        except BaseException:
            meta = folder / f"{backup_id}.json"
            for path in (archive, index, meta, *map(_partial, (archive, index, meta))):
                path.unlink(missing_ok=True)
            raise
        return record

    def _read(
        self, conn: Connection, datamap: DataMap, region: str
    ) -> tuple[bytearray, dict[str, int]]:
        digests = collect_digests(conn, datamap, self.keys, self.default_phone_region, region)
        return digests, row_counts(conn, datamap)

    def _snapshot_sqlite(
        self, url: str, datamap: DataMap, out: Path, folder: Path, region: str
    ) -> tuple[bytearray, dict[str, int]]:
        source = make_url(url).database or ""
        # The plain copy lives next to the archive (same disk, same permissions), never in /tmp,
        # and is gone when this returns, failure or not.
        with tempfile.TemporaryDirectory(dir=folder, prefix=".snapshot-") as tmp:
            copy = Path(tmp) / "copy.sqlite"
            # mode=rw: a missing database is an error, not a new empty file that backs up fine.
            src = sqlite3.connect(f"file:{quote(source)}?mode=rw", uri=True)
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)  # one step: a consistent copy even while others write (WAL)
                # A self-contained file: a restored copy must not expect a -wal beside it.
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
                src.close()
            engine = create_engine(f"sqlite:///{copy}", poolclass=NullPool)
            try:
                with engine.connect() as conn:
                    result = self._read(conn, datamap, region)
            finally:
                engine.dispose()
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with (
                open(copy, "rb") as fh,
                os.fdopen(fd, "wb") as raw,
                # Level 6 (gzip's own default): about half the time of 9 for a few % more bytes.
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz,
            ):
                shutil.copyfileobj(fh, gz, 1 << 20)
            return result

    def _write_metadata(self, record: BackupRecord) -> None:
        path = record.metadata_path
        fd = os.open(_partial(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record.to_json(), fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(_partial(path), path)

    # -- finding, checking, deleting ------------------------------------------------------------

    def list(self, region: str | None = None) -> list[BackupRecord]:
        pattern = f"{region}/*.json" if region else "*/*.json"
        records = []
        for path in self.root.glob(pattern):
            if not BACKUP_ID.match(path.stem):
                continue
            try:
                records.append(self._load(path))
            except FileNotFoundError:
                # An expiry running now deleted it between the directory read and the open.
                continue
        return sorted(records, key=lambda r: (r.created_at, r.backup_id))

    def _load(self, path: Path) -> BackupRecord:
        try:
            return BackupRecord.from_json(json.loads(path.read_text("utf-8")), path.parent)
        except (ValueError, KeyError, TypeError) as exc:
            # Loud: a backup that cannot be read could never expire either.
            raise BackupCorrupt(f"{path.name}: unreadable backup metadata ({exc!r})") from None

    def get(self, backup_id: str) -> BackupRecord:
        match = BACKUP_ID.match(backup_id or "")
        if not match:
            raise BackupNotFound(f"{backup_id!r} is not a backup id (b-<region>-<time>-<hex>)")
        path = self.root / match.group(1) / f"{backup_id}.json"
        try:
            return self._load(path)
        except FileNotFoundError:
            raise BackupNotFound(f"backup {backup_id} is not in the store") from None

    def verify(self, record: BackupRecord) -> None:
        """Raise ``BackupCorrupt`` unless archive and index are byte for byte what was written."""
        for path, expected in (
            (record.archive, record.sha256),
            (record.index, record.index_sha256),
        ):
            if not path.is_file():
                raise BackupCorrupt(f"{record.backup_id}: {path.name} is missing")
            if file_sha256(path) != expected:
                raise BackupCorrupt(f"{record.backup_id}: {path.name} fails its sha256 check")

    def delete(self, backup_id: str) -> BackupRecord:
        record = self.get(backup_id)
        # Metadata last: a crash half-way leaves a listed backup that the next run deletes again.
        for path in (record.archive, record.index, record.metadata_path):
            path.unlink(missing_ok=True)
        return record

    def expired(self, now: datetime, retention_days: int | None = None) -> list[BackupRecord]:
        """Backups at least ``retention_days`` old, except the newest backup of each region."""
        keep_for = timedelta(days=self.retention_days if retention_days is None else retention_days)
        by_region: dict[str, list[BackupRecord]] = {}
        for record in self.list():
            by_region.setdefault(record.region, []).append(record)
        out = []
        for records in by_region.values():
            newest = records[-1]  # list() is ordered by creation time
            out += [r for r in records if r is not newest and now - r.created_at >= keep_for]
        return sorted(out, key=lambda r: (r.created_at, r.backup_id))

    def holding(self, identities: set[Identity]) -> list[BackupRecord]:
        """The backups whose snapshot holds any of these identities, oldest first.

        Opaque ids (user ids, contact ids) are only meaningful within one region's database; pass
        them for the region they came from, or pass only e-mail addresses and phone numbers.
        """
        digests = {index_digest(self.keys, ident) for ident in identities}
        if not digests:
            return []
        records = self.list()
        current = key_id(self.keys)
        stale = [r.backup_id for r in records if r.key_id != current]
        if stale:
            # "Not held" must never be an artefact of a rotated key: a proof would say so.
            raise BackupError(f"indexes built with another hash key: {', '.join(stale)}")
        return [r for r in records if IdentityIndex(r.index).contains_any(digests)]

    def sweep_partials(self, older_than: timedelta = timedelta(hours=12)) -> list[Path]:
        """Remove what a crashed snapshot left behind (it may hold a plain copy of the data)."""
        cutoff = datetime.now(UTC).timestamp() - older_than.total_seconds()
        removed = []
        for path in [*self.root.glob(f"*/*{_PARTIAL}"), *self.root.glob("*/.snapshot-*")]:
            try:
                modified = path.stat().st_mtime
            except FileNotFoundError:
                continue  # a snapshot running now just renamed it into place
            if modified < cutoff:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
        return removed
