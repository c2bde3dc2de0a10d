"""A Dropbox stand-in: the API v2 routes the connector uses, over TLS, with an in-memory tree.

It speaks the wire rules the official SDK enforces (see ``shared/notes/integrated-services.md``):
every call is a POST, RPC bodies and answers are ``application/json`` exactly, downloads take their
argument in ``Dropbox-API-Arg`` and answer metadata in ``Dropbox-API-Result``, route errors are 409
with ``error_summary`` and a tagged ``error``, a wrong token is 401, revs are ≥ 9 hex digits, and
paths compare case-insensitively. Listings and searches page with a small page size. Faults come
from ``standins.server``. It must not import ``dropbox``: the SDK fixes its hosts at import.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from standins.server import Fault, StandInServer
from standins.tls import LocalCA

DEMO_TOKEN = "standin-dropbox-fabrikam"
_LIST_ARGS = {"path", "recursive", "include_media_info", "include_deleted", "limit", "shared_link",
              "include_has_explicit_shared_members", "include_mounted_folders",
              "include_property_groups", "include_non_downloadable_files",
              "include_restorable_info"}  # fmt: skip
_SEARCH_OPTIONS = {"path", "max_results", "order_by", "file_status", "filename_only",
                   "file_extensions", "file_categories", "account_id"}  # fmt: skip
_NOT_FOUND = {".tag": "not_found"}


@dataclass
class Entry:
    """One file or folder; ``path`` keeps the display case, lookups use its lower case."""

    path: str
    id: str
    folder: bool
    content: bytes = b""
    rev: str = ""
    server_modified: str = ""

    def metadata(self) -> dict[str, Any]:
        base = {"name": self.path.rsplit("/", 1)[-1], "id": self.id,
                "path_lower": self.path.lower(), "path_display": self.path}  # fmt: skip
        if self.folder:
            return {".tag": "folder", **base}
        return {".tag": "file", **base, "client_modified": self.server_modified,
                "server_modified": self.server_modified, "rev": self.rev,
                "size": len(self.content), "is_downloadable": True}  # fmt: skip


class _RouteError(Exception):
    def __init__(self, summary: str, error: dict[str, Any]) -> None:
        self.summary, self.error = summary, error


def rate_limited(retry_after: int, times: int = 1, path_contains: str = "") -> Fault:
    """A 429 as Dropbox sends it, ``retry_after`` (whole seconds) in the body and the header."""
    error = {"reason": {".tag": "too_many_requests"}, "retry_after": retry_after}
    body = {"error_summary": "too_many_requests/", "error": error}
    return Fault(status=429, retry_after=retry_after, times=times, path_contains=path_contains,
                 body=json.dumps(body).encode())  # fmt: skip


class DropboxStandIn:
    """One Dropbox account on 127.0.0.1 over TLS: seed with ``put``, inspect with ``paths``."""

    def __init__(self, *, token: str = DEMO_TOKEN, page_size: int = 3, port: int = 0,
                 ca_folder: Path | None = None) -> None:  # fmt: skip
        self.token = token
        self.token_expired = False
        self.page_size = page_size
        self.ca = LocalCA(ca_folder)
        self.server = StandInServer(self._handle, port=port, ssl_context=self.ca.server_context())
        self._tree: dict[str, Entry] = {}
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._lock = threading.RLock()
        self._routes = {
            "/2/files/list_folder": self._list_folder,
            "/2/files/list_folder/continue": self._continue_listing,
            "/2/files/search_v2": self._search,
            "/2/files/search/continue_v2": self._continue_search,
            "/2/files/delete_v2": self._delete,
            "/2/files/download": self._download,
        }

    # -- lifecycle and inspection ------------------------------------------------------------

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def ca_file(self) -> str:
        return str(self.ca.ca_file)

    def start(self) -> DropboxStandIn:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self.ca.cleanup()

    def __enter__(self) -> DropboxStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Empty the tree; forget faults, recorded requests and the concurrency high-water mark."""
        with self._lock:
            self._tree.clear()
            self._cursors.clear()
        self.token_expired = False
        self.server.faults.clear()
        self.server.requests.clear()
        self.server.max_concurrent = 0

    def put(self, path: str, content: bytes, *, server_modified: str | None = None) -> Entry:
        """Write a file (parents are created); overwriting keeps the id and gives a new rev."""
        if not path.startswith("/") or path.endswith("/"):
            raise ValueError("a file path starts with '/' and names a file")
        with self._lock:
            self._mkdirs(path.rsplit("/", 1)[0])
            old = self._tree.get(path.lower())
            if old is not None and old.folder:
                raise ValueError("a folder is in the way")
            stamp = server_modified or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            entry = Entry(path, old.id if old else _new_id(), False, content,
                          secrets.token_hex(8), stamp)  # fmt: skip
            self._tree[path.lower()] = entry
            return entry

    def get(self, path: str) -> Entry | None:
        return self._tree.get(path.lower())

    def paths(self, *, folders: bool = False) -> list[str]:
        with self._lock:
            return sorted(e.path for e in self._tree.values() if folders or not e.folder)

    def count(self, route: str) -> int:
        """How many requests reached ``route`` (e.g. "files/download"), faults included."""
        return sum(1 for _, path in self.server.requests if path == f"/2/{route}")

    def _mkdirs(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            sub = "/" + "/".join(parts[:i])
            if sub.lower() not in self._tree:
                self._tree[sub.lower()] = Entry(sub, _new_id(), True)
            elif not self._tree[sub.lower()].folder:
                raise ValueError("a file is in the way")

    # -- wire --------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        if request.method != "POST":
            return _plain(405, "Use POST")
        route = self._routes.get(request.path)
        if route is None:
            return _plain(400, f"Unknown API function: {request.path!r}")
        wrong = request.headers.get("Authorization") != f"Bearer {self.token}"
        if wrong or self.token_expired:
            tag = "invalid_access_token" if wrong else "expired_access_token"
            return _json(401, {"error_summary": f"{tag}/", "error": {".tag": tag}})
        try:
            if request.path == "/2/files/download":
                arg = json.loads(request.headers.get("Dropbox-API-Arg", ""))
            elif request.headers.get("Content-Type") != "application/json":
                return _plain(400, 'Bad HTTP "Content-Type" header: expected "application/json"')
            else:
                arg = json.loads(request.get_data() or b"null")
            with self._lock:
                return route(arg if isinstance(arg, dict) else {"": arg})
        except (ValueError, KeyError, TypeError) as exc:
            # Field names and parse positions only: the values may be identities.
            return _plain(400, f"Error in call to API function: {type(exc).__name__} {exc}")
        except _RouteError as exc:
            return _json(409, {"error_summary": exc.summary, "error": exc.error})

    def _lookup(self, path: str, tag: str = "path") -> Entry:
        if path.startswith("id:"):
            entry = next((e for e in self._tree.values() if e.id == path), None)
        else:
            entry = self._tree.get(path.lower())
        if entry is None:
            raise _RouteError(f"{tag}/not_found/", {".tag": tag, tag: _NOT_FOUND})
        return entry

    def _under(self, path: str, recursive: bool = True) -> list[Entry]:
        """Entries below a folder path ("" is the root), in path order."""
        prefix = "" if path == "" else self._lookup(path).path.lower()
        if prefix and not self._tree[prefix].folder:
            raise _RouteError("path/not_folder/", {".tag": "path", "path": {".tag": "not_folder"}})
        found = [
            e for key, e in self._tree.items()
            if key.startswith(prefix + "/") and (recursive or "/" not in key[len(prefix) + 1 :])
        ]  # fmt: skip
        return sorted(found, key=lambda e: e.path.lower())

    def _page(self, items: list[dict[str, Any]], start: int, limit: int, key: str) -> Response:
        end = start + max(1, min(limit, self.page_size))
        cursor = secrets.token_urlsafe(12)
        self._cursors[cursor] = (items, end)
        body: dict[str, Any] = {key: items[start:end], "has_more": end < len(items)}
        if key == "entries" or end < len(items):
            body["cursor"] = cursor
        return _json(200, body)

    def _cursor(self, arg: dict[str, Any], error: dict[str, Any]) -> tuple[list, int]:
        _only(arg, {"cursor"})
        if arg["cursor"] not in self._cursors:
            raise _RouteError(f"{error['.tag']}/", error)
        return self._cursors.pop(arg["cursor"])

    # -- routes ------------------------------------------------------------------------------

    def _list_folder(self, arg: dict[str, Any]) -> Response:
        _only(arg, _LIST_ARGS)
        entries = [e.metadata() for e in self._under(arg["path"], bool(arg.get("recursive")))]
        return self._page(entries, 0, int(arg.get("limit") or 2000), "entries")

    def _continue_listing(self, arg: dict[str, Any]) -> Response:
        items, start = self._cursor(arg, {".tag": "reset"})
        return self._page(items, start, 2000, "entries")

    def _search(self, arg: dict[str, Any]) -> Response:
        _only(arg, {"query", "options", "match_field_options", "include_highlights"})
        options = arg.get("options") or {}
        _only(options, _SEARCH_OPTIONS)
        query = str(arg["query"]).strip().lower()
        if not query:
            raise ValueError("empty query")
        status = (options.get("file_status") or {".tag": "active"})[".tag"]
        names_only = bool(options.get("filename_only"))
        matches = []
        for entry in self._under(options.get("path") or "") if status == "active" else []:
            in_name = query in entry.path.rsplit("/", 1)[-1].lower()
            # latin-1 always decodes: the ASCII runs of a binary file are searchable, as at Dropbox.
            in_text = not names_only and query in entry.content.decode("latin-1").lower()
            if in_name or in_text:
                both = "filename_and_content" if in_text else "filename"
                tag = both if in_name else "file_content"
                matches.append({"metadata": {".tag": "metadata", "metadata": entry.metadata()},
                                "match_type": {".tag": tag}})  # fmt: skip
        return self._page(matches, 0, int(options.get("max_results") or 100), "matches")

    def _continue_search(self, arg: dict[str, Any]) -> Response:
        items, start = self._cursor(arg, {".tag": "other"})
        return self._page(items, start, 1000, "matches")

    def _delete(self, arg: dict[str, Any]) -> Response:
        _only(arg, {"path"})  # parent_rev is not served: the connector deletes what it found
        entry = self._lookup(arg["path"], "path_lookup")
        key = entry.path.lower()
        for k in [k for k in self._tree if k == key or k.startswith(key + "/")]:
            del self._tree[k]
        return _json(200, {"metadata": entry.metadata()})

    def _download(self, arg: dict[str, Any]) -> Response:
        _only(arg, {"path", "rev"})
        entry = self._lookup(arg["path"])
        if entry.folder:
            raise _RouteError("path/not_file/", {".tag": "path", "path": {".tag": "not_file"}})
        response = Response(entry.content, status=200, content_type="application/octet-stream")
        # ASCII-escaped like Dropbox's own header: header values cannot carry raw UTF-8.
        response.headers["Dropbox-API-Result"] = json.dumps(entry.metadata(), ensure_ascii=True)
        return response


def _only(arg: dict[str, Any], allowed: set[str]) -> None:
    """Reject fields the route does not define, so a drifting client is caught here."""
    unknown = set(arg) - allowed
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")


def _new_id() -> str:
    return "id:" + secrets.token_urlsafe(16)


def _json(status: int, body: dict[str, Any]) -> Response:
    # Exactly "application/json": the SDK asserts the header verbatim, so no charset suffix.
    response = Response(json.dumps(body), status=status)
    response.headers["Content-Type"] = "application/json"
    return response


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")
