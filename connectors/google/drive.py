"""Google Drive v3: the files the CRM synced for the person, with their content.

Convention (the CRM's sync writes it, this connector reads it): a file synced for a CRM contact
carries private ``appProperties`` naming the contact by a hash of each identity,

    {"inextcrm_email_sha256": sha256("email:" + normalised e-mail),
     "inextcrm_phone_sha256": sha256("phone:" + E.164 phone)}

(``app_properties`` builds it). The search is then an exact ``appProperties has {...}`` query: it
never catches a file that merely mentions the person (another contact's file stays untouched) and
neither the query nor the file's metadata carries the address in clear. Trashed files are found
too: they are still held. Deletion is ``files.delete``, which skips the trash.

Google-native files (Docs, Sheets, ...) have no bytes of their own and are exported; Drive caps an
export at 10 MB, so a larger one is found with its metadata and ``content`` None, and
``content_unavailable`` says why — it is in the bundle as not exported, never silently left out.
"""

from __future__ import annotations

from typing import Any

from connectors.base import EMAIL, PHONE, FoundRow, RowRef
from connectors.google.api import ApiRefused, GoogleApi, NotFound
from connectors.google.match import SubjectMatcher, subject_hash

FILES = "files"
PROPERTY_KEYS = {EMAIL: "inextcrm_email_sha256", PHONE: "inextcrm_phone_sha256"}
FILE_FIELDS = "id,name,mimeType,size,createdTime,modifiedTime,description,trashed"
PAGE_SIZE = 1000
EXPORT_CAP = 10 * 1024 * 1024
_NATIVE = "application/vnd.google-apps."
_OOXML = "application/vnd.openxmlformats-officedocument."
EXPORTS = {
    _NATIVE + "document": (_OOXML + "wordprocessingml.document", ".docx"),
    _NATIVE + "spreadsheet": (_OOXML + "spreadsheetml.sheet", ".xlsx"),
    _NATIVE + "presentation": ("application/pdf", ".pdf"),
    _NATIVE + "drawing": ("application/pdf", ".pdf"),
}


def app_properties(*, email: str | None = None, phone: str | None = None) -> dict[str, str]:
    """The ``appProperties`` the CRM's sync sets on a file it syncs for a contact."""
    out = {}
    if email:
        out[PROPERTY_KEYS[EMAIL]] = subject_hash(EMAIL, email)
    if phone:
        out[PROPERTY_KEYS[PHONE]] = subject_hash(PHONE, phone)
    return out


def queries(match: SubjectMatcher) -> list[tuple[str, str]]:
    """(identity kind, files.list q) for each identity; hashes are hex, so no quoting needed."""
    pairs = [(EMAIL, v) for v in sorted(match.emails)] + [(PHONE, v) for v in sorted(match.phones)]
    out = []
    for kind, value in pairs:
        clause = f"key='{PROPERTY_KEYS[kind]}' and value='{subject_hash(kind, value)}'"
        out.append((kind, f"appProperties has {{ {clause} }}"))
    return out


def find_files(api: GoogleApi, kind: str, q: str, region: str) -> list[FoundRow]:
    files = api.pages(
        lambda token: api.drive.files().list(
            q=q,
            fields=f"nextPageToken,incompleteSearch,files({FILE_FIELDS})",
            pageSize=PAGE_SIZE,
            pageToken=token,
            corpora="allDrives",
            includeItemsFromAllDrives=True,
            supportsAllDrives=True,
        ),
        "files",
        "drive files.list",
    )
    return [FoundRow(RowRef(region, FILES, f["id"]), f"identity:{kind}", dict(f)) for f in files]


def add_content(api: GoogleApi, row: FoundRow) -> None:
    """Download (or export) the file's bytes into ``row.data["content"]``."""
    data: dict[str, Any] = row.data
    mime = data.get("mimeType", "")
    data["filename"] = data.get("name") or row.ref.pk
    data["content"] = None
    if not mime.startswith(_NATIVE):
        request = api.drive.files().get_media(fileId=row.ref.pk, supportsAllDrives=True)
        data["content"] = _bytes(api.execute(request, "drive files.get media"))
        return
    if mime not in EXPORTS:
        data["content_unavailable"] = "a Google-native item without content (folder, form, ...)"
        return
    target, suffix = EXPORTS[mime]
    request = api.drive.files().export_media(fileId=row.ref.pk, mimeType=target)
    try:
        data["content"] = _bytes(api.execute(request, "drive files.export"))
    except ApiRefused as exc:
        if exc.reason != "exportSizeLimitExceeded":
            raise
        data["content_unavailable"] = (
            "Drive exports Google-native files up to 10 MB; this one is larger: "
            "export it from Drive by hand"
        )
        return
    if not data["filename"].endswith(suffix):
        data["filename"] += suffix


def _bytes(body: Any) -> bytes:
    # The client hands a text body back as str; file content is always bytes to the bundle.
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def delete_file(api: GoogleApi, file_id: str) -> str:
    try:
        api.execute(
            api.drive.files().delete(fileId=file_id, supportsAllDrives=True), "drive files.delete"
        )
    except NotFound:
        return "already_absent"
    return "deleted"
