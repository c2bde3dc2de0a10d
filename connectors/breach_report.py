"""The breach report: the one place the affected people's identities are written down.

Its purpose is notification, so it must name them (Art. 33(3), 34): per Client, the people that
Client has to notify, with its name and contact; for iNextCRM, its own Users, subscribers and
visitors. Three files in one folder of the export store (EU data: the EU store), readable by
their owner only:

- ``report.json`` — everything, machine-readable (the authoritative file; its SHA-256 goes to the
  audit log and the Dagster run);
- ``affected.csv`` — one line per person and notifier, for a mail merge;
- ``summary.html`` — counts per Client and table, and what the report cannot see.

Everything outside these files (logs, metadata, audit) carries ``BreachImpact.counts()`` only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from jinja2 import Environment, select_autoescape

from connectors.breach import AffectedPerson, BreachImpact, ClientImpact

REPORT_JSON, REPORT_CSV, REPORT_HTML = "report.json", "affected.csv", "summary.html"
CSV_FIELDS = (
    "notifier",
    "region",
    "client_id",
    "client_name",
    "emails",
    "phones",
    "names",
    "other_ids",
    "tables",
    "rows",
    "mentions",
    "contactable",
)


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    json_path: Path
    sha256: str  # of report.json
    csv_sha256: str
    html_sha256: str

    def metadata(self) -> dict[str, str]:
        return {
            "report_path": str(self.json_path),
            "report_sha256": self.sha256,
            "csv_sha256": self.csv_sha256,
            "html_sha256": self.html_sha256,
        }


def _person(p: AffectedPerson) -> dict[str, Any]:
    return {
        "emails": p.emails,
        "phones": p.phones,
        "names": p.names,
        "other_ids": p.other_ids,
        "rows": p.rows,
        "mentions": p.mentions,
        "regions": p.regions,
        "clients": p.clients,
        "contactable": p.contactable,
    }


def _head(impact: BreachImpact) -> dict[str, Any]:
    """The report without the people: what the summary shows."""
    return {
        "breach_id": impact.breach_id,
        "generated_at": impact.generated_at.isoformat(),
        "query": {
            "tables": list(impact.query.tables),
            "regions": list(impact.query.regions),
            **impact.query.window.iso(),
        },
        "counts": impact.counts(),
        "backups_in_window": [
            {
                "backup_id": b.backup_id,
                "region": b.region,
                "created_at": b.created_at.isoformat(),
                "expires_at": b.expires_at.isoformat(),
                "missing_rows": b.missing_rows,
            }
            for b in impact.backups
        ],
        "limitations": limitations(impact),
    }


def _client_head(c: ClientImpact) -> dict[str, Any]:
    return {
        "region": c.region,
        "client_id": c.client_id,
        "name": c.name,
        "contact": c.contact,
        "rows": c.rows,
        "people_count": len(c.people),
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _json_chunks(impact: BreachImpact) -> Iterator[str]:
    """report.json piece by piece: a million people are never one string in memory."""
    head = _head(impact)
    yield "{\n"
    for key, value in head.items():
        yield f"{_dumps(key)}: {_dumps(value)},\n"
    yield '"clients": ['
    for i, c in enumerate(impact.clients):
        client = _dumps(_client_head(c))
        yield ("," if i else "") + "\n" + client[:-1] + ', "people": ['
        for j, p in enumerate(c.people):
            yield ("," if j else "") + "\n  " + _dumps(_person(p))
        yield "\n]}"
    yield '\n],\n"inextcrm": {"rows": ' + _dumps(impact.inextcrm_rows) + ', "people": ['
    for j, p in enumerate(impact.inextcrm):
        yield ("," if j else "") + "\n  " + _dumps(_person(p))
    yield "\n]}\n}\n"


def report_document(impact: BreachImpact) -> dict[str, Any]:
    """The whole report as one object (what ``report.json`` parses to)."""
    return json.loads("".join(_json_chunks(impact)))


def limitations(impact: BreachImpact) -> list[str]:
    notes = [
        "Rows are counted when they were recorded before the window's end and still exist; "
        "rows deleted since are not in the live databases and their people are not listed.",
        "Names written in free text are not resolved to people (namesakes cannot be told "
        "apart); e-mail addresses and phone numbers written in free text are.",
    ]
    if impact.untimed_tables:
        notes.append(
            "No time column in the data map, every row counted: " + ", ".join(impact.untimed_tables)
        )
    for b in impact.backups:
        if b.missing_rows:
            shown = ", ".join(f"{t} {n}" for t, n in sorted(b.missing_rows.items()))
            notes.append(
                f"Backup {b.backup_id} ({b.region}, taken in the window, expires "
                f"{b.expires_at:%Y-%m-%d}) holds rows the live database no longer has: {shown}. "
                "Restore it with `dsr restore-backup` (erasures are re-applied) and run the "
                "query against the copy to identify them."
            )
    if impact.erasures_since:
        notes.append(
            f"{impact.erasures_since} erasure(s) ran since the window began; those people's data "
            "may have been exposed and is not listed (it is gone, and backups stay beyond use)."
        )
    return notes


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell that starts like a formula; identities come from CRM users' input.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_lines(impact: BreachImpact) -> Iterator[dict[str, Any]]:
    def line(notifier: str, region: str, cid: str, cname: str, p: AffectedPerson) -> dict:
        return {
            "notifier": notifier,
            "region": region,
            "client_id": cid,
            "client_name": cname,
            "emails": "; ".join(p.emails),
            "phones": "; ".join(p.phones),
            "names": "; ".join(p.names),
            "other_ids": "; ".join(f"{k}={v}" for k, vs in p.other_ids.items() for v in vs),
            "tables": "; ".join(sorted(p.tables())),
            "rows": sum(p.rows.values()),
            "mentions": sum(p.mentions.values()),
            "contactable": "yes" if p.contactable else "no",
        }

    for c in impact.clients:
        for p in c.people:
            yield line("client", c.region, c.client_id, c.name or "", p)
    for p in impact.inextcrm:
        yield line("inextcrm", "; ".join(p.regions), "; ".join(p.clients), "", p)


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Breach impact {{ d.breach_id }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
td.n{text-align:right}</style></head><body>
<h1>Breach impact {{ d.breach_id }}</h1>
<p>Tables <b>{{ d.query.tables|join(", ") }}</b> in regions {{ d.query.regions|join(", ") }},
from {{ d.query.since }} to {{ d.query.until }} (exclusive). Generated {{ d.generated_at }}.</p>
<p><b>{{ c.people }}</b> people affected: {{ c.client_people }} in the data of
{{ c.clients_affected }} Client(s), who notify them as controllers (iNextCRM is processor), and
{{ c.inextcrm_people }} of iNextCRM's own ({{ c.inextcrm_users }} Users), whom iNextCRM notifies.
{{ c.not_contactable }} have no e-mail address or phone on record.</p>
<h2>Per Client</h2>
<table><tr><th>region</th><th>Client</th><th>id</th><th>notify at</th><th>people</th>
<th>rows per table</th></tr>
{% for cl in clients %}<tr><td>{{ cl.region }}</td><td>{{ cl.name or "(unknown)" }}</td>
<td>{{ cl.client_id or "(no tenant)" }}</td><td>{{ cl.contact or "" }}</td>
<td class="n">{{ cl.people_count }}</td>
<td>{% for t, n in cl.rows.items() %}{{ t }} {{ n }}{% if not loop.last %}, {% endif %}
{% endfor %}</td></tr>
{% endfor %}</table>
<h2>Rows in the window, per region and table</h2>
<table><tr><th>region</th><th>table</th><th>rows</th><th>people</th></tr>
{% for region, tables in c.rows.items() %}{% for t, n in tables.items() %}
<tr><td>{{ region }}</td><td>{{ t }}</td><td class="n">{{ n }}</td>
<td class="n">{{ c.people_per_table.get(region, {}).get(t, 0) }}</td></tr>
{% endfor %}{% endfor %}</table>
<h2>What this report cannot see</h2>
<ul>{% for note in d.limitations %}<li>{{ note }}</li>{% endfor %}</ul>
<p>The people themselves are listed in report.json and affected.csv beside this file.</p>
</body></html>
"""


def _open_private(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _write_chunks(path: Path, chunks: Iterable[str]) -> str:
    digest = hashlib.sha256()
    with _open_private(path) as fh:
        for chunk in chunks:
            data = chunk.encode("utf-8")
            digest.update(data)
            fh.write(data)
    return digest.hexdigest()


def _csv_chunks(impact: BreachImpact) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for line in _csv_lines(impact):
        # Phones are E.164 (a "+" and digits only): nothing a spreadsheet would run.
        writer.writerow({k: v if k == "phones" else _cell(v) for k, v in line.items()})
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_report(impact: BreachImpact, folder: Path) -> ReportFiles:
    """Write the three files into ``folder`` (created owner-only); refuses to overwrite a report."""
    folder = Path(folder)
    if (folder / REPORT_JSON).exists():
        raise FileExistsError(f"{folder} already holds a breach report; choose another folder")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    json_sha = _write_chunks(folder / REPORT_JSON, _json_chunks(impact))
    csv_sha = _write_chunks(folder / REPORT_CSV, _csv_chunks(impact))
    head = _head(impact)
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    html = env.from_string(_HTML).render(
        d=head, c=head["counts"], clients=[_client_head(c) for c in impact.clients]
    )
    html_sha = _write_chunks(folder / REPORT_HTML, [html])
    return ReportFiles(folder, folder / REPORT_JSON, json_sha, csv_sha, html_sha)


def default_folder(store_dir: Path, breach_id: str) -> Path:
    return Path(store_dir) / "breach" / breach_id
