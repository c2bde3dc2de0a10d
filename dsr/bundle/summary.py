"""The human-readable part of a bundle: the Art. 15 information, rendered from the data map.

Nothing here is written per request: what is shown for a table (categories, purposes, legal
basis, retention, source, recipients) comes from the operator's data map, and only the counts come
from the findings. A system without a data map (an Integrated Service added later) still shows
what was found, and says plainly that it is not described.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from connectors.crm.datamap import Controller, DataMap, TableMap
from connectors.crm.datamap_accounts import Policy
from dsr.bundle.manifest import text
from dsr.bundle.request import BundleRequest
from dsr.times import utc

CLIENT_DATA = "client_data"
MAX_EXCERPTS = 50  # per table: the page stays readable; every mention is in mentions/*.json

# GDPR Arts. 15-22 and 7(3), in plain words; a data map's own ``rights`` are shown after these.
DEFAULT_RIGHTS: tuple[tuple[str, str], ...] = (
    (
        "Access (Art. 15)",
        "You may ask again at any time for a copy of your data and this "
        "information about how it is used.",
    ),
    (
        "Rectification (Art. 16)",
        "You may ask us to correct data that is inaccurate or to complete data that is incomplete.",
    ),
    (
        "Erasure (Art. 17)",
        "You may ask us to delete your data. We then keep only what the law "
        "obliges us to keep, for the period shown under retention above.",
    ),
    (
        "Restriction (Art. 18)",
        "You may ask us to restrict the use of your data while its "
        "accuracy or the lawfulness of its use is being checked.",
    ),
    (
        "Notification of recipients (Art. 19)",
        "Corrections, erasures and restrictions are passed "
        "on to the recipients listed above, including the Integrated Services you connected.",
    ),
    (
        "Portability (Art. 20)",
        "The data in this bundle is also given as JSON and CSV files you "
        "can take to another service; you may ask us to send it to another controller directly.",
    ),
    (
        "Objection (Art. 21)",
        "You may object to uses based on legitimate interests, and at any "
        "time to the use of your data for direct marketing.",
    ),
    (
        "Automated decisions (Art. 22)",
        "You have the right not to be subject to a decision based "
        "solely on automated processing that has legal or similarly significant effects on you.",
    ),
    (
        "Withdraw consent (Art. 7(3))",
        "Where a use is based on your consent, you may withdraw "
        "it at any time; this does not affect what was done before you withdrew it.",
    ),
)
REQUEST_TYPES = {
    "access": "Access to your personal data (GDPR Art. 15)",
    "portability": "Data portability (GDPR Art. 20)",
}


@dataclass(frozen=True)
class TableExport:
    """What the bundle holds for one table of one system and region (counts and paths only)."""

    table: str
    rows: int
    mentions: int
    files: int
    columns_present: frozenset[str]
    data_json: str | None = None
    data_csv: str | None = None
    mentions_json: str | None = None
    # (pk, column, excerpt) of the first mentions, so the page shows them without opening JSON.
    excerpts: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class SystemExport:
    system: str
    region: str
    searched_tables: tuple[str, ...]
    skipped_tables: Mapping[str, str]
    tables: tuple[TableExport, ...]

    @property
    def key(self) -> str:
        return f"{self.system}:{self.region}"

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def mentions(self) -> int:
        return sum(t.mentions for t in self.tables)


@dataclass(frozen=True)
class TableView:
    export: TableExport
    described: bool
    description: str = ""
    controller: str = ""
    categories: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    legal_basis: str = ""
    retention: str = ""
    kept: str = ""
    source: str = ""
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class SystemView:
    export: SystemExport
    region_name: str
    datamap: str
    tables: tuple[TableView, ...]


@dataclass
class Overview:
    where_stored: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    undescribed_services: list[str] = field(default_factory=list)
    controllers: list[Controller] = field(default_factory=list)
    extra_rights: list[str] = field(default_factory=list)
    # The operator's own words from its data map: never wording of this code's author.
    service: str = ""  # what the person knows the service as ("iNextCRM"), or ""
    operator: str = "we"  # who acts as processor for Client Data
    policy: Policy = field(default_factory=Policy)


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _table_view(export: TableExport, tmap: TableMap | None) -> TableView:
    if tmap is None:
        return TableView(export=export, described=False)
    present = [c for c in tmap.personal_data if c in export.columns_present]
    categories = _unique([tmap.personal_data[c].category for c in present])
    if not categories and export.rows:
        # Rows whose personal columns are all empty still belong to the person: name the
        # categories the table can hold rather than claim it holds none.
        categories = _unique([p.category for p in tmap.personal_data.values()])
    kept = ""
    if tmap.erasure and tmap.erasure.action == "keep":
        kept = f"Kept for {tmap.erasure.retain_for} even after erasure: {tmap.erasure.legal_basis}"
    return TableView(
        export=export,
        described=True,
        description=tmap.description,
        controller=tmap.controller,
        categories=categories,
        purposes=_unique([tmap.purpose, *(tmap.personal_data[c].purpose or "" for c in present)]),
        legal_basis=tmap.legal_basis,
        retention=tmap.retention,
        kept=kept,
        source=tmap.source,
        recipients=tuple(tmap.recipients),
    )


def system_views(
    systems: Sequence[SystemExport], datamaps: Mapping[str, DataMap]
) -> tuple[list[SystemView], Overview]:
    views: list[SystemView] = []
    overview = Overview()
    seen_maps: list[DataMap] = []
    for sysx in systems:
        dm = datamaps.get(sysx.system)
        region_name = dm.region_name(sysx.region) if dm else sysx.region
        tables = tuple(_table_view(t, dm.tables.get(t.table) if dm else None) for t in sysx.tables)
        views.append(SystemView(sysx, region_name, dm.name if dm else "", tables))
        if dm is not None and dm not in seen_maps:
            seen_maps.append(dm)
        if sysx.rows or sysx.mentions:
            overview.where_stored.append(region_name)
            if dm is None:
                overview.undescribed_services.append(sysx.system)
        for tv in tables:
            if tv.export.rows:
                overview.recipients.extend(tv.recipients)
    overview.where_stored = sorted(set(overview.where_stored))
    overview.recipients = sorted(set(overview.recipients))
    overview.undescribed_services = sorted(set(overview.undescribed_services))
    overview.controllers = list(dict.fromkeys(dm.controller for dm in seen_maps))
    overview.extra_rights = list(_unique([r for dm in seen_maps for r in dm.rights]))
    if seen_maps:
        first = seen_maps[0]
        overview.service = first.controller.service
        overview.operator = first.controller.service or first.controller.name
        overview.policy = first.policy
    return views, overview


@cache
def _environment() -> Environment:
    # Autoescape is the safety here: row values and excerpts are text other people typed.
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _date(when: datetime) -> str:
    return utc(when).strftime("%d %B %Y")


def _datetime(when: datetime) -> str:
    return utc(when).strftime("%d %B %Y, %H:%M UTC")


def render_summary(
    request: BundleRequest,
    systems: Sequence[SystemExport],
    datamaps: Mapping[str, DataMap],
    not_searched: Mapping[str, str],
    generated_at: datetime,
    backups: Sequence[Mapping[str, str]] = (),
) -> str:
    views, overview = system_views(systems, datamaps)
    request_type = text(request.request_type)
    return (
        _environment()
        .get_template("summary.html.j2")
        .render(
            request=request,
            request_label=REQUEST_TYPES.get(request_type, request_type),
            client_data=text(request.scope) == CLIENT_DATA,
            received=_date(request.received_at),
            due=_date(request.due_at),
            generated=_datetime(generated_at),
            systems=views,
            overview=overview,
            total_rows=sum(s.rows for s in systems),
            total_mentions=sum(s.mentions for s in systems),
            mentioned=[(v, t) for v in views for t in v.tables if t.export.excerpts],
            not_searched=sorted(not_searched.items()),
            backups=backups,
            skipped=[
                (v, table, reason)
                for v in views
                for table, reason in sorted(v.export.skipped_tables.items())
            ],
            rights=DEFAULT_RIGHTS,
        )
    )
