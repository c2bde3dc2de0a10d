"""The demo CRM: iNextCRM's multi-tenant schema, a deterministic seeder and a planted cast.

- ``schema``: tables, ``create_schema``, ``create_indexes``; ``inextcrm.datamap.yaml`` maps them.
- ``seed.seed``: a synthetic region, fast enough for a million contacts.
- ``planted``: named people (``DEMO_EMAIL``, ``PEOPLE``) with exact expected rows and mentions.
"""
