"""Erasure (Art. 17): plan, apply, verify — and make it stick across backups and retries.

- ``plan`` — what the data map says erasure does to each row, before any change;
- ``apply`` — all plans of a batch in one transaction per database, or nothing;
- ``verify`` — search again, and make the erased values leave the database files;
- ``crm.CrmEraser`` — the three in order on one regional CRM database;
- ``attempts`` — every attempt recorded, so one proof counts what all of them changed;
- ``tombstones``, ``tenant_tombstones`` — what a restored backup must re-apply (persons,
  opt-outs, restrictions; closed-account purges), kept outside every backup;
- ``restore`` — restore a backup, re-apply every erasure since it was taken, then hand it over.
"""
