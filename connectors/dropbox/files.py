"""Dropbox: the files iNextCRM synced into a Client's Dropbox — find, export, erase, verify.

Imports are absolute, so ``connectors.dropbox`` never shadows the ``dropbox`` SDK, which is
imported lazily; before the first connector is built in a process that must reach a stand-in, call
``configure_dropbox_hosts`` (see ``connectors.dropbox.sdk`` for why and for the retry bounds).

**What is the person's.** Only the CRM sync folder (``sync_root``, default ``/iNextCRM``) is read or
touched; the rest of the Client's Dropbox is the Client's own. The CRM keeps a contact's files in
``<sync_root>/contacts/<e-mail>/`` and other synced files elsewhere below the root. A file is the
person's when a folder on its path, its file name (without extension) or its text names one of
their e-mails or phone numbers — matched like the CRM matches free text (``MentionMatcher``), so
``Maria.Jensen@Example.org`` is hers and ``anna.maria.jensen@…`` is not. A folder whose own name
carries their e-mail is theirs too (its name is personal data). A file naming them only by name is
a ``Mention``: a namesake may own it, so it is reported, never erased.

**Where candidates come from.** A recursive ``files/list_folder`` of the sync root (paths: complete
by construction) and ``files/search_v2`` for each e-mail and full name (text content; Dropbox says
search may omit results, so it is never the only source for paths). Candidates are downloaded in a
bounded thread pool and confirmed; a content hit in a file that is not text cannot be confirmed
and is reported in ``skipped_tables``, not dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.base import EMAIL, NAME, PHONE, Findings, FoundRow, Identity, Mention, RowRef
from connectors.dropbox.sdk import DropboxApi, configure_dropbox_hosts
from connectors.free_text import MentionMatcher, name_tokens
from connectors.identities import normalise_email
from connectors.services import (
    ServiceAccount,
    ServiceErasure,
    ServiceError,
    ServiceVerification,
)

SYSTEM = "dropbox"
_EXCERPT = 40
_STRONG = (EMAIL, PHONE)
Hit = tuple[Identity, int, int]

__all__ = ["SYSTEM", "DropboxConnector", "configure_dropbox_hosts"]


class DropboxConnector:
    """One connected Dropbox account of one Client (a row of the CRM's integrations table)."""

    system = SYSTEM

    def __init__(
        self,
        account: ServiceAccount,
        token: str,
        *,
        ca_file: str | None,
        sync_root: str = "/iNextCRM",
        max_retries_on_error: int = 3,
        max_retries_on_rate_limit: int = 3,
        timeout: float = 10.0,
        concurrency: int = 4,
        retry_wait: float = 0.5,
    ) -> None:
        self.account = account
        self.api = DropboxApi(
            account,
            token,
            ca_file=ca_file,
            sync_root=sync_root,
            max_retries_on_error=max_retries_on_error,
            max_retries_on_rate_limit=max_retries_on_rate_limit,
            timeout=timeout,
            concurrency=concurrency,
            retry_wait=retry_wait,
        )
        self.sync_root = self.api.sync_root
        self._files = self.api.files

    # -- protocol ----------------------------------------------------------------------------

    def find(self, identities: set[Identity]) -> Findings:
        matcher, queries = _prepare(identities, self.account.phone_country)
        findings = Findings(SYSTEM, self.account.region, subject="",
                            searched_tables=["files", "folders"])  # fmt: skip
        if not matcher:
            return findings
        candidates: dict[str, Any] = {}
        content_hits: set[str] = set()
        for entry in self.api.list(self.sync_root, missing_ok=False):
            if self._path_hits(matcher, entry):
                candidates[entry.id] = entry
        for query in queries:
            for entry, in_content in self.api.search(query):
                candidates.setdefault(entry.id, entry)
                if in_content:
                    content_hits.add(entry.id)
        files = [e for e in candidates.values() if isinstance(e, self._files.FileMetadata)]
        downloads = self.api.parallel(self.api.download, [e.id for e in files])
        unconfirmed = 0
        for entry in candidates.values():
            if isinstance(entry, self._files.FolderMetadata):
                self._classify(findings, matcher, entry, None)
        for got in downloads:
            if got is None:
                continue  # deleted since it was listed: nothing left to export or erase
            meta, content = got
            found = self._classify(findings, matcher, meta, content)
            if not found and meta.id in content_hits and not _is_text(content):
                unconfirmed += 1
        findings.rows.sort(key=lambda r: (r.ref.table, r.data["path"].lower()))
        if unconfirmed:
            findings.skipped_tables["files (binary content)"] = (
                f"{unconfirmed} search hit(s) in content that is not text could not be confirmed "
                "as this person's; review them in the Client's Dropbox"
            )
        return findings

    def erase(self, findings: Findings, identities: set[Identity]) -> ServiceErasure:
        if findings.system != SYSTEM:
            raise ValueError(f"these findings are from {findings.system!r}, not dropbox")
        files = [r for r in findings.rows if r.ref.table == "files"]
        folders = [r for r in findings.rows if r.ref.table == "folders"]
        if any(not self.api.inside(r.data["path"]) for r in files + folders):
            raise ServiceError(f"{self.api.who}: refusing to erase outside {self.sync_root}")
        done = self.api.parallel(self.api.delete, [r.ref.pk for r in files])
        applied = {
            "files": {"deleted": sum(done), "already_gone": len(done) - sum(done)},
            "folders": {"deleted": 0, "already_gone": 0, "kept_not_empty": 0},
        }
        # Deepest first, and only when empty: every file erased was found (and exported) first; a
        # file that arrived since keeps its folder and shows up in verify.
        for row in sorted(folders, key=lambda r: -r.data["path"].count("/")):
            if any(isinstance(e, self._files.FileMetadata) for e in self.api.list(row.ref.pk)):
                applied["folders"]["kept_not_empty"] += 1
            else:
                gone = self.api.delete(row.ref.pk)
                applied["folders"]["deleted" if gone else "already_gone"] += 1
        return ServiceErasure(SYSTEM, self.account.label, applied)

    def verify(self, identities: set[Identity]) -> ServiceVerification:
        found = self.find(identities)
        remaining = {"files": 0, "folders": 0, **found.row_counts()}
        return ServiceVerification(ok=not found.rows, remaining=remaining)

    # -- attribution -------------------------------------------------------------------------

    def _path_hits(self, matcher: MentionMatcher, entry: Any) -> list[Hit]:
        """Hits in the folders of the path below the sync root and in the name sans extension."""
        parts = entry.path_display[len(self.sync_root) + 1 :].split("/")
        if isinstance(entry, self._files.FileMetadata) and "." in parts[-1].lstrip("."):
            parts[-1] = parts[-1].rsplit(".", 1)[0]
        return [hit for part in parts for hit in matcher.find(part)]

    def _classify(
        self, findings: Findings, matcher: MentionMatcher, meta: Any, content: bytes | None
    ) -> bool:
        """Add ``meta`` as the person's row or as a name mention; False when it is neither."""
        path_hits = self._path_hits(matcher, meta)
        text = _decode(content) if content is not None else ""
        text_hits = matcher.find(text)
        kinds = {h[0].kind for h in path_hits + text_hits}
        strong = sorted(kinds & set(_STRONG))
        is_file = content is not None
        ref = RowRef(self.account.region, "files" if is_file else "folders", meta.id)
        if strong and (is_file or any(h[0].kind in _STRONG for h in matcher.find(meta.name))):
            data: dict[str, Any] = {"path": meta.path_display, "name": meta.name}
            if is_file:
                modified = meta.server_modified.strftime("%Y-%m-%dT%H:%M:%SZ")
                data |= {"size": meta.size, "rev": meta.rev, "server_modified": modified}
                data |= {"content": content, "filename": meta.name}
            data["matched_in"] = [w for w, h in (("path", path_hits), ("content", text_hits)) if h]
            findings.rows.append(FoundRow(ref, f"identity:{strong[0]}", data))
            return True
        if NAME in kinds:
            if text_hits:
                findings.mentions.append(_mention(ref, "content", text, text_hits))
            else:
                path = meta.path_display
                findings.mentions.append(_mention(ref, "path", path, matcher.find(path)))
            return True
        return False


def _prepare(
    identities: Iterable[Identity], phone_country: str
) -> tuple[MentionMatcher, list[str]]:
    """The matcher and the search queries: e-mails (normalised) and full names (≥ 2 words)."""
    usable = set()
    for ident in identities:
        if ident.kind == EMAIL:
            usable.add(Identity(EMAIL, normalise_email(ident.value)))
        elif ident.kind in (PHONE, NAME):
            usable.add(ident)
    queries = sorted(i.value for i in usable if i.kind == EMAIL)
    # A lone first name would match half the Client's files: names are searched in full only.
    queries += sorted(i.value for i in usable if i.kind == NAME and len(name_tokens(i.value)) > 1)
    return MentionMatcher(usable, phone_country), queries


def _decode(content: bytes) -> str:
    # latin-1 never fails: the ASCII runs of a PDF or an office file can still be matched.
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("latin-1")


def _is_text(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in content


def _mention(ref: RowRef, column: str, text: str, hits: list[Hit]) -> Mention:
    if not hits:  # the name was split across path parts: the whole path is the excerpt
        return Mention(ref, column, (NAME,), (), text)
    start, end = max(0, hits[0][1] - _EXCERPT), min(len(text), hits[-1][2] + _EXCERPT)
    excerpt = ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
    spans = tuple((h[1], h[2]) for h in hits)
    return Mention(ref, column, tuple(sorted({h[0].kind for h in hits})), spans, excerpt)
