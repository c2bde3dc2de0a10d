"""Writing the breach report while the query runs, so no list of everyone is ever in memory.

``ReportWriter`` is the assessment's sink: each Client's people are written as soon as they are
resolved — their CSV lines straight to ``affected.csv``, their JSON to a part file beside it —
then let go. ``finish`` writes ``report.json`` as the summary head (it needs every count, so it
comes last) followed by the part files, and ``summary.html``. Every file is created owner-only;
``abort`` removes whatever was written, and the folders it made.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from dsr.breach.model import AffectedPerson, BreachImpact, ClientImpact
from dsr.breach.report import (
    CSV_FIELDS,
    REPORT_CSV,
    REPORT_HTML,
    REPORT_JSON,
    client_chunks,
    client_csv_rows,
    head_chunks,
    inextcrm_chunks,
    inextcrm_csv_rows,
    summary_html,
)

_CLIENTS_PART, _INEXTCRM_PART = ".clients.json.part", ".inextcrm.json.part"
_BLOCK = 1 << 20


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


def default_folder(store_dir: Path, breach_id: str) -> Path:
    return Path(store_dir) / "breach" / breach_id


def _open_private(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


class ReportWriter:
    """Creates nothing until the first people arrive; refuses a folder holding a report."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        if (self.folder / REPORT_JSON).exists():
            raise FileExistsError(f"{folder} already holds a breach report; choose another folder")
        self._made: list[Path] = []  # folders this writer created, deepest first
        self._files: dict[str, IO[bytes]] = {}
        self._csv_sha = hashlib.sha256()
        self._csv_text = io.StringIO()
        self._csv = csv.DictWriter(self._csv_text, fieldnames=CSV_FIELDS)
        self._clients = 0

    def _open(self) -> None:
        if self._files:
            return
        parent = self.folder
        while not parent.exists():
            self._made.append(parent)
            parent = parent.parent
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in (_CLIENTS_PART, _INEXTCRM_PART, REPORT_CSV):
            self._files[name] = _open_private(self.folder / name)
        self._csv.writeheader()

    def client(self, client: ClientImpact, people: list[AffectedPerson]) -> None:
        self._open()
        self._write(_CLIENTS_PART, client_chunks(self._clients == 0, client, people))
        self._clients += 1
        self._csv.writerows(client_csv_rows(client, people))
        self._flush_csv()

    def inextcrm(self, rows: dict[str, int], people: list[AffectedPerson]) -> None:
        self._open()
        self._write(_INEXTCRM_PART, inextcrm_chunks(rows, people))
        self._csv.writerows(inextcrm_csv_rows(people))
        self._flush_csv()

    def finish(self, impact: BreachImpact) -> ReportFiles:
        """report.json (head, then the people written so far) and summary.html; closes all."""
        self._open()
        self._flush_csv()
        for fh in self._files.values():
            fh.close()
        digest = hashlib.sha256()
        with _open_private(self.folder / REPORT_JSON) as out:
            for chunk in head_chunks(impact):
                data = chunk.encode("utf-8")
                digest.update(data)
                out.write(data)
            for part in (_CLIENTS_PART, _INEXTCRM_PART):
                with (self.folder / part).open("rb") as fh:
                    while block := fh.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
                (self.folder / part).unlink()
        html = summary_html(impact).encode("utf-8")
        with _open_private(self.folder / REPORT_HTML) as out:
            out.write(html)
        return ReportFiles(
            self.folder,
            self.folder / REPORT_JSON,
            digest.hexdigest(),
            self._csv_sha.hexdigest(),
            hashlib.sha256(html).hexdigest(),
        )

    def move(self, files: ReportFiles, folder: Path) -> ReportFiles:
        """Move a finished report to ``folder`` (another store), leaving no folder behind."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.move(self.folder, folder)
        self._remove_made()
        self.folder, self._made = folder, []
        return replace(files, folder=folder, json_path=folder / REPORT_JSON)

    def abort(self) -> None:
        """Remove whatever this writer wrote and the folders it made."""
        for fh in self._files.values():
            fh.close()
        if self._files:
            for name in (_CLIENTS_PART, _INEXTCRM_PART, REPORT_CSV, REPORT_JSON, REPORT_HTML):
                (self.folder / name).unlink(missing_ok=True)
        self._remove_made()

    def _remove_made(self) -> None:
        for folder in self._made:
            with suppress(OSError):  # gone already, or holds someone else's report
                folder.rmdir()

    def _write(self, name: str, chunks: Iterable[str]) -> None:
        fh = self._files[name]
        for chunk in chunks:
            fh.write(chunk.encode("utf-8"))

    def _flush_csv(self) -> None:
        data = self._csv_text.getvalue().encode("utf-8")
        self._csv_text.seek(0)
        self._csv_text.truncate()
        self._csv_sha.update(data)
        self._files[REPORT_CSV].write(data)
