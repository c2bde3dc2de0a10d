"""The product's own rules, one package per promise, on top of ``connectors``.

``erasure``, ``retention``, ``breach``, ``ledger`` (requests, deadlines, the audit log, leases),
``proof``, ``bundle``; the request's way in (``intake``, ``bulk_intake``, ``preview``,
``restriction_lift``), ``settings``, ``keys`` and ``times``; ``cli`` (the ``dsr`` command) and
``democrm`` (the demo CRM).
"""
