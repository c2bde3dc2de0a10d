"""``python -m bench services``: one person over the integrated services' stand-ins (``cli``), each
run in a fresh process (``worker``: ``runs``, data from ``seed``, ``faults`` for the failing
cases), tables in ``report`` and the "what this shows" lines in ``summary``."""
