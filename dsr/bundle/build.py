"""Assemble the access/portability bundle: the person's data, an Art. 15 summary, a signed manifest.

The ZIP is a pure function of its inputs (sorted entries, timestamps fixed to ``generated_at``,
Ed25519 signatures are deterministic), so building twice gives the same bytes and the bundle's
SHA-256 can stand for its content in the ledger and in asset metadata.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.base import Findings, FoundRow, Mention
from connectors.crm.datamap import DataMap, FileColumns, TableMap
from dsr.bundle.manifest import (
    FORMAT,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    canonical_json,
    csv_bytes,
    data_json,
    file_entry,
    iso,
    json_value,
    safe_name,
    signature_envelope,
    text,
    write_zip_atomically,
)
from dsr.bundle.request import BundleRequest
from dsr.bundle.summary import MAX_EXCERPTS, SystemExport, TableExport, render_summary
from dsr.keys import KeyRing
from dsr.times import utc

SUMMARY_NAME = "summary.html"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_INTEGER = re.compile(r"^-?[0-9]+$")
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+")


@dataclass(frozen=True)
class BundleResult:
    path: Path
    sha256: str
    files: int  # entries in the ZIP, manifest.json and manifest.sig included
    rows_per_system: dict[str, int]  # "crm:us" -> rows exported
    mentions_per_system: dict[str, int]


def _unused(path: str, entries: Mapping[str, bytes]) -> str:
    if path not in entries:
        return path
    head, dot, ext = path.rpartition(".")
    if not dot or "/" in ext:
        head, ext = path, ""
    n = 2
    while (candidate := f"{head}~{n}{'.' + ext if ext else ''}") in entries:
        n += 1
    return candidate


def _pk_key(pk: str) -> tuple[int, int, str]:
    return (0, int(pk), pk) if _INTEGER.match(pk) else (1, 0, pk)


def _scrub(reason: object) -> str:
    return _EMAIL.sub("[e-mail address removed]", str(reason)).replace("@", "(at)")


# Integrated-service connectors carry a file's bytes as "content" beside its "filename".
SERVICE_FILES = FileColumns(content="content", filename="filename")


def _export_row(
    row: FoundRow, tmap: TableMap | None, files_dir: str, entries: dict[str, bytes]
) -> tuple[dict[str, Any], int]:
    """The row as JSON-safe values; bytes go to their own file and the row names its path."""
    out: dict[str, Any] = {}
    written = 0
    spec = tmap.files if tmap else SERVICE_FILES
    for column, value in row.data.items():
        is_content = spec is not None and column == spec.content
        if is_content and isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, bytes | bytearray | memoryview):
            label = (
                safe_name(row.data.get(spec.filename), "file")
                if spec is not None and is_content
                else safe_name(column, "value", basename=False) + ".bin"
            )
            path = _unused(
                f"{files_dir}/{safe_name(row.ref.pk, 'row', basename=False)}_{label}", entries
            )
            entries[path] = bytes(value)
            out[str(column)] = path
            written += 1
        else:
            out[str(column)] = json_value(value)
    return out, written


def _mention_json(m: Mention) -> dict[str, Any]:
    return {
        "table": m.ref.table,
        "pk": m.ref.pk,
        "column": m.column,
        "kinds": sorted(set(m.kinds)),
        "excerpt": m.excerpt,
    }


def _merge(findings: Sequence[Findings]) -> list[Findings]:
    """One Findings per (system, region): a region searched in two steps is still one place."""
    merged: dict[tuple[str, str], Findings] = {}
    for f in findings:
        into = merged.setdefault((f.system, f.region), Findings(f.system, f.region, subject=""))
        into.rows.extend(f.rows)
        into.mentions.extend(f.mentions)
        into.searched_tables.extend(f.searched_tables)
        into.skipped_tables.update(f.skipped_tables)
    return [merged[k] for k in sorted(merged)]


def _export_table(
    base: str,
    table: str,
    rows: list[FoundRow],
    mentions: list[Mention],
    tmap: TableMap | None,
    entries: dict[str, bytes],
) -> TableExport:
    seg = safe_name(table, "table", basename=False)
    exported, files = [], 0
    for row in rows:
        out, written = _export_row(row, tmap, f"files/{base}/{seg}", entries)
        exported.append(out)
        files += written
    json_path = csv_path = mentions_path = None
    if exported:
        json_path = _unused(f"data/{base}/{seg}.json", entries)
        entries[json_path] = data_json(exported)
        csv_path = _unused(f"data/{base}/{seg}.csv", entries)
        entries[csv_path] = csv_bytes(exported)
    if mentions:
        mentions_path = _unused(f"mentions/{base}/{seg}.json", entries)
        entries[mentions_path] = data_json([_mention_json(m) for m in mentions])
    present = frozenset(c for row in rows for c, v in row.data.items() if not _blank(v))
    return TableExport(
        table=table,
        rows=len(rows),
        mentions=len(mentions),
        files=files,
        columns_present=present,
        data_json=json_path,
        data_csv=csv_path,
        mentions_json=mentions_path,
        excerpts=tuple((m.ref.pk, m.column, m.excerpt) for m in mentions[:MAX_EXCERPTS]),
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _export_system(found: Findings, dm: DataMap | None, entries: dict[str, bytes]) -> SystemExport:
    system, region = (
        safe_name(found.system, "system", basename=False),
        safe_name(found.region, "region", basename=False),
    )
    base = f"{system}/{region}"
    rows: dict[str, dict[str, FoundRow]] = defaultdict(dict)
    for row in found.rows:
        rows[row.ref.table].setdefault(row.ref.pk, row)  # a row reached by two paths is one row
    mentions: dict[str, dict[tuple[str, str], Mention]] = defaultdict(dict)
    for m in found.mentions:
        mentions[m.ref.table].setdefault((m.ref.pk, m.column), m)
    tables = []
    for table in sorted(set(rows) | set(mentions)):
        by_pk, by_place = rows.get(table, {}), mentions.get(table, {})
        ordered_rows = [by_pk[pk] for pk in sorted(by_pk, key=_pk_key)]
        ordered_mentions = [
            by_place[k] for k in sorted(by_place, key=lambda k: (_pk_key(k[0]), k[1]))
        ]
        tmap = dm.tables.get(table) if dm else None
        tables.append(_export_table(base, table, ordered_rows, ordered_mentions, tmap, entries))
    return SystemExport(
        system=found.system,
        region=found.region,
        searched_tables=tuple(sorted(set(found.searched_tables))),
        skipped_tables=dict(sorted(found.skipped_tables.items())),
        tables=tuple(tables),
    )


def _system_manifest(sysx: SystemExport, dm: DataMap | None) -> dict[str, Any]:
    return {
        "system": sysx.system,
        "region": sysx.region,
        "datamap": dm.name if dm else None,
        "searched_tables": list(sysx.searched_tables),
        "skipped_tables": {t: _scrub(r) for t, r in sysx.skipped_tables.items()},
        "rows": {t.table: t.rows for t in sysx.tables if t.rows},
        "mentions": {t.table: t.mentions for t in sysx.tables if t.mentions},
        "files": {t.table: t.files for t in sysx.tables if t.files},
        "rows_total": sysx.rows,
        "mentions_total": sysx.mentions,
    }


def build_bundle(
    request: BundleRequest,
    findings: Sequence[Findings],
    datamaps: Mapping[str, DataMap],
    keys: KeyRing,
    out_dir: Path,
    *,
    generated_at: datetime | None = None,
    not_searched: Mapping[str, str] = {},
    backups: Sequence[Mapping[str, str]] = (),
) -> BundleResult:
    """``backups``: the snapshots that hold the person ({backup_id, region, expires_at}),
    answered from their identity indexes; nothing is restored for it."""
    if not _REQUEST_ID.fullmatch(request.request_id):
        raise ValueError(
            "request_id must be 1-128 letters, digits, '.', '_' or '-' (it names the bundle file)"
        )
    when = utc(generated_at or datetime.now(UTC)).replace(microsecond=0)
    entries: dict[str, bytes] = {}
    systems = [_export_system(f, datamaps.get(f.system), entries) for f in _merge(findings)]
    held_in = sorted(({**b} for b in backups), key=lambda b: (b["expires_at"], b["backup_id"]))
    summary = render_summary(request, systems, datamaps, not_searched, when, held_in)
    entries[SUMMARY_NAME] = summary.encode("utf-8")
    searched: dict[str, list[str]] = defaultdict(list)
    for sysx in systems:
        searched[sysx.system].append(sysx.region)
    manifest = {
        "format": FORMAT,
        "request": {
            "request_id": request.request_id,
            "request_type": text(request.request_type),
            "scope": text(request.scope),
            "client_id": request.client_id,
            "received_at": iso(request.received_at),
            "due_at": iso(request.due_at),
        },
        "generated_at": iso(when),
        "searched": {s: sorted(set(regions)) for s, regions in searched.items()},
        "systems": [_system_manifest(s, datamaps.get(s.system)) for s in systems],
        "not_searched": {str(s): _scrub(r) for s, r in not_searched.items()},
        "backups": held_in,
        "rows_per_system": {s.key: s.rows for s in systems},
        "mentions_per_system": {s.key: s.mentions for s in systems},
        "files": {name: file_entry(data) for name, data in entries.items()},
    }
    manifest_bytes = canonical_json(manifest)
    if b"@" in manifest_bytes:
        # Only a system, region, table or client id could carry it here; refuse rather than
        # publish a manifest that may hold an e-mail address.
        raise ValueError("the bundle manifest would contain '@'; check system and client ids")
    entries[MANIFEST_NAME] = manifest_bytes
    entries[SIGNATURE_NAME] = signature_envelope(keys, manifest_bytes)
    path = Path(out_dir) / f"{request.request_id}.zip"
    sha256 = write_zip_atomically(path, entries, when)
    return BundleResult(
        path=path,
        sha256=sha256,
        files=len(entries),
        rows_per_system=dict(manifest["rows_per_system"]),
        mentions_per_system=dict(manifest["mentions_per_system"]),
    )
