"""``python -m bench backups``: daily backups of a CRM region and the lookups across them
(``cli``), each backup, restore and lookup in a fresh process (``worker``)."""
