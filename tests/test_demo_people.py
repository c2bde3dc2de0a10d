"""Every person the demo seeds can be served: an access request for any of them reaches every
service its Clients connected, with a credential the local stand-ins accept.

50 random Users and 50 random contacts of each region go through what the access job does —
intake checks, identity resolution, the Clients reached, their connected accounts, the
credential lookup and a search of each account on the stand-ins — in one process (200 Dagster
runs would take minutes); one synthetic User per region also goes through `dsr access` itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Table, select

from connectors.base import EMAIL, Identity
from connectors.crm.sql import resolve_across
from dsr.democrm.schema import contacts, users
from dsr.intake import IntakeRequest, check_intake
from dsr.ledger import RequestType, Scope
from resources.engines import engine_for
from resources.integrations import SERVICES
from tests.cli_env import at_tests_now, dsr, dsr_json
from tests.dsr_env import DsrEnv, demo_environment

CONTACTS = 2500  # 50 synthetic Users per region
SAMPLE = 50


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DsrEnv]:
    with ExitStack() as stack:
        with at_tests_now():
            home = tmp_path_factory.mktemp("people") / "home"
            env = stack.enter_context(demo_environment(home, contacts=10))
            seeded = dsr("seed", "--contacts", str(CONTACTS))  # as an operator seeds the demo
        assert seeded.code == 0, seeded
        yield env


def _sample(env: DsrEnv, table: Table, region: str) -> list[tuple[str, str]]:
    """(e-mail, Client id) of SAMPLE random people of ``table`` in ``region``."""
    query = select(table.c.email, table.c.client_id).where(table.c.email.is_not(None))
    with engine_for(env.settings.crm_urls[region]).connect() as conn:
        people = [(str(e), str(c)) for e, c in conn.execute(query)]
    assert len(people) >= SAMPLE
    return random.Random(f"{region}-{table.name}").sample(people, SAMPLE)


def _serve(env: DsrEnv, region: str, people: list[tuple[str, str]], scope: Scope) -> int:
    """What the access job does up to the services, for each person; the accounts searched."""
    crm, integrations = env.crm, env.resources["integrations"]
    connectors = crm.connectors()
    home = next(c for c in connectors if c.region == region)
    searched = 0
    for n, (email, client) in enumerate(people):
        client_id = client if scope == Scope.CLIENT_DATA else None
        request = IntakeRequest(
            type=RequestType.ACCESS,
            emails=[email],
            scope=scope,
            client_id=client_id,
            authorization_ref="DPA-TEST-1" if client_id else None,
        )
        given = check_intake(connectors, request).identities
        key = f"person-{n}"
        resolved = resolve_across(connectors, {key: given}, scope=scope, client_id=client_id)[key]
        tenants = {
            c.region: tuple(sorted(c.tenants_of(resolved, scope=scope, client_id=client_id)))
            for c in connectors
        }
        found = home.find({key: resolved}, scope=scope, client_id=client_id)[key]
        assert found.rows, f"{region}: nothing found for seeded person #{n}"
        for kind in SERVICES:
            for account in integrations.accounts(crm, tenants, kind):
                connector = integrations.connector(account)  # the credential lookup
                try:
                    connector.find(set(resolved))
                finally:
                    getattr(connector, "close", lambda: None)()
                searched += 1
    return searched


@pytest.mark.parametrize("region", ["us", "eu"])
def test_fifty_random_users_and_contacts_of_each_region_can_be_served(
    env: DsrEnv, region: str
) -> None:
    _serve(env, region, _sample(env, users, region), Scope.USER_ACCOUNT)
    _serve(env, region, _sample(env, contacts, region), Scope.CLIENT_DATA)


def test_every_connected_account_of_the_demo_has_a_working_credential(env: DsrEnv) -> None:
    crm, integrations = env.crm, env.resources["integrations"]
    every_client = {}
    for connector in crm.connectors():
        with connector.engine.connect() as conn:
            table = connector.table("clients")
            every_client[connector.region] = tuple(
                str(i) for (i,) in conn.execute(select(table.c.id))
            )
    accounts = [a for kind in SERVICES for a in integrations.accounts(crm, every_client, kind)]
    # Only the planted Clients connect services (synthetic ones have none to lack a key for).
    assert sorted(a.credential_ref for a in accounts) == [
        "vault://integrations/eu/fabrikam/dropbox",
        "vault://integrations/us/northwind/dropbox",
        "vault://integrations/us/northwind/google",
        "vault://integrations/us/northwind/gotomeeting",
    ]
    probe = {Identity(EMAIL, "no.one.here@example.org")}
    for account in accounts:
        connector = integrations.connector(account)
        try:
            assert not connector.find(probe).rows
        finally:
            getattr(connector, "close", lambda: None)()


@pytest.mark.parametrize("region", ["us", "eu"])
def test_a_random_synthetic_user_is_served_by_dsr_access(
    env: DsrEnv, region: str, tmp_path: Path
) -> None:
    email, _client = _sample(env, users, region)[0]
    done = dsr_json("access", "--email", email)
    assert done["state"] == "fulfilled" and Path(done["bundle"]).is_file()
    assert done["rows_per_system"][f"crm:{region}"] >= 1
