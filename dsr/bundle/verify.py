"""Check a bundle without trusting whoever handed it over.

Three layers, each reported as plain sentences: the signature over ``manifest.json`` (against the
trusted key from ``dsr public-key`` when given), every listed file's size and SHA-256 with nothing
missing and nothing extra, and finally the container itself: the verifier re-encodes what it read
in the canonical form and the result must equal the file byte for byte, so a changed timestamp,
header, comment or entry order fails too.

The archive is only ever read in memory, never extracted, so a hostile entry name cannot write
anywhere; such names are still reported.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from cryptography.hazmat.primitives import serialization

from dsr.bundle.manifest import (
    FORMAT,
    MANIFEST_NAME,
    SIGNATURE_ALGORITHM,
    SIGNATURE_NAME,
    open_canonical_zip,
    read_chunks,
    write_entry,
)
from dsr.keys import load_public_key, verify_signature

MAX_SMALL_ENTRY = 64 << 20  # manifest and signature: far larger means a hostile archive
VALID, INVALID, NOT_CHECKED = "valid", "invalid", "not checked"


@dataclass
class VerifyReport:
    ok: bool
    problems: list[str]
    files_checked: int  # listed files whose size and SHA-256 matched the manifest
    signature: str  # "valid" | "invalid" | "not checked"
    notes: list[str] = field(default_factory=list)  # caveats that are not failures


def _raw_key(pem: str) -> bytes:
    return load_public_key(pem).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def _unsafe_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return (
        name.startswith("/")
        or "\\" in name
        or (len(name) > 1 and name[1] == ":")
        or any(p in ("..", ".") for p in parts)
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    )


def _read_small(zf: zipfile.ZipFile, name: str, report: VerifyReport) -> bytes | None:
    try:
        info = zf.getinfo(name)
    except KeyError:
        report.problems.append(f"The bundle has no {name}.")
        return None
    if info.file_size > MAX_SMALL_ENTRY:
        report.problems.append(f"{name} is implausibly large ({info.file_size} bytes).")
        return None
    try:
        return zf.read(info)
    except Exception as exc:  # a damaged archive raises many types; all mean "unreadable"
        report.problems.append(f"{name} cannot be read: {exc}.")
        return None


def _check_signature(
    envelope_bytes: bytes, manifest_bytes: bytes, trusted_pem: str | None, report: VerifyReport
) -> None:
    try:
        envelope = json.loads(envelope_bytes)
        algorithm, embedded, signature = (
            envelope["algorithm"],
            envelope["public_key"],
            envelope["signature"],
        )
    except (ValueError, KeyError, TypeError):
        report.signature = INVALID
        report.problems.append(f"{SIGNATURE_NAME} is not a signature envelope we can read.")
        return
    if algorithm != SIGNATURE_ALGORITHM:
        report.signature = INVALID
        report.problems.append(f"{SIGNATURE_NAME} uses {algorithm!r}, not {SIGNATURE_ALGORITHM}.")
        return
    key, same = embedded, True
    if trusted_pem is not None:
        try:
            trusted_raw = _raw_key(trusted_pem)
        except Exception:
            report.signature = NOT_CHECKED
            report.problems.append("The trusted public key given is not an Ed25519 public key.")
            return
        try:
            same = _raw_key(str(embedded)) == trusted_raw
        except Exception:
            same = False
        if not same:
            report.problems.append(
                f"{SIGNATURE_NAME} names a signing key other than the trusted key: "
                "this bundle was not signed by us."
            )
        key = trusted_pem
    else:
        report.notes.append(
            "The signature was checked only against the key embedded in the bundle, not against "
            "a trusted key: anyone can sign with their own key. Verify with the key printed by "
            "`dsr public-key` to know who signed it."
        )
    if verify_signature(str(key), manifest_bytes, str(signature)):
        report.signature = VALID if same else INVALID
    else:
        report.signature = INVALID
        report.problems.append(
            f"The signature in {SIGNATURE_NAME} does not match {MANIFEST_NAME}: the manifest was "
            "changed after signing, or signed with a different key."
        )


def _listed_files(manifest: dict[str, Any], report: VerifyReport) -> dict[str, tuple[str, int]]:
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        report.problems.append(f"{MANIFEST_NAME} has no 'files' list.")
        return {}
    out: dict[str, tuple[str, int]] = {}
    for name, entry in listed.items():
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("bytes"), int)
        ):
            out[name] = (entry["sha256"], entry["bytes"])
        else:
            report.problems.append(f"{MANIFEST_NAME} lists {name} without a checksum and size.")
    return out


def _check_contents(
    zf: zipfile.ZipFile,
    listed: dict[str, tuple[str, int]],
    rebuild: zipfile.ZipFile | None,
    when: datetime | None,
    report: VerifyReport,
) -> bool:
    """Hash every listed file while copying every entry into the canonical re-encoding."""
    intact = True
    for info in sorted(zf.infolist(), key=lambda i: i.filename):
        name = info.filename
        expected = listed.get(name)
        if expected is None and name not in (MANIFEST_NAME, SIGNATURE_NAME):
            continue  # already reported as extra; never decompress what nobody vouched for
        if expected is not None and info.file_size != expected[1]:
            report.problems.append(
                f"{name} is {info.file_size} bytes; the manifest says {expected[1]}."
            )
            intact = False
            continue
        digest = hashlib.sha256()
        try:
            with zf.open(info) as src:
                chunks = read_chunks(src)
                if rebuild is not None and when is not None:
                    write_entry(rebuild, name, when, info.file_size, _tee(chunks, digest))
                else:
                    for chunk in chunks:
                        digest.update(chunk)
        except Exception as exc:  # CRC mismatch, truncated data, unsupported method...
            report.problems.append(f"{name} is damaged and cannot be read: {exc}.")
            intact = False
            continue
        if expected is None:
            continue
        if digest.hexdigest() != expected[0]:
            report.problems.append(f"{name} does not match its SHA-256 in the manifest.")
            intact = False
        else:
            report.files_checked += 1
    return intact


def _tee(chunks: Iterable[bytes], digest: hashlib._Hash) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def _file_sha256(fh: IO[bytes]) -> str:
    fh.seek(0)
    digest = hashlib.sha256()
    for chunk in read_chunks(fh):
        digest.update(chunk)
    return digest.hexdigest()


def _check(zf: zipfile.ZipFile, path: Path, trusted_pem: str | None, report: VerifyReport) -> None:
    names = [i.filename for i in zf.infolist()]
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    for name in duplicates:
        report.problems.append(f"{name} appears more than once in the ZIP.")
    for name in names:
        if _unsafe_name(name):
            report.problems.append(f"The entry name {name!r} is not a safe relative path.")
    manifest_bytes = _read_small(zf, MANIFEST_NAME, report)
    envelope_bytes = _read_small(zf, SIGNATURE_NAME, report)
    if manifest_bytes is None:
        return
    if envelope_bytes is not None:
        _check_signature(envelope_bytes, manifest_bytes, trusted_pem, report)
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError:
        report.problems.append(f"{MANIFEST_NAME} is not valid JSON.")
        return
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        report.problems.append(f"{MANIFEST_NAME} is not a {FORMAT} manifest.")
        return
    listed = _listed_files(manifest, report)
    present = set(names) - {MANIFEST_NAME, SIGNATURE_NAME}
    for name in sorted(set(listed) - present):
        report.problems.append(f"{name} is listed in the manifest but missing from the ZIP.")
    for name in sorted(present - set(listed)):
        report.problems.append(f"{name} is in the ZIP but not listed in the manifest.")
    try:
        when = datetime.fromisoformat(str(manifest["generated_at"]))
    except (KeyError, TypeError, ValueError):
        report.problems.append(f"{MANIFEST_NAME} has no valid generated_at.")
        when = None
    with tempfile.SpooledTemporaryFile(max_size=32 << 20) as canon:
        rebuild = open_canonical_zip(canon) if not duplicates else None  # type: ignore[arg-type]
        try:
            intact = _check_contents(zf, listed, rebuild, when, report)
        finally:
            if rebuild is not None:
                rebuild.close()
        if report.problems or not intact or rebuild is None or when is None:
            return  # the container check would only repeat what is already reported
        with path.open("rb") as original:
            if _file_sha256(original) != _file_sha256(canon):
                report.problems.append(
                    "The ZIP container was altered outside the listed files (entry headers, "
                    "timestamps, order, padding or comment differ from how the bundle was written)."
                )


def verify_bundle(path: Path, public_key_pem: str | None = None) -> VerifyReport:
    path = Path(path)
    report = VerifyReport(ok=False, problems=[], files_checked=0, signature=NOT_CHECKED)
    if not path.is_file():
        report.problems.append(f"There is no bundle file at {path}.")
        return report
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, OSError, struct errors from a mangled directory...
        report.problems.append(f"{path.name} is not a readable ZIP archive: {exc}.")
        return report
    with zf:
        try:
            _check(zf, path, public_key_pem, report)
        except Exception as exc:  # a hostile archive must give a report, never a traceback
            report.problems.append(f"{path.name} could not be checked: {exc}.")
    report.ok = not report.problems
    return report
