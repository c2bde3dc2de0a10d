"""Benchmarks: commands that measure, not tests. ``python -m bench --help`` lists them.

Shared: ``crm_cache`` (the seeded, cached demo CRMs), ``subjects`` (who is searched), ``child``
(one measurement in a fresh process, its peak RSS), ``report`` (number formats, percentiles, the
JSON header), ``live`` (a ``dagster dev`` to drive). One module or package per benchmark beside
them; ``__main__`` runs one.
"""
