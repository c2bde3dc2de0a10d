"""The CRM: any SQL schema, driven by a data map (SQLite or PostgreSQL, one database per region).

- the data map: ``datamap`` (the file's model and loader), ``datamap_accounts`` (its account
  sections), ``datamap_checks`` (against a live database and erasure's needs),
  ``datamap_indexes`` (does each lookup use an index?);
- find/export: ``sql.CrmSqlConnector`` (identities to a fixpoint, references, and
  ``mentions``), ``resolution`` (the fixpoint across regions), ``match_sql`` (the SQL side of
  matching), ``phone_countries`` (a national number's country, row by row), ``sql_helpers``;
- change: ``rectify.CrmRectifier`` (Art. 16), ``flags.CrmFlagger`` (opt-out, restriction),
  ``unrestrict.CrmUnrestrictor`` (lifting a restriction), ``minors.find_minors``.

Erasure on these databases is the product's own promise: ``dsr.erasure``.
"""
