"""The demo CRM: iNextCRM's multi-tenant schema, a deterministic seeder and a planted cast.

- ``tables``: the tables; ``inextcrm.datamap.yaml`` maps them.
- ``schema``: ``create_schema``, ``create_indexes``, ``sync_sequences`` (and the tables again).
- ``seed.seed``: a synthetic region, fast enough for a million contacts.
- ``planted``: named people (``DEMO_EMAIL``, ``PEOPLE``) with exact expected rows and mentions.
"""
