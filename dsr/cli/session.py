"""Settings, resources and the ledger of one CLI invocation, opened only as far as needed.

Input is checked before anything is created: the settings (pure), then the CRM databases
(reachable? the data map fits?), and only then the home folder, keys and ledger. A command that
needs state that is not there (no ledger, no keys) refuses instead of making a new, empty home.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsr.cli.output import fail, note
from dsr.config_checks import SettingsError
from dsr.home import HomeSource, find_home
from dsr.services_mode import start_services_if_standins
from dsr.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError

    from dsr.ledger import Ledger


def _reason(exc: DBAPIError) -> str:
    text = str(exc.orig or exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def shown_url(url: str) -> str:
    """A database URL fit for a message: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def ledger_exists(settings: Settings) -> bool:
    if not settings.ledger_url.startswith("sqlite"):
        return True  # a server database: it is there or the first use says why
    from sqlalchemy.engine import make_url

    url = make_url(settings.ledger_url)
    return url.get_backend_name() != "sqlite" or Path(url.database or "").is_file()


def state_exists(settings: Settings) -> bool:
    """The home is there (seeded, or used before), or the ledger lives elsewhere: reading it
    does not make a new home in a folder nobody chose."""
    return settings.home.is_dir() or ledger_exists(settings)


def where_state_is_looked_for(settings: Settings) -> str:
    if settings.home_source is HomeSource.NEW:
        return find_home().describe()
    return str(settings.home)


def require_state(settings: Settings, *, as_json: bool) -> None:
    """Refuse a command that reads state when there is none (it would only make a new home)."""
    if not state_exists(settings):
        fail(
            f"no dsr state in {where_state_is_looked_for(settings)}: run dsr in the project "
            "folder (where `dsr seed` or `dsr demo` made .dsr) or set DSR_HOME",
            as_json=as_json,
        )


def open_home(settings: Settings, *, as_json: bool) -> None:
    """Create the home's folders, saying so first when the home is new."""
    if not settings.home.exists():
        note(
            f"creating a new dsr home (keys, ledger, stores) in {find_home().describe()}"
            if settings.home_source is HomeSource.NEW
            else f"creating a new dsr home (keys, ledger, stores) in {settings.home} (DSR_HOME)"
        )
    settings.ensure_dirs()


def open_ledger(settings: Settings) -> Ledger:
    """The ledger, reachable: an unreachable database is a configuration error, one line.

    Opened without Dagster (``dsr.ledger.opening``, the same Ledger the resource hands out),
    so a command that only reads starts at once."""
    from sqlalchemy.exc import DBAPIError

    from dsr.ledger.opening import ledger_for

    try:
        return ledger_for(
            settings.ledger_url,
            str(settings.keys_dir),
            settings.business_calendar,
            str(settings.proofs_dir),
        )
    except DBAPIError as exc:
        name = "DSR_LEDGER_URL" if os.environ.get("DSR_LEDGER_URL") else "the ledger"
        raise SettingsError(
            f"{name}: cannot open the ledger database {shown_url(settings.ledger_url)}: "
            f"{_reason(exc)}"
        ) from None


def check_crm_reachable(settings: Settings) -> None:
    from sqlalchemy.exc import DBAPIError

    from resources.engines import engine_for

    for region, url in settings.crm_urls.items():
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            continue  # the connector refuses a missing SQLite file with its own message
        try:
            with engine_for(url).connect():
                pass
        except DBAPIError as exc:
            raise SettingsError(
                f"DSR_CRM_URL_{region.upper()}: cannot reach the {region} CRM database "
                f"{shown_url(url)}: {_reason(exc)}"
            ) from None


class Session:
    """What a command needs, opened on first use; ``creates`` False: refuse without state."""

    def __init__(self, *, as_json: bool = False, creates: bool = True) -> None:
        self.as_json = as_json
        self.creates = creates
        self.settings = Settings.from_env()  # checked before the stand-ins start
        self.services: Any = None
        if not creates:
            require_state(self.settings, as_json=as_json)

    @cached_property
    def resources(self) -> dict[str, Any]:
        """Dagster's resources, and the stand-ins when configured: only a command that runs or
        searches needs them (and pays for importing Dagster and the service SDKs)."""
        from resources import build_resources

        self.services = start_services_if_standins()
        self.settings = Settings.from_env()  # with the stand-ins' endpoints
        return build_resources(self.settings)

    @property
    def crm(self) -> Any:
        return self.resources["crm"]

    @cached_property
    def ledger(self) -> Ledger:
        open_home(self.settings, as_json=self.as_json)
        return open_ledger(self.settings)

    def connectors(self, *, as_json: bool | None = None) -> list[Any]:
        from connectors.crm.datamap import DataMapError

        check_crm_reachable(self.settings)
        try:
            return self.crm.connectors()
        except DataMapError as exc:
            fail(str(exc), as_json=self.as_json if as_json is None else as_json)
