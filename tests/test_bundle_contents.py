"""The export bundle as the person and an auditor see it: what is inside, and that it cannot be
changed unnoticed."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Findings, FoundRow, Identity, Mention, RowRef
from connectors.datamap import DataMap
from connectors.datamap_accounts import Controller, Policy
from dsr.bundle import BundleRequest, build_bundle, verify_bundle
from dsr.bundle.manifest import safe_name, signature_envelope, write_zip
from dsr.keys import KeyRing

WHEN = datetime(2026, 3, 2, 9, 30, 14, tzinfo=UTC)
CV = b"%PDF-1.4\n\x00\x01\x02 Maria's CV \xff"
SCRIPT_NOTE = "Call back <script>alert('x')</script> maria.jensen@example.org about renewal"

DATAMAP = DataMap.model_validate(
    {
        "name": "inextcrm",
        "controller": {
            "name": "iNextCRM Systems Corp.",
            "contact": "info@iNextCRM.com",
            "dpo": "Data Protection Officer, info@iNextCRM.com",
            "complaint": "You may lodge a complaint with your data protection authority.",
            "service": "iNextCRM",
        },
        "policy": {"name": "our privacy policy", "client_data": "sections 2.2 and 15"},
        "rights": ["You can update your account settings yourself at any time."],
        "regions": {"us": "United States", "eu": "European Union (Netherlands)"},
        "tables": {
            "contacts": {
                "description": "A Client's customers",
                "controller": "client",
                "tenant_column": "client_id",
                "purpose": "Managing the Client's customer relationships",
                "legal_basis": "Client's instruction (processor, Art. 28)",
                "retention": "While the Client's account is active; deleted 1 month after closure",
                "source": "Entered by the Client's users",
                "recipients": ["Google Workspace (Integrated Service)", "Dropbox"],
                "identities": [
                    {"column": "email", "kind": "email"},
                    {"column": "phone", "kind": "phone"},
                ],
                "personal_data": {
                    "email": {"category": "contact details"},
                    "phone": {"category": "contact details"},
                    "first_name": {"category": "identity"},
                    "notes": {"category": "free-text notes", "purpose": "Sales follow-up"},
                },
                "free_text": ["notes"],
            },
            "invoices": {
                "controller": "inextcrm",
                "purpose": "Billing for the Service",
                "legal_basis": "Legal obligation (tax law)",
                "retention": "7 years from issue",
                "identities": [{"column": "billing_email", "kind": "email"}],
                "personal_data": {"amount": {"category": "billing information"}},
                "erasure": {
                    "action": "keep",
                    "legal_basis": "Art. 17(3)(b) legal obligation",
                    "retain_for": "7 years",
                },
            },
            "attachments": {
                "controller": "client",
                "tenant_column": "client_id",
                "purpose": "Documents stored with a contact",
                "retention": "Until deleted by the Client",
                "references": [{"column": "contact_id", "to": "contacts.id"}],
                "personal_data": {"content": {"category": "documents"}},
                "files": {"content": "content", "filename": "filename"},
            },
            "notes": {
                "controller": "client",
                "purpose": "Notes users write about their customers",
                "retention": "While the Client's account is active",
                "free_text": ["body"],
            },
        },
    }
)


def _ref(region: str, table: str, pk: object) -> RowRef:
    return RowRef(region=region, table=table, pk=str(pk))


def _findings() -> list[Findings]:
    maria = Identity("email", "maria.jensen@example.org")
    us = Findings(
        system="crm",
        region="us",
        subject="s-1",
        identities={maria},
        searched_tables=["attachments", "contacts", "invoices", "notes"],
        skipped_tables={"audit_trail": "table locked by <b>maintenance</b>"},
        rows=[
            FoundRow(
                _ref("us", "contacts", 42),
                "identity:email",
                {
                    "id": 42,
                    "client_id": "acme",
                    "first_name": "María",
                    "email": "maria.jensen@example.org",
                    "phone": None,
                    "created_at": datetime(2024, 3, 5, 14, 30, tzinfo=UTC),
                    "notes": SCRIPT_NOTE,
                },
            ),
            FoundRow(
                _ref("us", "invoices", 7),
                "identity:billing_email",
                {
                    "id": 7,
                    "billing_email": "maria.jensen@example.org",
                    "amount": Decimal("1234.50"),
                    "issued_at": datetime(2025, 1, 31, 0, 0, tzinfo=UTC),
                },
            ),
            FoundRow(
                _ref("us", "attachments", 3),
                "reference:contacts.id",
                {
                    "id": 3,
                    "contact_id": 42,
                    "client_id": "acme",
                    "filename": "../../etc/\x07cv <maria>@home.pdf",
                    "content": CV,
                },
            ),
        ],
        mentions=[
            Mention(
                _ref("us", "notes", 900),
                "body",
                ("email", "name"),
                ((10, 34),),
                "… met <script>x()</script> maria.jensen@example.org at the fair …",
            )
        ],
    )
    eu = Findings(
        system="crm",
        region="eu",
        subject="s-1",
        searched_tables=["contacts"],
        rows=[
            FoundRow(
                _ref("eu", "contacts", 5),
                "identity:email",
                {"id": 5, "client_id": "globex", "email": "maria.jensen@example.org"},
            )
        ],
    )
    google = Findings(
        system="google",
        region="global",
        subject="s-1",
        searched_tables=["contacts"],
        rows=[FoundRow(_ref("global", "contacts", "people/c123"), "identity:email", {"n": 1})],
    )
    return [us, eu, google]


REQUEST = BundleRequest(
    request_id="REQ-2026-0042",
    request_type="access",
    scope="user_account",
    client_id=None,
    received_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    due_at=datetime(2026, 4, 1, 8, 0, tzinfo=UTC),
)
NOT_SEARCHED = {
    "dropbox": "access token expired; the owner maria.jensen@example.org must reconnect"
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyRing]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DSR_SIGNING_KEY", raising=False)
        ring = KeyRing(tmp_path_factory.mktemp("keys"))
        ring.public_key_pem()  # generate while the environment is clean
        yield ring


@pytest.fixture(scope="module")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyRing]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DSR_SIGNING_KEY", raising=False)
        ring = KeyRing(tmp_path_factory.mktemp("other-keys"))
        ring.public_key_pem()
        yield ring


def _build(keys: KeyRing, out: Path, request: BundleRequest = REQUEST, **kw: object) -> Path:
    findings = kw.pop("findings", None) or _findings()
    result = build_bundle(
        request,
        findings,  # type: ignore[arg-type]
        {"crm": DATAMAP},
        keys,
        out,
        generated_at=WHEN,
        not_searched=NOT_SEARCHED,
        **kw,  # type: ignore[arg-type]
    )
    return result.path


@pytest.fixture(scope="module")
def bundle(keys: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(keys, tmp_path_factory.mktemp("out"))


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _json(path: Path, name: str) -> object:
    return json.loads(_entries(path)[name])


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
