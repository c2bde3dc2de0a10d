"""The Google methods the stand-in implements, each answering in the real JSON wire format.

Handlers run under the stand-in's lock with a request already routed and validated against the
discovery document; what they add is the method's own semantics (masks, paging, q, If-Match,
tombstones of deleted events, Drive's export cap).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from googleapiclient.discovery_cache import get_static_doc
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from standins.google_discovery import RequestRejected, google_error
from standins.google_drive_query import QueryError, compile_query
from standins.google_state import GoogleState

_PERSON_FIELDS = set(json.loads(get_static_doc("people", "v1"))["schemas"]["Person"]["properties"])
_PERSON_FIELDS -= {"resourceName", "etag"}
_OTHER_CONTACT_FIELDS = {"emailAddresses", "metadata", "names", "phoneNumbers", "photos"}
_FILE_FIELDS = set(json.loads(get_static_doc("drive", "v3"))["schemas"]["File"]["properties"])
_ROLE_RANK = {"freeBusyReader": 0, "reader": 1, "writerWithoutPrivateAccess": 2, "writer": 2}
_ROLE_RANK["owner"] = 3
_NATIVE = "application/vnd.google-apps."


@dataclass
class Call:
    method_id: str
    path: dict[str, str]
    query: MultiDict
    body: dict[str, Any] | None
    headers: Mapping[str, str]


Handler = Callable[["GoogleState", Call], Response]
HANDLERS: dict[str, Handler] = {}


def _handles(method_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[method_id] = fn
        return fn

    return register


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _reject(code: int, message: str, reason: str = "", location: str = "") -> RequestRejected:
    return RequestRejected(google_error(code, message, reason=reason, location=location))


def _page(
    s: GoogleState, items: list[Any], call: Call, size_param: str, default: int, maximum: int
) -> tuple[list[Any], str | None]:
    size = max(1, min(int(call.query.get(size_param, default)), maximum, s.page_size))
    # Tokens name their listing ("files-p2"), so a test can fail one page of one listing.
    prefix = call.method_id.split(".")[-2] + "-p"
    token = call.query.get("pageToken")
    start = 0
    if token:
        m = re.fullmatch(re.escape(prefix) + r"(\d+)", token)
        if not m:
            raise _reject(400, "Invalid page token.", "invalid", "pageToken")
        start = int(m.group(1))
        s.pages_served[call.method_id] += 1
    end = start + size
    return items[start:end], (f"{prefix}{end}" if end < len(items) else None)


def _listing(out: dict[str, Any], token: str | None) -> Response:
    """One page of a listing: ``out``, and the next page's token when there is one."""
    if token:
        out["nextPageToken"] = token
    return _json(out)


def _mask(person: dict[str, Any], mask: str | None, allowed: set[str], what: str) -> dict:
    if not mask:
        raise _reject(400, f"{what} mask is required. Please specify one or more valid paths.")
    fields = {f.strip().removeprefix("person.") for f in mask.split(",") if f.strip()}
    if not fields or not fields <= allowed:
        raise _reject(400, f"Invalid {what} mask path.", "invalid", what)
    keep = {"resourceName", "etag", *fields}
    return {k: v for k, v in person.items() if k in keep and v}


# --- People v1 ------------------------------------------------------------------------------


@_handles("people.people.connections.list")
def _connections(s: GoogleState, call: Call) -> Response:
    if call.path["resourceName"] != "people/me":
        raise _reject(400, "Must be people/me.", "invalid", "resourceName")
    mask = call.query.get("personFields") or call.query.get("requestMask.includeField")
    people = [_mask(p, mask, _PERSON_FIELDS, "personFields") for _, p in sorted(s.contacts.items())]
    chunk, token = _page(s, people, call, "pageSize", 100, 1000)
    out: dict[str, Any] = {"connections": chunk, "totalPeople": len(people)}
    out["totalItems"] = len(people)
    return _listing(out, token)


@_handles("people.otherContacts.list")
def _other_contacts(s: GoogleState, call: Call) -> Response:
    mask = call.query.get("readMask")
    people = [
        _mask(p, mask, _OTHER_CONTACT_FIELDS, "readMask")
        for _, p in sorted(s.other_contacts.items())
    ]
    chunk, token = _page(s, people, call, "pageSize", 100, 1000)
    out: dict[str, Any] = {"otherContacts": chunk, "totalSize": len(people)}
    return _listing(out, token)


@_handles("people.people.deleteContact")
def _delete_contact(s: GoogleState, call: Call) -> Response:
    if s.contacts.pop(call.path["resourceName"], None) is None:
        raise _reject(404, "Requested entity was not found.")
    return _json({})


# --- Calendar v3 ----------------------------------------------------------------------------


def _calendar(s: GoogleState, call: Call) -> str:
    cal = call.path["calendarId"]
    cal = s.account if cal == "primary" else cal
    if cal not in s.calendars:
        raise _reject(404, "Not Found")
    return cal


def _event(s: GoogleState, call: Call) -> tuple[str, dict[str, Any]]:
    cal = _calendar(s, call)
    event = s.events[cal].get(call.path["eventId"])
    if event is None:
        raise _reject(404, "Not Found")
    return cal, event


def _searchable(event: dict[str, Any]) -> str:
    people = [event.get("organizer", {}), *event.get("attendees", [])]
    parts = [event.get(k, "") for k in ("summary", "description", "location")]
    parts += [p.get(k, "") for p in people for k in ("email", "displayName")]
    return "\n".join(parts).lower()


@_handles("calendar.calendarList.list")
def _calendar_list(s: GoogleState, call: Call) -> Response:
    least = _ROLE_RANK[call.query.get("minAccessRole", "freeBusyReader")]
    entries = [c for _, c in sorted(s.calendars.items()) if _ROLE_RANK[c["accessRole"]] >= least]
    chunk, token = _page(s, entries, call, "maxResults", 100, 250)
    out: dict[str, Any] = {"kind": "calendar#calendarList", "items": chunk}
    return _listing(out, token)


@_handles("calendar.events.list")
def _events_list(s: GoogleState, call: Call) -> Response:
    cal = _calendar(s, call)
    terms = call.query.get("q", "").lower().split()
    deleted = call.query.get("showDeleted") == "true"
    events = [
        e
        for _, e in sorted(s.events[cal].items())
        if (deleted or e.get("status") != "cancelled") and all(t in _searchable(e) for t in terms)
    ]
    chunk, token = _page(s, events, call, "maxResults", 250, 2500)
    out: dict[str, Any] = {"kind": "calendar#events", "summary": cal, "items": chunk}
    return _listing(out, token)


@_handles("calendar.events.get")
def _events_get(s: GoogleState, call: Call) -> Response:
    return _json(_event(s, call)[1])


@_handles("calendar.events.patch")
def _events_patch(s: GoogleState, call: Call) -> Response:
    _, event = _event(s, call)
    if_match = call.headers.get("If-Match")
    if if_match and if_match != event["etag"]:
        raise _reject(412, "Precondition Failed", "conditionNotMet", "If-Match")
    event.update(call.body or {})
    event["etag"] = '"' + s.new_id("2") + '"'
    s.sent_updates.append(call.query.get("sendUpdates", "unspecified"))
    return _json(event)


@_handles("calendar.events.delete")
def _events_delete(s: GoogleState, call: Call) -> Response:
    cal, event = _event(s, call)
    if event.get("status") == "cancelled":
        raise _reject(410, "Resource has been deleted", "deleted")
    # Google keeps a tombstone of a deleted event for sync clients: id and status, nothing else.
    s.events[cal][event["id"]] = {
        "kind": "calendar#event",
        "id": event["id"],
        "etag": '"' + s.new_id("3") + '"',
        "status": "cancelled",
    }
    s.sent_updates.append(call.query.get("sendUpdates", "unspecified"))
    return Response(status=204)


# --- Drive v3 -------------------------------------------------------------------------------


def _file_fields(fields: str | None, listing: bool) -> set[str]:
    if not fields:
        return {"kind", "id", "name", "mimeType"}
    if listing:
        m = re.search(r"files\(([^)]*)\)", fields)
        fields = m.group(1) if m else ""
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    wanted -= {"nextPageToken", "incompleteSearch", "kind"} if listing else set()
    unknown = wanted - _FILE_FIELDS
    if unknown:
        raise _reject(400, f"Invalid field selection {sorted(unknown)[0]}", "invalidParameter")
    return wanted


def _file(s: GoogleState, call: Call) -> dict[str, Any]:
    meta = s.files.get(call.path["fileId"])
    if meta is None:
        raise _reject(404, f"File not found: {call.path['fileId']}.", "notFound", "fileId")
    return meta


@_handles("drive.files.list")
def _files_list(s: GoogleState, call: Call) -> Response:
    try:
        match = compile_query(call.query.get("q", ""))
    except QueryError as exc:
        raise _reject(400, str(exc), "invalid", "q") from None
    keep = _file_fields(call.query.get("fields"), listing=True)
    found = [
        {k: v for k, v in f.items() if k in keep}
        for fid, f in sorted(s.files.items())
        if match(f, s.contents[fid])
    ]
    chunk, token = _page(s, found, call, "pageSize", 100, 1000)
    out: dict[str, Any] = {
        "kind": "drive#fileList",
        "incompleteSearch": s.incomplete_search,
        "files": chunk,
    }
    return _listing(out, token)


@_handles("drive.files.get")
def _files_get(s: GoogleState, call: Call) -> Response:
    meta = _file(s, call)
    if call.query.get("alt") != "media":
        keep = _file_fields(call.query.get("fields"), listing=False)
        return _json({k: v for k, v in meta.items() if k in keep})
    if meta["mimeType"].startswith(_NATIVE):
        message = (
            "Only files with binary content can be downloaded. Use Export with Docs Editors files."
        )
        raise _reject(403, message, "fileNotDownloadable", "alt")
    return Response(s.contents[meta["id"]], content_type=meta["mimeType"])


@_handles("drive.files.export")
def _files_export(s: GoogleState, call: Call) -> Response:
    meta = _file(s, call)
    if not meta["mimeType"].startswith(_NATIVE):
        raise _reject(403, "Export only supports Docs Editors files.", "fileNotExportable")
    if len(s.contents[meta["id"]]) > s.export_cap:
        raise _reject(403, "This file is too large to be exported.", "exportSizeLimitExceeded")
    return Response(s.contents[meta["id"]], content_type=call.query["mimeType"])


@_handles("drive.files.delete")
def _files_delete(s: GoogleState, call: Call) -> Response:
    meta = _file(s, call)
    del s.files[meta["id"]]
    del s.contents[meta["id"]]
    return Response(status=204)
