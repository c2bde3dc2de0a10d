"""The canonical encodings a bundle is made of: manifest, signature envelope, ZIP container,
and the JSON/CSV form of rows and the safe names of the paths they are written to.

Both sides must produce the same bytes from the same content, so everything that could vary is
fixed here: the manifest's JSON form, the signature envelope and the ZIP container itself.

Entries are *stored*, not deflated, on purpose: with no compressor in the loop the container is a
pure function of its contents and the manifest's timestamp, so ``verify_bundle`` can re-encode
what it read and compare byte for byte. A deflate stream has bits a decoder ignores (padding after
the last block) and its output varies between zlib builds; either would let a byte change unseen
or make a genuine bundle fail on another machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any

from dsr.keys import KeyRing
from dsr.times import utc

FORMAT = "inextcrm-dsr-bundle/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
SIGNATURE_ALGORITHM = "Ed25519"
ZIP_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)
_CHUNK = 1 << 20
MAX_NAME_BYTES = 120
# '@' too: file paths are listed in the manifest, which must hold no e-mail address.
_UNSAFE = re.compile(r'[<>:"/\\|?*@]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(10))}


def iso(when: datetime) -> str:
    return utc(when).isoformat()


def text(value: Any) -> str:
    """An enum member as its value: ``str()`` of a plain ``(str, Enum)`` gives ``Type.MEMBER``."""
    return str(value.value) if isinstance(value, Enum) else str(value)


def canonical_json(obj: Any) -> bytes:
    text = json.dumps(
        obj,
        sort_keys=True,
        ensure_ascii=False,
        indent=2,
        separators=(",", ": "),
        allow_nan=False,
    )
    return (text + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_entry(data: bytes) -> dict[str, Any]:
    return {"sha256": sha256_hex(data), "bytes": len(data)}


def signature_envelope(keys: KeyRing, manifest_bytes: bytes) -> bytes:
    return canonical_json(
        {
            "algorithm": SIGNATURE_ALGORITHM,
            "public_key": keys.public_key_pem(),
            "signature": keys.sign(manifest_bytes),
        }
    )


def zip_info(name: str, when: datetime, size: int) -> zipfile.ZipInfo:
    stamp = max(utc(when), ZIP_EPOCH)
    info = zipfile.ZipInfo(name, date_time=stamp.timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED
    # ZipInfo picks these from the running platform; fixing them keeps the bytes portable.
    info.create_system = 3
    info.external_attr = 0o644 << 16
    # Known before writing, so the zip64 decision is the same for writer and verifier.
    info.file_size = size
    return info


def write_entry(
    zf: zipfile.ZipFile, name: str, when: datetime, size: int, chunks: Iterable[bytes]
) -> None:
    with zf.open(zip_info(name, when, size), mode="w") as dest:
        for chunk in chunks:
            dest.write(chunk)


def open_canonical_zip(fh: IO[bytes]) -> zipfile.ZipFile:
    return zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)


def write_zip(fh: IO[bytes], entries: Mapping[str, bytes], when: datetime) -> None:
    """Entries in sorted order, fixed timestamps and attributes: same input, same bytes."""
    with open_canonical_zip(fh) as zf:
        for name in sorted(entries):
            data = entries[name]
            write_entry(zf, name, when, len(data), (data,))


def write_zip_atomically(path: Path, entries: Mapping[str, bytes], when: datetime) -> str:
    """Temp file in the same folder, then rename: a reader never sees half a bundle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "w+b") as fh:
            write_zip(fh, entries, when)
            fh.flush()
            os.fsync(fh.fileno())
            fh.seek(0)
            for chunk in read_chunks(fh):
                digest.update(chunk)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return digest.hexdigest()


def read_chunks(src: IO[bytes]) -> Iterable[bytes]:
    while chunk := src.read(_CHUNK):
        yield chunk


def safe_name(raw: object, fallback: str, *, basename: bool = True) -> str:
    """One path segment that cannot climb out, hide, carry control or bidi characters, or be
    refused by Windows when the person unpacks the ZIP. ``basename`` keeps only the last part of
    an uploaded file's path; ids (``people/c123``) keep every part, joined by ``_``."""
    name = unicodedata.normalize("NFC", "" if raw is None else str(raw))
    if basename:
        name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for ch in name:
        cat = unicodedata.category(ch)
        if cat == "Zs":
            kept.append(" ")
        elif cat[0] != "C" and cat not in ("Zl", "Zp"):
            kept.append(ch)
    name = _UNSAFE.sub("_", "".join(kept)).strip(" .")
    if name.split(".", 1)[0].upper() in _RESERVED:
        name = "_" + name
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        if not dot or len(ext) > 16:
            stem, ext = name, ""
        room = MAX_NAME_BYTES - len(ext.encode("utf-8")) - (1 if ext else 0)
        stem = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(" .")
        name = f"{stem}.{ext}" if ext else stem
    return name or fallback


def json_value(value: Any) -> Any:
    """A JSON-safe value; exact types (Decimal, datetimes) become their exact text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    # A numpy scalar exists only once numpy is imported; verifying a bundle never imports it.
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        return json_value(value.item())
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return json_value(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[binary data, {len(bytes(value))} bytes]"
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [json_value(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    return str(value)


def csv_cell(value: Any) -> str:
    """The CSV text of a JSON-safe value, spelled as JSON spells it (true, 1.5, [..])."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def csv_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    import pandas as pd  # only when writing or re-checking a CSV: `dsr verify-bundle` starts fast

    columns = list(dict.fromkeys(c for row in rows for c in row))
    cells = [[csv_cell(row.get(c)) for c in columns] for row in rows]
    frame = pd.DataFrame(cells, columns=columns, dtype=str)
    return frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def data_json(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False) + "\n").encode("utf-8")


__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "SIGNATURE_ALGORITHM",
    "SIGNATURE_NAME",
    "canonical_json",
    "csv_bytes",
    "csv_cell",
    "data_json",
    "file_entry",
    "iso",
    "json_value",
    "read_chunks",
    "safe_name",
    "sha256_hex",
    "signature_envelope",
    "text",
    "utc",
    "write_entry",
    "write_zip",
    "write_zip_atomically",
]
