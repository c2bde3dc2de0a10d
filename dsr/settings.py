"""Where the embedded default keeps its state, and how every path and URL is overridden.

Everything lives under one folder, ``DSR_HOME`` (found as ``dsr.home`` says: the variable, else
the nearest ``.dsr`` folder). Each location can be moved with its own environment variable; the
README lists them all. Every value is checked here, so a bad one stops a command before it does
anything (``SettingsError``, one line naming the variable).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dsr import config_checks as check
from dsr.config_checks import SettingsError
from dsr.home import HomeSource, find_home
from dsr.keys import check_key_settings
from dsr.ledger.business_calendar import DEFAULT_CALENDAR, business_calendar

DEFAULT_REGIONS = ("us", "eu")
DEMO_DATAMAP = Path(__file__).parent / "democrm" / "inextcrm.datamap.yaml"
EXECUTORS = ("in_process", "multiprocess")
PHYSICAL_CLEANUPS = ("vacuum_full", "vacuum", "none")
SERVICES_MODES = ("standins", "real")
GOTOMEETING_API = "https://api.getgo.com/G2M/rest"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _days(name: str, default: int) -> int:
    text = _env(name, str(default)) or str(default)
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of days, not {text!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, not {value}")
    return value


def _hours(name: str, default: int) -> int:
    text = _env(name, str(default)) or str(default)
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of hours, not {text!r}") from None
    if not 1 <= value <= 24 * 366:
        raise SettingsError(f"{name} must be between 1 and 8784 hours, not {value}")
    return value


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"DSR_BATCH_SIZE must be a whole number, not {text!r}") from None
    if not 1 <= value <= 10_000:
        raise SettingsError(f"DSR_BATCH_SIZE must be between 1 and 10000, not {value}")
    return value


def _calendar(spec: str) -> str:
    # Checked here so that a typo stops every command at start, not the first opt-out (the
    # default needs no check, nor the time it takes to load every country's holidays).
    if spec == DEFAULT_CALENDAR:
        return spec
    try:
        business_calendar(spec)
    except ValueError as exc:
        raise SettingsError(f"DSR_BUSINESS_CALENDAR: {exc}") from None
    return spec


def _path(name: str, default: Path) -> Path:
    return check.folder(name, Path(_env(name) or default).expanduser())


def services_mode() -> str:
    """``DSR_SERVICES``: standins (default) or real."""
    value = (_env("DSR_SERVICES") or "standins").strip().lower()
    return check.choice("DSR_SERVICES", value, SERVICES_MODES)


@dataclass(frozen=True)
class Settings:
    home: Path
    regions: tuple[str, ...]
    crm_urls: dict[str, str]
    datamap_path: Path
    ledger_url: str
    export_dirs: dict[str, Path]
    keys_dir: Path
    staging_dir: Path
    proofs_dir: Path
    credentials_dir: Path
    backups_dir: Path
    dagster_home: Path
    # Dagster's instance storage on PostgreSQL (runs overlap); empty: SQLite under DAGSTER_HOME.
    dagster_storage_url: str = ""
    executor: str = "in_process"
    default_phone_region: str = "US"
    physical_cleanup: str = "vacuum_full"
    google_url: str = ""
    gotomeeting_url: str = "https://api.getgo.com/G2M/rest"
    dropbox_ca_file: str = ""
    backup_retention_days: int = 30
    export_retention_days: int = 30
    alert_webhook_url: str = ""
    deadline_warn_days: int = 5
    business_calendar: str = DEFAULT_CALENDAR
    extra: dict[str, str] = field(default_factory=dict)
    services: str = "standins"
    home_source: HomeSource = HomeSource.ENV
    batch_size: int = 200
    # Intake runs that registered nothing (refused forms, dry runs) are deleted this long after.
    intake_run_retention_hours: int = 24

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> Settings:
        """The settings of this process; SettingsError naming the first unusable variable."""
        try:
            choice = find_home()
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        base = Path(home).expanduser().resolve() if home else choice.path
        check.folder("DSR_HOME", base)
        regions = check.regions(os.environ.get("DSR_REGIONS"), DEFAULT_REGIONS)
        check.check_names(os.environ, regions)
        crm_urls = {
            r: check.database_url(f"DSR_CRM_URL_{r.upper()}", url)
            if (url := _env(f"DSR_CRM_URL_{r.upper()}"))
            else f"sqlite:///{base / 'crm' / f'{r}.sqlite'}"
            for r in regions
        }
        exports_root = _path("DSR_EXPORTS_DIR", base / "exports")
        export_dirs = {r: _path(f"DSR_EXPORTS_DIR_{r.upper()}", exports_root / r) for r in regions}
        keys_dir = _path("DSR_KEYS_DIR", base / "keys")
        try:
            check_key_settings(keys_dir)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        ledger_url = _env("DSR_LEDGER_URL")
        return cls(
            home=base,
            regions=regions,
            crm_urls=crm_urls,
            datamap_path=Path(
                check.existing_file("DSR_DATAMAP", _env("DSR_DATAMAP") or "") or DEMO_DATAMAP
            ),
            ledger_url=check.database_url("DSR_LEDGER_URL", ledger_url)
            if ledger_url
            else f"sqlite:///{base / 'ledger.sqlite'}",
            export_dirs=export_dirs,
            keys_dir=keys_dir,
            staging_dir=_path("DSR_STAGING_DIR", base / "staging"),
            proofs_dir=_path("DSR_PROOFS_DIR", base / "proofs"),
            credentials_dir=_path("DSR_CREDENTIALS_DIR", base / "credentials"),
            backups_dir=_path("DSR_BACKUPS_DIR", base / "backups"),
            dagster_home=_path("DAGSTER_HOME", base / "dagster"),
            dagster_storage_url=check.dagster_storage_url(
                "DSR_DAGSTER_STORAGE_URL", _env("DSR_DAGSTER_STORAGE_URL") or ""
            ),
            executor=check.choice("DSR_EXECUTOR", _env("DSR_EXECUTOR") or "in_process", EXECUTORS),
            default_phone_region=check.phone_region(_env("DSR_PHONE_REGION") or "US"),
            physical_cleanup=check.choice(
                "DSR_PHYSICAL_CLEANUP",
                _env("DSR_PHYSICAL_CLEANUP") or "vacuum_full",
                PHYSICAL_CLEANUPS,
            ),
            google_url=check.http_url("DSR_GOOGLE_URL", _env("DSR_GOOGLE_URL") or ""),
            gotomeeting_url=check.http_url(
                "DSR_GOTOMEETING_URL", _env("DSR_GOTOMEETING_URL") or GOTOMEETING_API
            ),
            dropbox_ca_file=check.existing_file("DSR_DROPBOX_CA", _env("DSR_DROPBOX_CA") or ""),
            backup_retention_days=_days("DSR_BACKUP_RETENTION_DAYS", 30),
            export_retention_days=_days("DSR_EXPORT_RETENTION_DAYS", 30),
            alert_webhook_url=check.http_url(
                "DSR_ALERT_WEBHOOK_URL", _env("DSR_ALERT_WEBHOOK_URL") or ""
            ),
            deadline_warn_days=_days("DSR_DEADLINE_WARN_DAYS", 5),
            business_calendar=_calendar(_env("DSR_BUSINESS_CALENDAR") or DEFAULT_CALENDAR),
            services=services_mode(),
            home_source=HomeSource.ENV if home else choice.source,
            batch_size=_batch_size(_env("DSR_BATCH_SIZE") or "200"),
            intake_run_retention_hours=_hours("DSR_INTAKE_RUN_RETENTION_HOURS", 24),
        )

    @property
    def rate_limits_dir(self) -> Path:
        """Each service account's recent request starts, shared by this host's processes."""
        return self.home / "rate-limits"

    def ensure_dirs(self) -> None:
        for path in (
            self.home,
            self.keys_dir,
            self.staging_dir,
            self.proofs_dir,
            self.dagster_home,
        ):
            path.mkdir(parents=True, exist_ok=True)
        for path in self.export_dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        for url in self.crm_urls.values():
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
