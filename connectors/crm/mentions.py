"""Discovery's third pass on a data-mapped database: free text that mentions a subject.

``CrmSqlConnector`` (``connectors.crm.sql``) finds a person's own rows and their dependants; this
part reads every free-text column in scope — narrowed in SQL by ``match_sql.mention_prefilter``
— and reports each text that mentions a resolved identity as a ``Mention``, not as the subject's
own record (their own rows are exported whole).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

from sqlalchemy import Row, Select, select

from connectors.base import Identity, Mention
from connectors.crm.datamap import TableMap
from connectors.crm.match_sql import mention_prefilter
from connectors.crm.resolution import SubjectState
from connectors.crm.sql_helpers import mention_of, row_key
from connectors.free_text import MentionMatcher


class MentionSearch:
    """The mention pass of ``CrmSqlConnector``, which supplies ``datamap``, ``countries``,
    ``region``, ``table``, ``_tenant_clause`` and ``_connection``."""

    def _mentions(
        self,
        state: dict[str, SubjectState],
        tables: list[str],
        client_id: str | None,
        progress: Callable[[str, int, int], None] | None,
    ) -> dict[str, list[Mention]]:
        who: dict[Identity, set[str]] = defaultdict(set)
        for key, s in state.items():
            for ident in s.identities:
                who[ident].add(key)
        matcher = MentionMatcher(who, self.countries.region_country)
        result: dict[str, list[Mention]] = defaultdict(list)
        if not matcher:
            return result
        text_tables = [t for t in tables if self.datamap.tables[t].free_text]
        for i, name in enumerate(text_tables):
            tmap = self.datamap.tables[name]
            columns, rows = self._text_rows(name, tmap, matcher, client_id)
            at = {c: n for n, c in enumerate(columns)}
            texts = [(col, at[col]) for col in tmap.free_text]
            country_at = [(c, at[c]) for c in self.countries.row_columns(name)]
            for row in rows:
                # Only the columns the row's country is read from: most rows mention nobody.
                country = self.countries.for_row(name, {c: row[n] for c, n in country_at})
                for col, n in texts:
                    text = row[n]
                    hits = matcher.find(text, country) if isinstance(text, str) else []
                    if not hits:
                        continue
                    pk = row_key(tmap, dict(zip(columns, row, strict=True)))
                    by_subject: dict[str, list[tuple[Identity, int, int]]] = defaultdict(list)
                    for hit in hits:
                        for key in who[hit[0]]:
                            by_subject[key].append(hit)
                    for key, subject_hits in by_subject.items():
                        if (name, pk) in state[key].rows:
                            continue  # the subject's own record, already exported whole
                        result[key].append(
                            mention_of(self.region, name, pk, col, text, subject_hits)
                        )
            if progress:
                progress("mentions", i + 1, len(text_tables))
        return result

    def _text_rows(
        self, name: str, tmap: TableMap, matcher: MentionMatcher, client_id: str | None
    ) -> tuple[list[str], Iterator[Row]]:
        """The columns read and the rows, as tuples: a mapping per row cost more than matching
        its text (a Client's quarter of a million notes, bench/floor)."""
        table = self.table(name)
        names = list(
            dict.fromkeys([*tmap.key_columns, *tmap.free_text, *self.countries.row_columns(name)])
        )
        query = select(*(table.c[c] for c in names))
        tenant = self._tenant_clause(table, tmap, client_id)
        if tenant is not None:
            query = query.where(tenant)
        prefilter = mention_prefilter(table, tmap.free_text, matcher.prefilter_terms())
        if prefilter is not None:
            query = query.where(prefilter)
        return names, self._stream(query)

    def _stream(self, query: Select) -> Iterator[Row]:
        with self._connection() as conn:
            # Statement options: the connection may be shared by the rest of the discovery.
            yield from conn.execute(query.execution_options(stream_results=True, yield_per=5000))
