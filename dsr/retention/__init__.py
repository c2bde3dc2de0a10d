"""Retention (privacy policy 12): what is past its time is purged, idempotently, with proof.

- ``purges`` — what every purge is given and reports; ``dates`` — when a period is over;
- ``tenants`` (closed Clients), ``users`` (closed Users), ``billing`` (kept rows past seven
  years), ``bundles`` (export bundles and breach reports) — one purge each;
- ``accounts`` — closed accounts as the data map declares them;
- ``run`` — every purge in a daily run's order, one at a time under a lease;
- ``backup_expiry`` — backups past retention deleted, then the erasures they complete certified.
"""
