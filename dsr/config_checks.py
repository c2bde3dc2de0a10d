"""Checks of single ``DSR_*`` values, each raising ``SettingsError`` that names the variable.

Settings are checked when they are read, so a typo stops every command at start, before anything
is created, rather than the first request that needs the value (or, worse, never: an unknown
executor or services mode used to fall back to a default silently).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path


class SettingsError(ValueError):
    """An environment variable holds something unusable; the message names the variable."""


# Every variable dsr reads; the families below take a region or a vault path as suffix.
KNOWN = frozenset(
    {
        "DSR_HOME",
        "DSR_REGIONS",
        "DSR_DATAMAP",
        "DSR_LEDGER_URL",
        "DSR_EXPORTS_DIR",
        "DSR_KEYS_DIR",
        "DSR_HASH_KEY",
        "DSR_DATA_KEY",
        "DSR_SIGNING_KEY",
        "DSR_STAGING_DIR",
        "DSR_PROOFS_DIR",
        "DSR_PHYSICAL_CLEANUP",
        "DSR_EXECUTOR",
        "DSR_PHONE_REGION",
        "DSR_SERVICES",
        "DSR_GOOGLE_URL",
        "DSR_GOTOMEETING_URL",
        "DSR_DROPBOX_CA",
        "DSR_CREDENTIALS_DIR",
        "DSR_BACKUPS_DIR",
        "DSR_BACKUP_RETENTION_DAYS",
        "DSR_EXPORT_RETENTION_DAYS",
        "DSR_DEADLINE_WARN_DAYS",
        "DSR_BUSINESS_CALENDAR",
        "DSR_ALERT_WEBHOOK_URL",
        "DSR_BATCH_SIZE",
        "DSR_DAGSTER_STORAGE_URL",
        "DSR_INTAKE_RUN_RETENTION_HOURS",
        # Read by dsr.faults only: the crash tests set it in a process they kill.
        "DSR_CRASH_AT",
    }
)
PER_REGION = ("DSR_CRM_URL_", "DSR_EXPORTS_DIR_")
CREDENTIAL_PREFIX = "DSR_CREDENTIAL_"
_REGION = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_BACKENDS = ("sqlite", "postgresql")


def check_names(env: Mapping[str, str], regions: Iterable[str]) -> None:
    """Refuse a ``DSR_*`` variable dsr does not read: it is a typo of one it does."""
    regions = set(regions)
    for name in sorted(n for n in env if n.startswith("DSR_")):
        if name in KNOWN or name.startswith(CREDENTIAL_PREFIX):
            continue
        family = next((p for p in PER_REGION if name.startswith(p)), None)
        if family:
            region = name.removeprefix(family).lower()
            if region not in regions:
                raise SettingsError(
                    f"{name} names region {region!r}, which DSR_REGIONS does not list "
                    f"({', '.join(sorted(regions))}): add it there or unset {name}"
                )
            continue
        near = difflib.get_close_matches(name, sorted(KNOWN), n=1)
        hint = f"did you mean {near[0]}?" if near else "see the README's configuration table"
        raise SettingsError(f"{name} is not a setting dsr reads: {hint}")


def regions(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None:
        return default
    names = [r.strip().lower() for r in raw.split(",") if r.strip()]
    if not names:
        raise SettingsError(
            f"DSR_REGIONS is set but lists no region: name them, e.g. {','.join(default)}, "
            "or unset it for the default"
        )
    for name in names:
        if not _REGION.match(name):
            raise SettingsError(
                f"DSR_REGIONS: {name!r} is not a region name (a lower-case word such as us, eu)"
            )
    if len(set(names)) != len(names):
        raise SettingsError(f"DSR_REGIONS lists a region twice: {raw!r}")
    return tuple(names)


def choice(name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def http_url(name: str, value: str) -> str:
    """An http(s) URL with a host; an empty value means "not set" and passes."""
    if not value:
        return value
    # Imported when a URL is set: most commands start without one, and should start at once.
    from pydantic import HttpUrl, TypeAdapter, ValidationError

    try:
        TypeAdapter(HttpUrl).validate_python(value)
    except ValidationError as exc:
        why = exc.errors()[0]["msg"]
        raise SettingsError(
            f"{name} must be an http(s) URL such as https://host/path, not {value!r}: {why}"
        ) from None
    return value


def dagster_storage_url(name: str, value: str) -> str:
    """Empty, or a ``postgresql+psycopg2://`` URL as dagster-postgres reads it.

    The driver must be named: since SQLAlchemy 2.1 a bare ``postgresql://`` means psycopg 3,
    on which dagster-postgres's ``NOTIFY run_events, %s`` fails and every run event is lost.
    """
    if not value:
        return ""
    from sqlalchemy.engine import make_url

    database_url(name, value)
    url = make_url(value)
    if url.drivername != "postgresql+psycopg2":
        raise SettingsError(
            f"{name}={url.render_as_string(hide_password=True)}: Dagster's instance storage "
            "is PostgreSQL through psycopg2, written "
            "postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    return value


def database_url(name: str, value: str) -> str:
    """A SQLAlchemy URL of a backend dsr supports, whose driver is installed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
        _ = url.port  # a non-numeric port fails here, not at the first connection
    except (ArgumentError, ValueError):
        raise SettingsError(
            f"{name} is not a database URL: expected sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "postgres":
        raise SettingsError(
            f"{name}={shown}: write postgresql+psycopg://… (SQLAlchemy has no postgres:// scheme)"
        )
    if url.get_backend_name() not in _BACKENDS:
        raise SettingsError(
            f"{name}={shown}: dsr supports {' and '.join(_BACKENDS)} databases, "
            f"not {url.get_backend_name()!r}"
        )
    try:
        url.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as exc:
        raise SettingsError(f"{name}={shown}: its driver cannot be loaded ({exc})") from None
    if url.get_backend_name() == "sqlite" and not url.database:
        raise SettingsError(f"{name}={shown}: an in-memory SQLite database keeps nothing")
    return value


def phone_region(value: str) -> str:
    code = value.strip().upper()
    if code == "US":
        return code  # the default, known: no need to load every country's metadata for it
    import phonenumbers

    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingsError(
            f"DSR_PHONE_REGION must be a two-letter country code such as US or NL, not {value!r}"
        )
    return code


def existing_file(name: str, value: str) -> str:
    """A path that must name a readable file; empty means "not set"."""
    if value and not Path(value).expanduser().is_file():
        raise SettingsError(f"{name}: no such file: {value}")
    return value


def folder(name: str, path: Path) -> Path:
    """A folder that may not exist yet, but must not be a file."""
    if path.exists() and not path.is_dir():
        raise SettingsError(f"{name}: {path} is a file, not a folder")
    return path
