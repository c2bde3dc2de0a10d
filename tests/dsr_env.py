"""A complete DSR_HOME for a test: seeded regional CRMs with the planted cast, ledger, keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions
from sqlalchemy import insert

from dsr.democrm.planted import DEMO_EMAIL, plant
from dsr.democrm.schema import marketing_subscriptions
from dsr.democrm.seed import seed
from dsr.intake import IntakeRequest, register_request
from dsr.ledger import Ledger, RequestRecord, RequestType, Scope
from dsr.settings import Settings
from pipelines.definitions import build_definitions
from pipelines.launch import instance_for
from resources import build_resources
from resources.crm import CrmDatabasesResource
from resources.engines import engine_for
from standins.demo import DemoServices
from tests.pg_server import PgServer

SMALL_CRM = 300


@dataclass
class DsrEnv:
    settings: Settings
    defs: Definitions
    instance: DagsterInstance
    services: DemoServices | None = None
    pg: PgServer | None = None  # the server behind a PostgreSQL environment

    @property
    def resources(self) -> dict:
        return build_resources(self.settings)

    @property
    def crm(self) -> CrmDatabasesResource:
        return self.resources["crm"]

    @property
    def ledger(self) -> Ledger:
        return self.resources["ledger"].ledger()

    def register(
        self,
        *emails: str,
        scope: Scope = Scope.USER_ACCOUNT,
        client_id: str | None = None,
        authorization_ref: str | None = None,
        type: RequestType = RequestType.ACCESS,
        **kwargs: object,
    ) -> RequestRecord:
        return register_request(
            self.ledger,
            self.crm.connectors(),
            IntakeRequest(
                type=type,
                emails=list(emails),
                scope=scope,
                client_id=client_id,
                authorization_ref=authorization_ref,
                **kwargs,  # type: ignore[arg-type]
            ),
        )


@contextmanager
def environment(home: Path, **overrides: str) -> Iterator[None]:
    """Point every DSR_* variable at ``home`` for the duration, restoring them afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("DSR_") or k == "DAGSTER_HOME"}
    for key in saved:
        del os.environ[key]
    os.environ["DSR_HOME"] = str(home)
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("DSR_") or k == "DAGSTER_HOME"]:
            del os.environ[key]
        os.environ.update(saved)


def seed_crm(settings: Settings, contacts: int = SMALL_CRM) -> None:
    settings.ensure_dirs()
    for region in settings.regions:
        engine = engine_for(settings.crm_urls[region])
        seed(engine, region=region, contacts=contacts, seed=7)
        plant(engine, region)


@contextmanager
def demo_environment(home: Path, *, contacts: int = SMALL_CRM) -> Iterator[DsrEnv]:
    """A seeded DSR_HOME whose integrations reach the three local stand-ins."""
    with DemoServices() as services, environment(home, **services.env()):
        env = make_env(home, contacts=contacts)
        env.services = services
        yield env


@contextmanager
def demo_environment_on(request: pytest.FixtureRequest, home: Path) -> Iterator[DsrEnv]:
    """``demo_environment`` on the fixture's backend (``request.param``): SQLite files, or
    three fresh PostgreSQL databases (us, eu, ledger) on the ``pg_server``, dropped afterwards."""
    overrides: dict[str, str] = {}
    databases: list[str] = []
    server = None
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        databases = [server.create_database() for _ in range(3)]
        overrides = {
            "DSR_CRM_URL_US": server.url(databases[0]),
            "DSR_CRM_URL_EU": server.url(databases[1]),
            "DSR_LEDGER_URL": server.url(databases[2]),
        }
    try:
        with DemoServices() as services, environment(home, **services.env(), **overrides):
            env = make_env(home)
            env.services = services
            env.pg = server
            yield env
    finally:
        for name in databases:
            engine_for(server.url(name)).dispose()  # type: ignore[union-attr]
            server.drop_database(name)  # type: ignore[union-attr]


def subscribe_in_eu(env: DsrEnv, *emails: str) -> None:
    """The demo person (or ``emails``) on an eu mailing list too, so that a flag has two regions
    to reach."""
    with engine_for(env.settings.crm_urls["eu"]).begin() as conn:
        for email in emails or (DEMO_EMAIL,):
            conn.execute(
                insert(marketing_subscriptions).values(
                    email=email,
                    list_name="webinars-eu",
                    status="subscribed",
                    source="event",
                    consent_at=datetime(2025, 4, 1, 9, 0),
                )
            )


def make_env(home: Path, *, contacts: int = SMALL_CRM) -> DsrEnv:
    settings = Settings.from_env(home)
    seed_crm(settings, contacts)
    return DsrEnv(settings, build_definitions(settings), instance_for(settings))
