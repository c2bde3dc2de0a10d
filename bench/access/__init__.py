"""``python -m bench access``: discovery and bundle assembly per CRM size (``cli``), each phase
in a fresh process (``worker``: ``phases``, ``plans``, metered by ``measure``), tables in
``report``."""
