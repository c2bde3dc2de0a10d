"""The fast index build gives exactly the answers of the careful one.

``connectors.backups.harvest.Harvester`` skips ``email_validator`` and ``phonenumbers`` where it can
answer for certain; an index that disagreed with discovery on one value would call a backup empty
that holds the person. So it is held to ``harvest_identity`` on generated and adversarial values,
and the whole index of a seeded CRM to the one built value by value the old way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import column, select, table
from sqlalchemy.engine import Connection

from connectors.backups.harvest import Harvester
from connectors.backups.index import collect_digests, index_digest
from connectors.base import Identity
from connectors.crm.datamap import DataMap
from connectors.identities import _EMAIL_IN_TEXT, _PHONE_IN_TEXT, harvest_identity
from dsr.keys import KeyRing
from tests.backup_env import Crm, seeded_crm

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
ODD = ATEXT + '.@ "(),:;<>[\\]üé\u00a0\t'
LABEL = st.text("abcxyz019-", min_size=1, max_size=8)
TLD = st.sampled_from(["org", "com", "test", "example", "invalid", "local", "x", "123", "co"])


def same(kind: str, raw: object, region: str = "US") -> None:
    assert Harvester(region)(kind, raw) == harvest_identity(kind, raw, region), repr(raw)


@settings(max_examples=400, deadline=None)
@given(
    local=st.text(ATEXT + ".", min_size=0, max_size=70),
    labels=st.lists(LABEL, min_size=0, max_size=4),
    tld=TLD,
    case=st.booleans(),
    pad=st.sampled_from(["", " ", "\n", "\t "]),
)
def test_generated_addresses_normalise_as_the_validator_says(
    local: str, labels: list[str], tld: str, case: bool, pad: str
) -> None:
    address = f"{local}@{'.'.join([*labels, tld])}"
    same("email", pad + (address.upper() if case else address) + pad)


@settings(max_examples=300, deadline=None)
@given(st.text(ODD, max_size=40))
def test_arbitrary_text_normalises_as_the_validator_says(raw: str) -> None:
    same("email", raw)


@pytest.mark.parametrize(
    "raw",
    [
        "Maria.Jensen@Example.ORG",
        "a..b@example.org",
        ".a@example.org",
        "a.@example.org",
        "a@xn--bcher-kva.example",
        "a@localhost",
        "a@example.invalid",
        "a@mail.test",
        "a@-x.org",
        "a@x-.org",
        "a@1.2.3.4",
        "a@[127.0.0.1]",
        "a@x.123",
        "a@@x.org",
        '"a b"@x.org',
        "ü@x.org",
        "a@ü.org",
        "a@x.org.",
        "Postmaster@X.org",
        "x" * 64 + "@example.org",
        "x" * 65 + "@example.org",
        "x" * 241 + "@example.org",
        "x" * 242 + "@example.org",
        "a@" + "b" * 64 + ".org",
        "",
        "   ",
    ],
)
def test_adversarial_addresses(raw: str) -> None:
    same("email", raw)


FORMATS = ["{a}-{b}-{c}", "({a}) {b}-{c}", "{a}.{b}.{c}", "{a}{b}{c}", "+1 {a} {b} {c}",
           "+1{a}{b}{c}", "+1-{a}-{b}-{c}", "({a}){b}-{c}", "+1 ({a}) {b}-{c}", "1-{a}-{b}-{c}",
           "001 {a} {b} {c}", "{a} {b} {c} x12", "{a}-{b}-{c}/9"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    area=st.integers(0, 999),
    mid=st.integers(0, 999),
    end=st.integers(0, 9999),
    form=st.sampled_from(FORMATS),
    region=st.sampled_from(["US", "GB", "CA"]),
)
def test_phone_numbers_normalise_as_phonenumbers_says(
    area: int, mid: int, end: int, form: str, region: str
) -> None:
    same("phone", form.format(a=f"{area:03d}", b=f"{mid:03d}", c=f"{end:04d}"), region)


@pytest.fixture
def crm(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Crm]:
    yield from seeded_crm(request, tmp_path, "sqlite")


def careful_scan(conn: Connection, datamap: DataMap) -> Iterator[Identity]:
    """The oracle: every identity value harvested one at a time by ``harvest_identity``."""
    for name, tmap in datamap.tables.items():
        cols = list(dict.fromkeys([c for s in tmap.identities for c in s.source_columns]))
        cols += [c for c in tmap.free_text if c not in cols]
        if not cols:
            continue
        for row in conn.execute(select(*table(name, *map(column, cols)).c)).mappings():
            for spec in tmap.identities:
                parts = [row[c] for c in spec.source_columns]
                raw = " ".join(str(p) for p in parts if p) if spec.kind == "name" else parts[0]
                ident = harvest_identity(spec.kind, raw)
                if ident is not None:
                    yield ident
            for col in tmap.free_text:
                text = row[col] or ""
                found = [("email", m.group(0).strip(".")) for m in _EMAIL_IN_TEXT.finditer(text)]
                found += [("phone", m.group(0)) for m in _PHONE_IN_TEXT.finditer(text)]
                for kind, raw in found:
                    ident = harvest_identity(kind, raw)
                    if ident is not None:
                        yield ident


def test_a_seeded_crm_gets_the_very_same_index(crm: Crm, keys: KeyRing) -> None:
    with crm.engine.connect() as conn:
        fast = collect_digests(conn, crm.datamap, keys)
        careful = [index_digest(keys, ident) for ident in careful_scan(conn, crm.datamap)]
    fast_list = [bytes(fast[i : i + 16]) for i in range(0, len(fast), 16)]
    assert len(careful) > 500
    assert sorted(fast_list) == sorted(careful)
