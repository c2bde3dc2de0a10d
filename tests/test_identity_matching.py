"""Identities are compared as what they are, through the real SQL path, on both backends.

A phone is an E.164 number: the same number in any common spelling is found, and a different
number never is, even when its digits are the same national digits in another country. An
e-mail is found whatever its Unicode case, normal form or domain spelling, and a plus-tagged
or longer address containing it is someone else's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import phonenumbers
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, delete
from sqlalchemy.engine import Engine

from connectors.crm.datamap import load_datamap
from connectors.crm.datamap_indexes import check_lookups
from connectors.crm.sql import CrmSqlConnector
from connectors.free_text import MentionMatcher
from connectors.identities import normalise_phone, parse_identity
from resources.engines import engine_for
from tests import pg_server as pg
from tests.matching_schema import COUNTRIES, E164, MAP, SPELLINGS, people_table

metadata = MetaData()
people = people_table(metadata)


def _create_db(server: pg.PgServer, ctype: str) -> str:
    name = server.create_database()
    server.drop_database(name)
    with server._admin() as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            f"LC_COLLATE '{ctype}' LC_CTYPE '{ctype}'"
        )
    return name


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql-C", marks=pytest.mark.postgres),
        pytest.param("postgresql-C.utf8", marks=pytest.mark.postgres),
    ]
)
def people_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CrmSqlConnector]:
    """The people table on SQLite, and on PostgreSQL with an ASCII-only and a Unicode lower()."""
    path = tmp_path_factory.mktemp("map") / "people.datamap.yaml"
    path.write_text(yaml.safe_dump(MAP, allow_unicode=True), encoding="utf-8")
    made = None
    server: pg.PgServer | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'people.sqlite'}"
    else:
        server = request.getfixturevalue("pg_server")
        made = _create_db(server, request.param.split("-", 1)[1])
        url = server.url(made)
    engine = engine_for(url)
    metadata.create_all(engine)
    connector = CrmSqlConnector("us", engine, load_datamap(path))
    connector.validate()
    yield connector
    engine.dispose()
    if server is not None and made is not None:
        server.drop_database(made)


def _put(engine: Engine, rows: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(delete(people))
        conn.execute(people.insert(), rows)


def _found(connector: CrmSqlConnector, kind: str, value: str, region: str = "US") -> list[int]:
    subject = {"s": {parse_identity(kind, value, region)}}
    rows = connector.find(subject, scope="all")["s"].rows
    return sorted(int(r.ref.pk) for r in rows if r.via.startswith("identity:"))


# -- phones ----------------------------------------------------------------------------------


@st.composite
def numbers(draw: st.DrawFn) -> tuple[str, phonenumbers.PhoneNumber]:
    country = draw(st.sampled_from(COUNTRIES))
    kind = draw(
        st.sampled_from(
            [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
        )
    )
    example = phonenumbers.example_number_for_type(country, kind)
    assume(example is not None)
    national = phonenumbers.national_significant_number(example)
    tail = draw(st.text("0123456789", min_size=3, max_size=3))
    number = phonenumbers.parse(f"+{example.country_code}{national[:-3]}{tail}", None)
    assume(phonenumbers.is_valid_number(number))
    return country, number


def _e164_or_none(text: str, country: str) -> str | None:
    try:
        return normalise_phone(text, country)
    except ValueError:
        return None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(
    numbers(),
    st.sampled_from(range(len(SPELLINGS))),
    st.sampled_from(COUNTRIES),
)
def test_a_number_is_found_in_any_spelling_and_its_digits_elsewhere_never(
    people_db: CrmSqlConnector,
    drawn: tuple[str, phonenumbers.PhoneNumber],
    spelling: int,
    elsewhere: str,
) -> None:
    country, number = drawn
    e164 = phonenumbers.format_number(number, E164)
    stored = SPELLINGS[spelling](number)
    # Only spellings that mean this number in its row's country are claims about matching.
    assume(_e164_or_none(stored, country) == e164)
    other_code = phonenumbers.country_code_for_region(elsewhere)
    assume(other_code != number.country_code)
    national = phonenumbers.national_significant_number(number)
    _put(
        people_db.engine,
        [
            {"id": 1, "phone": stored, "country": country},
            # The same national digits in another country's row: another person's number.
            {"id": 2, "phone": national, "country": elsewhere},
        ],
    )
    assert _found(people_db, "phone", e164) == [1]
    try:
        twin = normalise_phone(national, elsewhere)
    except ValueError:
        return  # those digits are no number there: nothing more to confuse
    assert twin != e164
    assert 1 not in _found(people_db, "phone", twin)


def test_the_wrong_person_cases_of_the_issue(people_db: CrmSqlConnector) -> None:
    _put(
        people_db.engine,
        [
            {"id": 1, "phone": "(212) 298-7664", "country": "US"},
            {"id": 2, "phone": "415.555.0142", "country": "US"},
            {"id": 3, "phone": "0212 2987664", "country": "DE"},
            {"id": 4, "phone": "+1 415 555 0142 ext. 9", "country": None},
        ],
    )
    assert _found(people_db, "phone", "+49 212 2987664") == [3]
    assert _found(people_db, "phone", "+44 415 555 0142") == []
    assert _found(people_db, "phone", "+1 (415) 555-0142") == [2, 4]
    assert _found(people_db, "phone", "+12122987664") == [1]


# -- e-mail ----------------------------------------------------------------------------------

TARGET = "jörg.müller@example.de"
EMAILS = {
    1: "JÖRG.MÜLLER@EXAMPLE.DE",
    2: " Jörg.Müller@example.de ",
    3: unicodedata.normalize("NFD", "JÖRG.MÜLLER@EXAMPLE.DE"),
    4: "jörg.müller+news@example.de",  # plus-tag: another mailbox
    5: "xjörg.müller@example.de",  # contains the address
    6: "jörg.müller@example.de.evil.test",  # starts with it
    7: "info@XN--MLLER-KVA.DE",  # punycode of müller.de
    8: "INFO@MÜLLER.DE",
    9: "info@muller.de",  # another domain
}


def test_unicode_capitals_and_domains_are_one_address(people_db: CrmSqlConnector) -> None:
    _put(people_db.engine, [{"id": k, "email": v, "country": "DE"} for k, v in EMAILS.items()])
    assert _found(people_db, "email", TARGET) == [1, 2, 3]
    assert _found(people_db, "email", "Jörg.Müller@Example.DE") == [1, 2, 3]
    assert _found(people_db, "email", "info@müller.de") == [7, 8]
    assert _found(people_db, "email", "info@xn--mller-kva.de") == [7, 8]
    assert _found(people_db, "email", "jörg.müller+news@example.de") == [4]


def test_the_lookups_stay_on_their_indexes(people_db: CrmSqlConnector) -> None:
    lookups = {lk.column: lk for lk in check_lookups(people_db)}
    assert lookups["email"].indexed and lookups["phone"].indexed, lookups


# -- free text -------------------------------------------------------------------------------


def test_a_mention_is_read_in_its_rows_country() -> None:
    matcher = MentionMatcher({parse_identity("phone", "+49 212 2987664")})
    text = "Bitte Rückruf unter 0212 2987664."
    assert [h[0].value for h in matcher.find(text, "DE")] == ["+492122987664"]
    assert matcher.find("Call (212) 298-7664 tomorrow", "US") == []
    assert matcher.find(text, "US") == []


def test_mentions_of_unicode_addresses_and_their_decoys() -> None:
    matcher = MentionMatcher({parse_identity("email", TARGET)})
    text = "Mail von JÖRG.MÜLLER@EXAMPLE.DE, nicht von jörg.müller+news@example.de oder x" + TARGET
    hits = matcher.find(text)
    assert [text[s:e] for _, s, e in hits] == ["JÖRG.MÜLLER@EXAMPLE.DE"]
    decomposed = unicodedata.normalize("NFD", "Schreib an jörg.müller@example.de.")
    assert len(matcher.find(decomposed)) == 1


def test_free_text_prefilters_are_ascii_so_a_database_can_apply_them() -> None:
    terms = MentionMatcher(
        {parse_identity("email", TARGET), parse_identity("name", "Jörg Müller")}
    ).prefilter_terms()
    assert terms is not None and all(t.isascii() and len(t) >= 3 for t in terms)
    assert MentionMatcher({parse_identity("email", "иван@пример.рф")}).prefilter_terms() is None
