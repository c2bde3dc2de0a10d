"""Route and validate stand-in requests against the discovery documents the client library ships.

The Google stand-in must not drift from the real API: every request is mapped to a method id by
the method's ``flatPath`` (or ``path``) template, and its query parameters are checked against the
same document ``googleapiclient`` validates calls with — unknown names, missing required ones,
bad enum values, integers and booleans are refused with the error JSON Google sends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from googleapiclient.discovery_cache import get_static_doc
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    410: "NOT_FOUND",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
}
_REASON = {
    400: "badRequest",
    401: "authError",
    404: "notFound",
    410: "deleted",
    501: "notImplemented",
}


def google_error(code: int, message: str, *, reason: str = "", location: str = "") -> Response:
    """An error in the shape Google's JSON APIs answer with (``error.errors[].reason``)."""
    detail: dict[str, str] = {
        "message": message,
        "domain": "global",
        "reason": reason or _REASON.get(code, "backendError"),
    }
    if location:
        detail.update(location=location, locationType="parameter")
    body = {
        "error": {
            "code": code,
            "message": message,
            "errors": [detail],
            "status": _STATUS.get(code, "UNKNOWN"),
        }
    }
    response = Response(json.dumps(body), status=code, content_type="application/json")
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return response


class RequestRejected(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _template_regex(template: str, literal_colon: bool) -> re.Pattern[str]:
    parts = re.split(r"(\{\+?[^}]+\})", template)
    out = []
    for part in parts:
        if part.startswith("{+"):
            out.append(f"(?P<{_group(part[2:-1])}>.+)")
        elif part.startswith("{"):
            # A simple segment stops at "/" and, before a ":verb" suffix, at ":".
            stop = "/:" if literal_colon else "/"
            out.append(f"(?P<{_group(part[1:-1])}>[^{stop}]+)")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


@dataclass
class Method:
    id: str
    http_method: str
    doc: dict[str, Any]
    route: re.Pattern[str]  # from flatPath: decides which method a request is
    params_path: re.Pattern[str]  # from path: yields the parameters by their real names
    literal_length: int
    request_schema: str | None
    path_names: dict[str, str] = field(default_factory=dict)


class Discovery:
    """One API's methods, routed by template, with the document's parameter rules."""

    def __init__(self, api: str, version: str) -> None:
        self.doc: dict[str, Any] = json.loads(get_static_doc(api, version))
        self.global_params: dict[str, Any] = self.doc.get("parameters", {})
        self.methods: list[Method] = []
        self._collect(self.doc.get("resources", {}))
        # The most literal template wins: "files/generateIds" before "files/{fileId}".
        self.methods.sort(key=lambda m: -m.literal_length)

    def _collect(self, resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for doc in resource.get("methods", {}).values():
                flat = doc.get("flatPath") or doc["path"]
                colon = ":" in flat
                path_names = {_group(n): n for n in re.findall(r"\{\+?([^}]+)\}", doc["path"])}
                self.methods.append(
                    Method(
                        id=doc["id"],
                        http_method=doc["httpMethod"],
                        doc=doc,
                        route=_template_regex(flat, colon),
                        params_path=_template_regex(doc["path"], colon),
                        literal_length=len(re.sub(r"\{[^}]+\}", "", flat)),
                        request_schema=(doc.get("request") or {}).get("$ref"),
                        path_names=path_names,
                    )
                )
            self._collect(resource.get("resources", {}))

    def route(self, http_method: str, path: str) -> tuple[Method, dict[str, str]]:
        """The method a request is and its path parameters; 404/405 as Google answers."""
        allowed = False
        for method in self.methods:
            if not method.route.fullmatch(path):
                continue
            allowed = True
            if method.http_method != http_method:
                continue
            match = method.params_path.fullmatch(path)
            values = match.groupdict() if match else {}
            return method, {method.path_names[k]: v for k, v in values.items()}
        if allowed:
            raise RequestRejected(google_error(405, f"Method {http_method} not allowed"))
        raise RequestRejected(google_error(404, f"No such method: {path}"))

    def validate(self, method: Method, path_params: dict[str, str], query: MultiDict) -> None:
        params = method.doc.get("parameters", {})
        for name, value in path_params.items():
            pattern = params.get(name, {}).get("pattern")
            if pattern and not re.search(pattern, value):
                raise RequestRejected(_invalid(name, f"must match {pattern}"))
        for name in query:
            spec = params.get(name) or self.global_params.get(name)
            if spec is None or spec.get("location") != "query":
                message = (
                    f'Invalid JSON payload received. Unknown name "{name}": '
                    f"Cannot bind query parameter. Field '{name}' could not be found in request "
                    "message."
                )
                raise RequestRejected(google_error(400, message, reason="invalid", location=name))
            values = query.getlist(name)
            if len(values) > 1 and not spec.get("repeated"):
                raise RequestRejected(_invalid(name, "is not repeated"))
            for value in values:
                _check_value(name, spec, value)
        for name, spec in params.items():
            if spec.get("required") and spec.get("location") == "query" and name not in query:
                raise RequestRejected(
                    google_error(400, f"Required parameter: {name}", reason="required")
                )

    def validate_body(self, method: Method, body: bytes) -> dict[str, Any] | None:
        if method.request_schema is None:
            return None
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise RequestRejected(google_error(400, "Invalid JSON payload received.")) from None
        if not isinstance(data, dict):
            raise RequestRejected(google_error(400, "Invalid JSON payload received."))
        known = self.doc["schemas"][method.request_schema].get("properties", {})
        for key in data:
            if key not in known:
                message = f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
                raise RequestRejected(google_error(400, message, reason="invalid"))
        return data


def _invalid(name: str, why: str) -> RequestRejected:
    return RequestRejected(
        google_error(400, f"Invalid value for {name}: {why}", reason="invalid", location=name)
    )


def _check_value(name: str, spec: dict[str, Any], value: str) -> None:
    kind = spec.get("type")
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        raise _invalid(name, "not an integer")
    if kind == "boolean" and value not in ("true", "false"):
        raise _invalid(name, "not a boolean")
    if spec.get("enum") and value not in spec["enum"]:
        raise _invalid(name, "not one of the allowed values")
    if spec.get("pattern") and not re.search(spec["pattern"], value):
        raise _invalid(name, f"must match {spec['pattern']}")
