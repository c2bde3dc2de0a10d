"""``python -m bench erasure``: one subject and a batch erased per CRM size (``cli``), on a copy of
the cached CRM (``copies``) and the help desk (``desk``), each measurement in a fresh process
(``worker``: ``phases``, ``batch``, clocked by ``meter``), tables in ``report`` and ``growth``."""
