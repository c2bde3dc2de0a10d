"""The export bundle as an auditor sees it: any change to it is caught, each in a sentence."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsr.bundle import verify_bundle
from dsr.bundle.manifest import signature_envelope, write_zip
from dsr.keys import KeyRing
from tests.bundle_env import REQUEST, WHEN, _build, _entries, clean_keyring


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyRing]:
    yield from clean_keyring(tmp_path_factory, "keys")


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyRing]:
    yield from clean_keyring(tmp_path_factory, "other-keys")


@pytest.fixture(scope="module")
def bundle(keys: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(keys, tmp_path_factory.mktemp("out"))


# --- verification: any change is caught, each in a sentence --------------------------------------


Change = Callable[[dict[str, bytes], Path], object]


def _tampered(src: Path, dst: Path, change: Change, other: Path) -> Path:
    """Re-pack the bundle canonically after ``change``: only the change itself can be caught."""
    entries = _entries(src)
    change(entries, other)
    with dst.open("wb") as fh:
        write_zip(fh, entries, WHEN)
    return dst


def _flip_byte_of(src: Path, dst: Path, name: str, at: int = 5) -> Path:
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(name)
    # Stored entries: data starts after the 30-byte local header, the name and the extra field.
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + at] ^= 0x01
    dst.write_bytes(bytes(raw))
    return dst


def test_an_untouched_bundle_verifies(bundle: Path, keys: KeyRing) -> None:
    report = verify_bundle(bundle, keys.public_key_pem())
    assert report.ok, report.problems
    assert report.signature == "valid"
    assert report.files_checked == len(_entries(bundle)) - 2
    assert report.notes == []


def test_without_a_trusted_key_the_report_says_so(bundle: Path) -> None:
    report = verify_bundle(bundle)
    assert report.ok and report.signature == "valid"
    assert any("not against a trusted key" in n for n in report.notes)


def test_one_flipped_byte_in_a_data_file(bundle: Path, keys: KeyRing, tmp_path: Path) -> None:
    path = _flip_byte_of(bundle, tmp_path / "x.zip", "data/crm/us/contacts.json")
    report = verify_bundle(path, keys.public_key_pem())
    assert not report.ok
    assert any("data/crm/us/contacts.json" in p for p in report.problems)


def _set(name: str, data: bytes) -> Change:
    return lambda entries, _: entries.__setitem__(name, data)


def _replace(name: str, old: bytes, new: bytes) -> Change:
    def change(entries: dict[str, bytes], _: Path) -> None:
        assert old in entries[name]
        entries[name] = entries[name].replace(old, new)

    return change


def _other_bundles_signature(entries: dict[str, bytes], other: Path) -> None:
    envelope = json.loads(entries["manifest.sig"])
    envelope["signature"] = json.loads(_entries(other)["manifest.sig"])["signature"]
    entries["manifest.sig"] = json.dumps(envelope).encode()


_edit_manifest = _replace("manifest.json", b'"crm:us": 3', b'"crm:us": 2')


@pytest.fixture(scope="module")
def other_bundle(keys: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> Path:
    request = replace(REQUEST, request_id="REQ-2026-0043")
    return _build(keys, tmp_path_factory.mktemp("other"), request)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _replace("data/crm/us/invoices.json", b'"1234.50"', b'"1.50000"'),
            "data/crm/us/invoices.json does not match its SHA-256",
        ),
        (
            _replace("data/crm/us/invoices.json", b'"1234.50"', b'"1.5"'),
            "data/crm/us/invoices.json is 140 bytes; the manifest says 144",
        ),
        (_edit_manifest, "does not match manifest.json"),
        (_other_bundles_signature, "does not match manifest.json"),
        (_set("data/crm/us/extra.json", b"[]"), "data/crm/us/extra.json is in the ZIP but not"),
        (
            lambda e, _: e.pop("files/crm/us/attachments/3_cv _maria__home.pdf"),
            "3_cv _maria__home.pdf is listed in the manifest but missing",
        ),
        (lambda e, _: e.pop("manifest.sig"), "The bundle has no manifest.sig"),
        (_set("../evil.txt", b"x"), "'../evil.txt' is not a safe relative path"),
    ],
    ids=[
        "data-changed",
        "data-resized",
        "manifest-edited",
        "signature-swapped",
        "extra",
        "removed",
        "unsigned",
        "traversal",
    ],
)
def test_tampering_is_reported(
    bundle: Path,
    keys: KeyRing,
    other_bundle: Path,
    tmp_path: Path,
    change: Change,
    expected: str,
) -> None:
    tampered = _tampered(bundle, tmp_path / "t.zip", change, other_bundle)
    report = verify_bundle(tampered, keys.public_key_pem())
    assert not report.ok
    assert any(expected in p for p in report.problems), report.problems


def test_a_key_other_than_the_trusted_one(bundle: Path, other_keys: KeyRing) -> None:
    report = verify_bundle(bundle, other_keys.public_key_pem())
    assert not report.ok and report.signature == "invalid"
    assert any("other than the trusted key" in p for p in report.problems)


def test_resigned_by_someone_else_fails_against_the_trusted_key(
    bundle: Path, keys: KeyRing, other_keys: KeyRing, tmp_path: Path
) -> None:
    def forge(entries: dict[str, bytes], other: Path) -> None:
        _edit_manifest(entries, other)
        entries["manifest.sig"] = signature_envelope(other_keys, entries["manifest.json"])

    forged = _tampered(bundle, tmp_path / "forged.zip", forge, bundle)
    assert verify_bundle(forged).signature == "valid"  # self-consistent, signer unknown
    report = verify_bundle(forged, keys.public_key_pem())
    assert not report.ok and report.signature == "invalid"


def test_a_change_outside_the_files_is_caught(bundle: Path, keys: KeyRing, tmp_path: Path) -> None:
    entries = _entries(bundle)
    path = tmp_path / "restamped.zip"
    with path.open("wb") as fh:
        write_zip(fh, entries, WHEN.replace(year=2020))
    report = verify_bundle(path, keys.public_key_pem())
    assert not report.ok
    assert any("container was altered" in p for p in report.problems)


def test_not_a_zip_or_missing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert "not a readable ZIP" in verify_bundle(junk).problems[0]
    assert "no bundle file" in verify_bundle(tmp_path / "absent.zip").problems[0]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.floats(min_value=0, max_value=1, exclude_max=True), bit=st.integers(0, 7))
def test_any_flipped_bit_anywhere_fails(
    bundle: Path, keys: KeyRing, tmp_path: Path, position: float, bit: int
) -> None:
    raw = bytearray(bundle.read_bytes())
    raw[int(position * len(raw))] ^= 1 << bit
    path = tmp_path / "flipped.zip"
    path.write_bytes(bytes(raw))
    report = verify_bundle(path, keys.public_key_pem())
    assert not report.ok
    assert report.problems


def test_a_second_copy_of_an_entry_is_caught(bundle: Path, keys: KeyRing, tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    path.write_bytes(bundle.read_bytes())
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(path, "a") as zf,
    ):
        zf.writestr("data/crm/us/contacts.json", b"[]")
    report = verify_bundle(path, keys.public_key_pem())
    assert not report.ok
    assert "data/crm/us/contacts.json appears more than once in the ZIP." in report.problems
