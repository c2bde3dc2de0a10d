"""Backups of the regional CRM databases: snapshot, index, and what restore runs on.

- ``store.BackupStore`` — compressed snapshots per region, listed, looked up and expired;
- ``index`` — the identity index beside each backup (keyed hashes only) and the scan that
  reads identities out of a database; ``harvest`` normalises millions of values for it;
- ``pg`` — ``pg_dump`` / ``pg_restore`` for PostgreSQL; ``record`` — a backup's metadata and
  the errors backups and restores raise.

Restoring re-applies every erasure recorded since the snapshot, so it lives with erasure:
``dsr.erasure.restore``.
"""
