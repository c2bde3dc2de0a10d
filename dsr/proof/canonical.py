"""How a proof encodes things so that a verifier recomputes the very same bytes: canonical JSON,
and the salted hash of a subject's identity.

What is hashed, signed and written is the same canonical JSON.
The encoding itself is the audit log's (``dsr.ledger.audit.canonical_json``: sorted keys, no
insignificant whitespace, UTF-8 without ASCII escaping), so a proof and the ledger entry that
records it are hashed by the same rules. What this module adds is strictness: floats are refused
on the way out and on the way in, because their text form differs between encoders and an auditor
re-encoding a float could get other bytes than we signed; counts are integers and dates are
ISO-8601 strings, so nothing in a proof needs one. Sets are refused too: they have no order.

Identities appear only as salted scrypt hashes under a salt drawn for each proof. Anyone who knows
the person's e-mail can confirm the proof is about them (one KDF call); anyone holding only the
proof pays a KDF call per guess, per proof, and a precomputed table is useless because every proof
has its own salt. A keyed HMAC (``KeyRing.keyed_hash``) would not do here: an auditor does not
have our key, and must not need it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Collection, Mapping
from typing import Any

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from connectors.base import Identity
from connectors.identities import InvalidIdentity, parse_identity
from dsr.ledger.audit import canonical_json

MAX_PROOF_BYTES = 16 << 20  # a real proof is a few KiB; far more is a hostile file
DEFAULT_KDF_COST = 2**14  # scrypt's interactive-login cost: ~50 ms and 16 MiB per guess
MAX_KDF_COST = 2**20  # a verifier runs whatever the file asks for: cap it (1 GiB at r=8)
SALT_BYTES = 16
HASH_BYTES = 32


class NotCanonical(ValueError):
    """A value that has no canonical JSON form, or text that is not canonical-compatible JSON."""


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        raise NotCanonical(f"{path} is a float; proofs hold integers and ISO-8601 strings only")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonical(f"{path} has a key of type {type(key).__name__}, not str")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    raise NotCanonical(f"{path} is a {type(value).__name__}, which has no canonical JSON form")


def canonical_bytes(value: Any) -> bytes:
    """The canonical UTF-8 JSON of ``value``; NotCanonical for floats, sets, non-str keys..."""
    _check(value, "$")
    return canonical_json(value).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical bytes of ``value``."""
    return sha256_hex(canonical_bytes(value))


def _no_float(text: str) -> Any:
    raise NotCanonical(f"the number {text[:20]} is not an integer; proofs hold no floats")


def _no_constant(text: str) -> Any:
    raise NotCanonical(f"{text} is not JSON; proofs hold no floats")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A duplicate key lets two readers see two different documents in one file.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise NotCanonical(f"the key {key[:40]!r} appears twice in one object")
        result[key] = value
    return result


def loads(data: bytes) -> Any:
    """Parse proof bytes strictly: UTF-8, no floats, no NaN, no duplicate keys."""
    if len(data) > MAX_PROOF_BYTES:
        raise NotCanonical(f"{len(data)} bytes is implausibly large for a proof")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotCanonical(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(
            text,
            parse_float=_no_float,
            parse_constant=_no_constant,
            object_pairs_hook=_unique,
        )
    except json.JSONDecodeError as exc:
        raise NotCanonical(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    except RecursionError:
        raise NotCanonical("nested too deeply to be a proof") from None


def kdf_params(cost: int) -> dict[str, Any]:
    return {"algorithm": "scrypt", "n": cost, "r": 8, "p": 1, "length": HASH_BYTES}


def kdf_problem(params: Any) -> str | None:
    """Why ``params`` cannot be used (or None): the verifier must not run an unbounded KDF."""
    if not isinstance(params, Mapping) or params.get("algorithm") != "scrypt":
        return "the subject's key-derivation function is not scrypt"
    n, r, p, length = (params.get(k) for k in ("n", "r", "p", "length"))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, r, p, length)):
        return "the scrypt parameters are not all integers"
    if n < 2 or n & (n - 1) or n > MAX_KDF_COST or not 1 <= r <= 32 or not 1 <= p <= 16:
        return f"the scrypt parameters are out of range (n a power of two up to {MAX_KDF_COST})"
    if 128 * r * n > 1 << 30 or length != HASH_BYTES:
        return "the scrypt parameters ask for too much memory or an unusual hash length"
    return None


def normalised(identity: Identity) -> Identity:
    # Hash what a verifier will compute from what the person types: the same normalisation.
    try:
        return parse_identity(identity.kind, identity.value)
    except InvalidIdentity:
        return Identity(identity.kind, identity.value.strip())


def identity_hash(salt: bytes, identity: Identity, params: Mapping[str, Any]) -> str:
    kdf = Scrypt(salt=salt, length=params["length"], n=params["n"], r=params["r"], p=params["p"])
    return kdf.derive(f"{identity.kind}\x1f{identity.value}".encode()).hex()


def subject(identities: Collection[Identity], cost: int) -> dict[str, Any]:
    params = kdf_params(cost)
    problem = kdf_problem(params)
    if problem:
        raise ValueError(f"kdf_cost {cost}: {problem}")
    unique = sorted({normalised(i) for i in identities})
    if not unique:
        raise ValueError("a deletion proof needs at least one identity of the subject")
    salt = secrets.token_bytes(SALT_BYTES)
    hashed = [{"kind": i.kind, "hash": identity_hash(salt, i, params)} for i in unique]
    return {
        "kdf": {**params, "input": "kind U+001F normalised value, UTF-8"},
        "salt": base64.b64encode(salt).decode(),
        # Sorted by hash, not by value: the order must not hint at the values.
        "identities": sorted(hashed, key=lambda h: (h["kind"], h["hash"])),
    }


__all__ = [
    "DEFAULT_KDF_COST",
    "MAX_PROOF_BYTES",
    "NotCanonical",
    "canonical_bytes",
    "digest",
    "identity_hash",
    "kdf_problem",
    "loads",
    "normalised",
    "sha256_hex",
    "subject",
]
