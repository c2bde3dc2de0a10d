"""The export bundle as the person sees it: what is inside, named safely, the same bytes for the
same input, and every row's values back from its JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Findings, FoundRow
from connectors.crm.datamap_accounts import Controller, Policy
from dsr.bundle import build_bundle, verify_bundle
from dsr.bundle.manifest import safe_name
from dsr.keys import KeyRing
from tests.bundle_env import (
    CV,
    DATAMAP,
    REQUEST,
    SCRIPT_NOTE,
    WHEN,
    _build,
    _entries,
    _findings,
    _json,
    _ref,
    clean_keyring,
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyRing]:
    yield from clean_keyring(tmp_path_factory, "keys")


@pytest.fixture(scope="module")
def bundle(keys: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(keys, tmp_path_factory.mktemp("out"))


# --- what the person finds inside ----------------------------------------------------------------


def test_layout_holds_data_files_mentions_summary_and_signed_manifest(bundle: Path) -> None:
    names = set(_entries(bundle))
    assert bundle.name == "REQ-2026-0042.zip"
    assert {
        "manifest.json",
        "manifest.sig",
        "summary.html",
        "data/crm/us/contacts.json",
        "data/crm/us/contacts.csv",
        "data/crm/us/invoices.json",
        "data/crm/us/invoices.csv",
        "data/crm/us/attachments.json",
        "data/crm/us/attachments.csv",
        "data/crm/eu/contacts.json",
        "data/crm/eu/contacts.csv",
        "data/google/global/contacts.json",
        "data/google/global/contacts.csv",
        "mentions/crm/us/notes.json",
    } <= names
    files = [n for n in names if n.startswith("files/")]
    assert files == ["files/crm/us/attachments/3_cv _maria__home.pdf"]


def test_values_are_json_safe_and_exact(bundle: Path) -> None:
    (contact,) = _json(bundle, "data/crm/us/contacts.json")  # type: ignore[misc]
    assert contact["created_at"] == "2024-03-05T14:30:00+00:00"
    assert contact["first_name"] == "María"
    assert contact["notes"] == SCRIPT_NOTE
    (invoice,) = _json(bundle, "data/crm/us/invoices.json")  # type: ignore[misc]
    assert invoice["amount"] == "1234.50"


def test_csv_and_json_hold_the_same_rows(bundle: Path) -> None:
    entries = _entries(bundle)
    data_json = [n for n in entries if n.startswith("data/") and n.endswith(".json")]
    assert len(data_json) == 5
    for name in data_json:
        rows = json.loads(entries[name])
        table = list(csv.DictReader(io.StringIO(entries[name[:-5] + ".csv"].decode("utf-8"))))
        assert len(table) == len(rows)
        for from_json, from_csv in zip(rows, table, strict=True):
            assert list(from_csv) == list(from_json)
            assert from_csv == {k: "" if v is None else str(v) for k, v in from_json.items()}


def test_stored_file_is_written_whole_and_named_by_its_row(bundle: Path) -> None:
    entries = _entries(bundle)
    (row,) = json.loads(entries["data/crm/us/attachments.json"])
    assert row["filename"] == "../../etc/\x07cv <maria>@home.pdf"  # the data itself is untouched
    assert row["content"] == "files/crm/us/attachments/3_cv _maria__home.pdf"
    assert entries[row["content"]] == CV
    (csv_row,) = csv.DictReader(io.StringIO(entries["data/crm/us/attachments.csv"].decode()))
    assert csv_row["content"] == row["content"]


def test_mentions_say_where_and_how_without_copying_the_record(bundle: Path) -> None:
    (mention,) = _json(bundle, "mentions/crm/us/notes.json")  # type: ignore[misc]
    assert mention == {
        "table": "notes",
        "pk": "900",
        "column": "body",
        "kinds": ["email", "name"],
        "excerpt": "… met <script>x()</script> maria.jensen@example.org at the fair …",
    }
    assert not any(n.startswith("data/crm/us/notes") for n in _entries(bundle))


def test_manifest_counts_everything_and_holds_no_email(bundle: Path) -> None:
    raw = _entries(bundle)["manifest.json"]
    assert b"@" not in raw
    manifest = json.loads(raw)
    assert manifest["request"] == {
        "request_id": "REQ-2026-0042",
        "request_type": "access",
        "scope": "user_account",
        "client_id": None,
        "received_at": "2026-03-01T08:00:00+00:00",
        "due_at": "2026-04-01T08:00:00+00:00",
    }
    assert manifest["generated_at"] == "2026-03-02T09:30:14+00:00"
    assert manifest["rows_per_system"] == {"crm:eu": 1, "crm:us": 3, "google:global": 1}
    assert manifest["mentions_per_system"] == {"crm:eu": 0, "crm:us": 1, "google:global": 0}
    assert manifest["searched"] == {"crm": ["eu", "us"], "google": ["global"]}
    us = next(s for s in manifest["systems"] if s["region"] == "us")
    assert us["rows"] == {"attachments": 1, "contacts": 1, "invoices": 1}
    assert us["searched_tables"] == ["attachments", "contacts", "invoices", "notes"]
    assert us["skipped_tables"] == {"audit_trail": "table locked by <b>maintenance</b>"}
    assert "dropbox" in manifest["not_searched"]
    assert set(manifest["files"]) == set(_entries(bundle)) - {"manifest.json", "manifest.sig"}


def test_summary_explains_each_table_from_the_data_map(bundle: Path) -> None:
    html = _entries(bundle)["summary.html"].decode("utf-8")
    for text in (
        "REQ-2026-0042",
        "01 March 2026",  # received
        "01 April 2026",  # due
        "Managing the Client&#39;s customer relationships",
        "Sales follow-up",
        "Billing for the Service",
        "Legal obligation (tax law)",
        "7 years from issue",
        "Kept for 7 years even after erasure",
        "Entered by the Client&#39;s users",
        "Google Workspace (Integrated Service)",
        "contact details",
        "billing information",
        "United States",
        "European Union (Netherlands)",
        "Rectification",
        "Erasure",
        "Restriction",
        "Portability",
        "Objection",
        "Withdraw consent",
        "update your account settings",
        "lodge a complaint with your data protection authority",
        "Data Protection Officer",
        "info@iNextCRM.com",
        "dropbox",
        "access token expired",
        "audit_trail",
        "not described in our data map",  # the google copy has no data map
    ):
        assert text in html, text
    assert "Client is the controller" not in html
    assert "http://" not in html and "https://" not in html and "<link" not in html


def test_summary_escapes_html_from_the_data(bundle: Path) -> None:
    html = _entries(bundle)["summary.html"].decode("utf-8")
    assert "<script>x()" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "<b>maintenance</b>" not in html
    assert "&lt;b&gt;maintenance&lt;/b&gt;" in html


def test_client_data_summary_names_the_client_as_controller(keys: KeyRing, tmp_path: Path) -> None:
    request = replace(REQUEST, scope="client_data", client_id="acme")
    html = _entries(_build(keys, tmp_path, request))["summary.html"].decode("utf-8")
    assert "the Client is the controller" in html
    assert "iNextCRM is only its" in html and "processor" in html
    assert "sections 2.2 and" in html
    assert "acme" in html


def test_a_foreign_map_speaks_for_its_own_organisation(keys: KeyRing, tmp_path: Path) -> None:
    shop = DATAMAP.model_copy(
        update={
            "controller": Controller(name="Example Shop B.V.", contact="privacy@shop.test"),
            "policy": Policy(),
        }
    )
    request = replace(REQUEST, scope="client_data", client_id="acme")
    result = build_bundle(request, _findings(), {"crm": shop}, keys, tmp_path, generated_at=WHEN)
    html = _entries(result.path)["summary.html"].decode("utf-8")
    assert "iNextCRM" not in html and "section" not in html
    assert "Example Shop B.V. is only its" in html
    assert "privacy@shop.test" in html


def test_same_input_gives_the_same_bytes(keys: KeyRing, tmp_path: Path) -> None:
    first = build_bundle(
        REQUEST, _findings(), {"crm": DATAMAP}, keys, tmp_path / "a", generated_at=WHEN
    )
    shuffled = [replace(f, rows=list(reversed(f.rows))) for f in reversed(_findings())]
    second = build_bundle(
        REQUEST, shuffled, {"crm": DATAMAP}, keys, tmp_path / "b", generated_at=WHEN
    )
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.rows_per_system == {"crm:eu": 1, "crm:us": 3, "google:global": 1}
    assert first.files == len(_entries(first.path))
    later = build_bundle(
        REQUEST,
        _findings(),
        {"crm": DATAMAP},
        keys,
        tmp_path / "c",
        generated_at=WHEN.replace(day=3),
    )
    assert later.sha256 != first.sha256


def test_written_atomically_and_refuses_an_unsafe_request_id(keys: KeyRing, tmp_path: Path) -> None:
    _build(keys, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["REQ-2026-0042.zip"]
    for bad in ("../escape", "a/b", "", "REQ\n", ".hidden"):
        with pytest.raises(ValueError, match="request_id"):
            _build(keys, tmp_path / "bad", replace(REQUEST, request_id=bad))
    assert not (tmp_path / "bad").exists()


def test_a_system_found_empty_is_still_listed(keys: KeyRing, tmp_path: Path) -> None:
    empty = Findings("crm", "eu", "s-1", searched_tables=["contacts", "notes"])
    path = _build(keys, tmp_path, findings=[empty])
    manifest = json.loads(_entries(path)["manifest.json"])
    assert manifest["rows_per_system"] == {"crm:eu": 0}
    assert manifest["systems"][0]["searched_tables"] == ["contacts", "notes"]
    assert "nothing about you was found" in _entries(path)["summary.html"].decode()
    assert verify_bundle(path, keys.public_key_pem()).ok


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\system32\\cmd.exe", "cmd.exe"),
        ("/abs/path.txt", "path.txt"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ("a\x00b\nc\x1b.txt", "abc.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("CON.txt", "_CON.txt"),
        ("me@example.org.pdf", "me_example.org.pdf"),
        (" .hidden. ", "hidden"),
    ],
)
def test_safe_name(raw: str | None, expected: str) -> None:
    assert safe_name(raw, "file") == expected


def test_safe_name_keeps_long_names_within_bounds() -> None:
    name = safe_name("é" * 300 + ".pdf", "file")
    assert name.endswith(".pdf") and len(name.encode()) <= 120


# --- round trip for every row --------------------------------------------------------------------

_values = st.one_of(st.none(), st.integers(), st.text(), st.booleans())
_rows = st.lists(st.dictionaries(st.text(min_size=1), _values, max_size=6), max_size=6)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_rows)
def test_rows_round_trip_through_json_and_csv(
    keys: KeyRing, tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, object]]
) -> None:
    found = Findings(
        "crm",
        "us",
        "s-1",
        rows=[FoundRow(_ref("us", "contacts", i), "identity:email", r) for i, r in enumerate(rows)],
    )
    result = build_bundle(
        REQUEST, [found], {"crm": DATAMAP}, keys, tmp_path_factory.mktemp("rt"), generated_at=WHEN
    )
    entries = _entries(result.path)
    if not rows:
        assert not any(n.startswith("data/") for n in entries)
        return
    assert json.loads(entries["data/crm/us/contacts.json"]) == rows
    table = list(csv.reader(io.StringIO(entries["data/crm/us/contacts.csv"].decode("utf-8"))))
    columns = list(dict.fromkeys(c for r in rows for c in r))
    if columns:
        assert table[0] == columns
        for row, line in zip(rows, table[1:], strict=True):
            assert line == [_csv_text(row.get(c)) for c in columns]
    assert verify_bundle(result.path, keys.public_key_pem()).ok


def _csv_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_ids_keep_every_part_and_stray_bytes_become_files(keys: KeyRing, tmp_path: Path) -> None:
    photo = FoundRow(
        _ref("global", "people/contacts", "people/c123"),
        "identity:email",
        {"resourceName": "people/c123", "photo": b"\x89PNG..."},
    )
    path = _build(keys, tmp_path, findings=[Findings("google", "global", "s-1", rows=[photo])])
    entries = _entries(path)
    (row,) = json.loads(entries["data/google/global/people_contacts.json"])
    assert row["photo"] == "files/google/global/people_contacts/people_c123_photo.bin"
    assert entries[row["photo"]] == b"\x89PNG..."
