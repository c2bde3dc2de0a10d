"""What talks to a system: one package per kind of system, plain Python, no Dagster.

Each connector follows one protocol — find → export → erase → verify — where the system allows
it, and speaks in the data classes of ``connectors.base``:

- ``connectors.crm`` — any SQL schema through its data map (the data map itself included);
- ``connectors.google``, ``connectors.dropbox``, ``connectors.gotomeeting`` — the integrated
  services, on one connected account each (``connectors.services``: what they share);
- ``connectors.backups`` — snapshots of the CRM databases and their identity index.

``connectors.identities`` normalises and matches identities for all of them. Nothing here
imports ``dsr``: the product's own rules (erasure, retention, breach, the ledger) build on this
package, never the other way (``tests/test_import_graph.py``).
"""
