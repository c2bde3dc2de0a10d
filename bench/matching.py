"""Recall and precision of identity matching, per backend: planted people found, others never.

``python -m bench matching [--people 2000] [--start-postgres]`` plants, in one table, people
whose phone is written in one of nine common spellings in one of 24 countries (read in the row's
country) and whose e-mail has Unicode capitals, a decomposed form or a punycode domain; beside
each, decoys: the same national digits in another country's row, a plus-tagged address and a
longer address containing hers. Every planted person is then searched by the identities they
would give (batched through the connector, as a request does) and the table reports how many
planted rows were found (recall) and how many decoy rows were taken for someone (precision),
with what the earlier digit-string comparison would have matched, for comparison.
"""

from __future__ import annotations

import argparse
import random
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import phonenumbers
import yaml
from rich.console import Console
from rich.table import Table as RichTable
from sqlalchemy import Column, Integer, MetaData

from connectors.crm.datamap import load_datamap
from connectors.crm.sql import CrmSqlConnector
from connectors.identities import parse_identity
from resources.engines import engine_for
from tests.matching_schema import COUNTRIES, MAP, SPELLINGS, people_table

F = phonenumbers.PhoneNumberFormat
LOCAL = ("jörg", "søren", "élodie", "łukasz", "zoë", "ñandú", "ångström", "maria", "ирина")
DOMAINS = ("example.de", "müller.de", "bücher.example", "example.org")

metadata = MetaData()
# The planted person a row belongs to; 0 = a decoy.
people = people_table(metadata, Column("owner", Integer))


def _number(rng: random.Random) -> tuple[str, phonenumbers.PhoneNumber]:
    while True:
        country = rng.choice(COUNTRIES)
        kind = rng.choice(
            [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
        )
        example = phonenumbers.example_number_for_type(country, kind)
        national = phonenumbers.national_significant_number(example)
        tail = "".join(rng.choice("0123456789") for _ in range(4))
        number = phonenumbers.parse(f"+{example.country_code}{national[:-4]}{tail}", None)
        if phonenumbers.is_valid_number(number):
            return country, number


def _spell_email(rng: random.Random, address: str) -> str:
    local, _, domain = address.partition("@")
    choice = rng.randrange(4)
    if choice == 0:
        return address.upper()
    if choice == 1:
        return unicodedata.normalize("NFD", local.title()) + "@" + domain
    if choice == 2 and not domain.isascii():
        return local + "@" + domain.encode("idna").decode().upper()
    return " " + local.capitalize() + "@" + domain.upper() + " "


def plant(rng: random.Random, n: int) -> tuple[list[dict[str, Any]], dict[int, tuple[str, str]]]:
    rows: list[dict[str, Any]] = []
    given: dict[int, tuple[str, str]] = {}
    used: set[str] = set()
    for owner in range(1, n + 1):
        country, number = _number(rng)
        e164 = phonenumbers.format_number(number, F.E164)
        stored = rng.choice(SPELLINGS)(number)
        try:
            if parse_identity("phone", stored, country).value != e164 or e164 in used:
                continue  # a spelling that means another number in its own country: no claim
        except ValueError:
            continue
        used.add(e164)
        address = f"{rng.choice(LOCAL)}.{owner}@{rng.choice(DOMAINS)}"
        given[owner] = (address, e164)
        rows.append({"owner": owner, "email": _spell_email(rng, address), "phone": stored,
                     "country": country})  # fmt: skip
        other = rng.choice([c for c in COUNTRIES if phonenumbers.country_code_for_region(c)
                            != number.country_code])  # fmt: skip
        national = phonenumbers.national_significant_number(number)
        local, _, domain = address.partition("@")
        rows += [
            {"owner": 0, "phone": national, "country": other},
            {"owner": 0, "email": f"{local}+news@{domain}"},
            {"owner": 0, "email": f"x{address}"},
        ]
    # A decoy whose digits, read in its row's country, are another planted person's number is
    # that person's number, not a decoy: drop it.
    rows = [r for r in rows if r["owner"] or not r.get("phone") or _e164(r) not in used]
    for i, row in enumerate(rows, start=1):
        row["id"] = i
        for key in ("email", "phone", "country"):
            row.setdefault(key, None)
    return rows, given


def _e164(row: dict[str, Any]) -> str | None:
    try:
        return parse_identity("phone", row["phone"], row["country"]).value
    except ValueError:
        return None


def _old_keys(e164: str) -> set[str]:
    """The digit strings the earlier comparison accepted (the bare national number among them)."""
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    cc = str(number.country_code)
    keys = {cc + national, "00" + cc + national, national}
    meta = phonenumbers.PhoneMetadata.metadata_for_region(
        phonenumbers.region_code_for_number(number) or ""
    )
    if meta is not None and meta.national_prefix:
        keys.add(meta.national_prefix + national)
    return keys


def measure(url: str, rows: list[dict[str, Any]], given: dict[int, tuple[str, str]], batch: int,
            folder: Path) -> dict[str, Any]:  # fmt: skip
    path = folder / "people.datamap.yaml"
    path.write_text(yaml.safe_dump(MAP, allow_unicode=True), encoding="utf-8")
    engine = engine_for(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(people.insert(), rows)
    connector = CrmSqlConnector("xx", engine, load_datamap(path))
    owner_of = {r["id"]: r["owner"] for r in rows}
    found_right = found_wrong = 0
    started = time.perf_counter()
    owners = sorted(given)
    for start in range(0, len(owners), batch):
        chunk = owners[start : start + batch]
        subjects = {
            str(o): {parse_identity("email", given[o][0]), parse_identity("phone", given[o][1])}
            for o in chunk
        }
        for key, findings in connector.find(subjects, scope="all").items():
            for row in findings.rows:
                if owner_of[int(row.ref.pk)] == int(key):
                    found_right += 1
                else:
                    found_wrong += 1
    elapsed = time.perf_counter() - started
    decoys = [r for r in rows if r["owner"] == 0 and r["phone"]]
    all_keys = {k for _, e164 in given.values() for k in _old_keys(e164)}
    old_wrong = sum(1 for r in decoys if r["phone"] in all_keys)
    engine.dispose()
    return {
        "planted": len(given),
        "found": found_right,
        "wrongly_matched": found_wrong,
        "decoys": len(rows) - len(given),
        "old_digit_string_wrong": old_wrong,
        "seconds": round(elapsed, 2),
    }


@contextmanager
def _postgres(args: argparse.Namespace) -> Iterator[str | None]:
    if args.postgres or not args.start_postgres:
        yield args.postgres
        return
    from tests.pg_server import start

    server = start()
    try:
        name = server.create_database()
        yield server.url(name)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench matching", description=__doc__.split("\n")[0])
    p.add_argument("--people", type=int, default=2000)
    p.add_argument("--batch", type=int, default=200, help="people per discovery call")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use")
    p.add_argument("--start-postgres", action="store_true", help="start a throwaway server")
    args = p.parse_args(argv)
    console = Console()
    rows, given = plant(random.Random(args.seed), args.people)
    results: dict[str, dict[str, Any]] = {}
    with TemporaryDirectory() as tmp, _postgres(args) as pg_url:
        folder = Path(tmp)
        results["sqlite"] = measure(
            f"sqlite:///{folder / 'm.sqlite'}", rows, given, args.batch, folder
        )
        if pg_url:
            results["postgresql"] = measure(pg_url, rows, given, args.batch, folder)
    table = RichTable(title=f"identity matching: {len(given)} planted people, seed {args.seed}")
    for col in ("backend", "planted", "found (recall)", "wrongly matched", "decoy rows",
                "digit-string match would take", "seconds"):  # fmt: skip
        table.add_column(col, justify="right")
    for backend, r in results.items():
        recall = f"{r['found']} ({100 * r['found'] / max(r['planted'], 1):.1f}%)"
        cells = (r["planted"], recall, r["wrongly_matched"], r["decoys"],
                 r["old_digit_string_wrong"], r["seconds"])  # fmt: skip
        table.add_row(backend, *(str(c) for c in cells))
    console.print(table)
