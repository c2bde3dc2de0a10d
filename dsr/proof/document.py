"""The body of a deletion proof: what was erased, kept and left pending, about whom, and when.

Whom: identities appear only as salted hashes (see ``canonical.subject``).

``check_body`` is the structural check shared by the issuer (which refuses to sign a body that
fails it) and the verifier (which reports what fails).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

from connectors.base import Identity
from dsr.bundle.request import BundleRequest
from dsr.ledger.audit import check_no_personal_data
from dsr.ledger.records import REQUEST_ID_PATTERN
from dsr.proof.canonical import (
    DEFAULT_KDF_COST,
    SALT_BYTES,
    canonical_bytes,
    kdf_problem,
    normalised,
    subject,
)

FORMAT = "inextcrm-dsr-deletion-proof/1"
ACTIONS = ("deleted", "anonymised", "redacted", "kept")
STATUSES = ("erased", "nothing_found", "pending", "failed", "not_connected")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_NAME = re.compile(r"\A[a-z][a-z0-9_.\-]{0,63}\Z")

Status = Literal["erased", "nothing_found", "pending", "failed", "not_connected"]


@dataclass(frozen=True)
class ProofRequest(BundleRequest):
    """What a proof states about its request: what a bundle does, and when it was completed
    (now, unless given; ``ProofRequest.of(record)`` builds one from the ledger's record)."""

    completed_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class SystemSection:
    system: str
    region: str
    status: Status
    counts: dict[str, dict[str, int]]  # table -> action -> rows
    kept: list[dict[str, Any]]  # {table, rows, legal_basis, until}
    verification: dict[str, Any]  # {ok, searched_identities, remaining, unexpected}
    pending: list[dict[str, Any]] = field(default_factory=list)


def _iso(when: datetime | date, what: str) -> str:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{what} must be timezone-aware")
        return when.astimezone(UTC).isoformat()
    return when.isoformat()


def _plain(value: Any, what: str) -> Any:
    """``value`` as canonical-encodable data: dates become ISO strings, enums their value."""
    if isinstance(value, datetime | date):
        return _iso(value, what)
    if isinstance(value, Enum):
        return _plain(value.value, what)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{what}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{what}[{i}]") for i, v in enumerate(value)]
    return value


def _section(s: SystemSection) -> dict[str, Any]:
    where = f"system {s.system}/{s.region}"
    return {
        "system": s.system,
        "region": s.region,
        "status": s.status,
        "counts": _plain(s.counts, f"{where} counts"),
        "kept": _plain(s.kept, f"{where} kept"),
        "verification": _plain(s.verification, f"{where} verification"),
        "pending": _plain(s.pending, f"{where} pending"),
    }


def totals(systems: Sequence[Mapping[str, Any]], pending: Sequence[Any]) -> dict[str, int]:
    result = dict.fromkeys(ACTIONS, 0)
    result.update(systems=len(systems), remaining=0, unexpected=0, pending=len(pending))
    for s in systems:
        for actions in s["counts"].values():
            for action, rows in actions.items():
                result[action] += rows
        result["remaining"] += sum(r["rows"] for r in s["verification"]["remaining"])
        result["unexpected"] += s["verification"]["unexpected"]
        result["pending"] += len(s["pending"])
    return result


def _subject(
    identities: Collection[Identity], kdf_cost: int, hashed: Mapping[str, Any] | None
) -> dict[str, Any]:
    if hashed is None:
        return subject(identities, kdf_cost)
    # A section hashed for other identities would sign a guess: its kinds must be these.
    kinds = sorted(i.kind for i in {normalised(i) for i in identities})
    if sorted(h["kind"] for h in hashed["identities"]) != kinds or hashed["kdf"]["n"] != kdf_cost:
        raise ValueError("the subject hashed ahead is not this proof's subject")
    return dict(hashed)


def build_proof(
    request: ProofRequest,
    identities: Collection[Identity],
    systems: Sequence[SystemSection],
    *,
    pending: Sequence[Mapping[str, Any]] = (),
    supersedes: str | None = None,
    kdf_cost: int = DEFAULT_KDF_COST,
    hashed_subject: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The proof body; ValueError if it is malformed or would carry personal data in clear.

    ``hashed_subject`` is ``subject(identities, kdf_cost)`` computed earlier (a batch hashes
    ahead: ``dsr.proof.subjects_ahead``); it must hash these very identities.
    """
    sections = sorted((_section(s) for s in systems), key=lambda s: (s["system"], s["region"]))
    later = _plain(list(pending), "pending")
    completed, due = _iso(request.completed_at, "completed_at"), _iso(request.due_at, "due_at")
    body: dict[str, Any] = {
        "format": FORMAT,
        "request": {
            "id": request.request_id,
            "type": _plain(request.request_type, "request_type"),
            "scope": _plain(request.scope, "scope"),
            "client_id": request.client_id,
            "received_at": _iso(request.received_at, "received_at"),
            "due_at": due,
            "completed_at": completed,
            "completed_on_time": request.completed_at <= request.due_at,
        },
        "subject": _subject(identities, kdf_cost, hashed_subject),
        "systems": sections,
        "pending": later,
        "supersedes": supersedes,
    }
    problems = check_body(body, totals_present=False)
    if problems:
        raise ValueError("the deletion proof is malformed: " + " ".join(problems))
    body["totals"] = totals(sections, later)
    return body


Check = Callable[[Any], bool]


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _date(value: Any) -> bool:
    try:
        return isinstance(value, str) and bool(datetime.fromisoformat(value))
    except ValueError:
        return False


def _fits(value: Any, shape: Mapping[str, Check]) -> bool:
    return isinstance(value, dict) and all(check(value.get(k)) for k, check in shape.items())


def _list_of(shape: Mapping[str, Check]) -> Check:
    return lambda v: isinstance(v, list) and all(_fits(x, shape) for x in v)


def _counts(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(a, dict) and all(k in ACTIONS and _count(n) for k, n in a.items())
        for a in value.values()
    )


_REQUEST = {"id": lambda v: isinstance(v, str) and bool(REQUEST_ID_PATTERN.match(v))}
_REQUEST.update(dict.fromkeys(("received_at", "due_at", "completed_at"), _date))
_REQUEST.update(type=_text, scope=_text, client_id=lambda v: v is None or _text(v))
_IDENTITY = {"kind": _text, "hash": lambda v: isinstance(v, str) and bool(_HEX64.match(v))}
_VERIFICATION = {
    "ok": lambda v: isinstance(v, bool),
    "searched_identities": _count,
    "remaining": _list_of({"table": _text, "rows": _count, "reason": _text}),
    "unexpected": _count,
}
_SECTION = {
    "system": lambda v: isinstance(v, str) and bool(_NAME.match(v)),
    "region": lambda v: isinstance(v, str) and bool(_NAME.match(v)),
    "status": lambda v: v in STATUSES,
    "counts": _counts,
    "kept": _list_of({"table": _text, "rows": _count, "legal_basis": _text}),
    "verification": lambda v: _fits(v, _VERIFICATION),
    "pending": _list_of({"what": _text}),
}
_SENTENCES = {
    "system": "the system is not a short lower-case name",
    "region": "the region is not a short lower-case name",
    "status": f"the status is not one of {', '.join(STATUSES)}",
    "counts": f"counts must map table -> {{{'/'.join(ACTIONS)}: rows}}",
    "kept": "every kept entry needs a table, rows and a legal basis",
    "verification": "verification needs ok, searched_identities, remaining "
    "[{table, rows, reason}] and unexpected",
    "pending": "every pending entry needs a 'what'",
}


def _check_request(req: Any) -> list[str]:
    if not _fits(req, _REQUEST):
        return ["The request section needs a request id of ours, type, scope and ISO-8601 dates."]
    on_time = datetime.fromisoformat(req["completed_at"]) <= datetime.fromisoformat(req["due_at"])
    if req.get("completed_on_time") is not on_time:
        return ["The request's completed_on_time does not match its dates."]
    return []


def _check_subject(subject: Any) -> list[str]:
    if not isinstance(subject, dict):
        return ["The subject section is missing."]
    problem = kdf_problem(subject.get("kdf"))
    problems = [f"The subject cannot be checked: {problem}."] if problem else []
    try:
        if len(base64.b64decode(str(subject.get("salt")), validate=True)) < SALT_BYTES:
            problems.append("The subject's salt is too short.")
    except (binascii.Error, ValueError):
        problems.append("The subject's salt is not base64.")
    idents = subject.get("identities")
    if not idents or not _list_of(_IDENTITY)(idents):
        problems.append("The subject needs a list of {kind, hash} pairs (SHA-256-sized hashes).")
    return problems


def _check_system(s: Any) -> list[str]:
    if not isinstance(s, dict):
        return ["A system section is not a JSON object."]
    where = f"System {str(s.get('system'))[:64]}/{str(s.get('region'))[:64]}"
    bad = [f"{where}: {_SENTENCES[k]}." for k, check in _SECTION.items() if not check(s.get(k))]
    v = s.get("verification")
    if not bad and v["ok"] and v["unexpected"]:
        bad.append(f"{where}: verification says ok but {v['unexpected']} rows remain unexpectedly.")
    return bad


def check_body(body: Any, *, totals_present: bool = True) -> list[str]:
    """Every way ``body`` falls short of a well-formed proof body, as sentences (empty: none)."""
    if not isinstance(body, dict):
        return ["The proof body is not a JSON object."]
    if body.get("format") != FORMAT:
        return [f"The proof's format is not {FORMAT}."]
    problems = [*_check_request(body.get("request")), *_check_subject(body.get("subject"))]
    systems, later = body.get("systems"), body.get("pending")
    if not isinstance(systems, list) or not systems:
        problems.append("The proof names no system.")
        systems = []
    for s in systems:
        problems += _check_system(s)
    if not _list_of({"system": _text, "what": _text})(later):
        problems.append("Every pending entry needs a system and a 'what'.")
    sup = body.get("supersedes")
    if sup is not None and not (isinstance(sup, str) and _HEX64.match(sup)):
        problems.append("supersedes must be the SHA-256 (hex) of an earlier proof, or null.")
    try:
        canonical_bytes(body)
        personal = {k: v for k, v in body.items() if k != "subject"}
        check_no_personal_data(personal, "proof")
    except ValueError as exc:
        problems.append(f"{exc}.")
    if problems or not totals_present:
        return problems
    if body.get("totals") != totals(systems, later):
        problems.append("The totals do not add up to the per-system counts.")
    return problems
