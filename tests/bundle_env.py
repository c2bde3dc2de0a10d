"""The export-bundle tests' shared set-up: a data map, what a search found, building a bundle
with fresh signing keys, and reading the ZIP back."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import Findings, FoundRow, Identity, Mention, RowRef
from connectors.crm.datamap import DataMap
from dsr.bundle import BundleRequest, build_bundle
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


def clean_keyring(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[KeyRing]:
    """A module's signing keys, generated while ``DSR_SIGNING_KEY`` is unset."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DSR_SIGNING_KEY", raising=False)
        ring = KeyRing(tmp_path_factory.mktemp(name))
        ring.public_key_pem()  # generate while the environment is clean
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


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _json(path: Path, name: str) -> object:
    return json.loads(_entries(path)[name])
