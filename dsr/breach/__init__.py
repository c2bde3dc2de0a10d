"""Breach impact (policy 11, Art. 33/34): whose data was in these tables in that window.

- ``window`` — what a query asks (tables, window, regions); ``run`` — one query end to end;
- ``assess`` — every region, one Client at a time (``tenants``, ``rows``), people resolved
  (``people``, ``identities``) straight into the report; ``backups`` — rows only backups hold;
- ``model`` — the counts-only result; ``report`` and ``writer`` — the one place identities are
  written down, while the query runs.
"""
