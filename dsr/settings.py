"""Where the embedded default keeps its state, and how every path and URL is overridden.

Everything lives under one folder, ``DSR_HOME`` (default ``./.dsr``). Each location can be moved
with its own environment variable; the README lists them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dsr.ledger.business_calendar import DEFAULT_CALENDAR, business_calendar

DEFAULT_REGIONS = ("us", "eu")
DEMO_DATAMAP = Path(__file__).parent / "democrm" / "inextcrm.datamap.yaml"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


class SettingsError(ValueError):
    """An environment variable holds something unusable; the message names the variable."""


def _days(name: str, default: int) -> int:
    text = _env(name, str(default)) or str(default)
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of days, not {text!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, not {value}")
    return value


def _calendar(spec: str) -> str:
    # Checked here so that a typo stops every command at start, not the first opt-out.
    try:
        business_calendar(spec)
    except ValueError as exc:
        raise SettingsError(f"DSR_BUSINESS_CALENDAR: {exc}") from None
    return spec


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

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> Settings:
        base = Path(home or _env("DSR_HOME", ".dsr")).expanduser().resolve()
        regions = tuple(
            r.strip().lower()
            for r in (_env("DSR_REGIONS") or ",".join(DEFAULT_REGIONS)).split(",")
            if r.strip()
        )
        crm_urls = {
            r: _env(f"DSR_CRM_URL_{r.upper()}") or f"sqlite:///{base / 'crm' / f'{r}.sqlite'}"
            for r in regions
        }
        exports_root = Path(_env("DSR_EXPORTS_DIR") or base / "exports")
        export_dirs = {
            r: Path(_env(f"DSR_EXPORTS_DIR_{r.upper()}") or exports_root / r) for r in regions
        }
        return cls(
            home=base,
            regions=regions,
            crm_urls=crm_urls,
            datamap_path=Path(_env("DSR_DATAMAP") or DEMO_DATAMAP),
            ledger_url=_env("DSR_LEDGER_URL") or f"sqlite:///{base / 'ledger.sqlite'}",
            export_dirs=export_dirs,
            keys_dir=Path(_env("DSR_KEYS_DIR") or base / "keys"),
            staging_dir=Path(_env("DSR_STAGING_DIR") or base / "staging"),
            proofs_dir=Path(_env("DSR_PROOFS_DIR") or base / "proofs"),
            credentials_dir=Path(_env("DSR_CREDENTIALS_DIR") or base / "credentials"),
            backups_dir=Path(_env("DSR_BACKUPS_DIR") or base / "backups"),
            dagster_home=Path(_env("DAGSTER_HOME") or base / "dagster"),
            executor=_env("DSR_EXECUTOR", "in_process") or "in_process",
            default_phone_region=(_env("DSR_PHONE_REGION", "US") or "US").upper(),
            physical_cleanup=_env("DSR_PHYSICAL_CLEANUP", "vacuum_full") or "vacuum_full",
            google_url=_env("DSR_GOOGLE_URL", "") or "",
            gotomeeting_url=_env("DSR_GOTOMEETING_URL") or "https://api.getgo.com/G2M/rest",
            dropbox_ca_file=_env("DSR_DROPBOX_CA", "") or "",
            backup_retention_days=_days("DSR_BACKUP_RETENTION_DAYS", 30),
            export_retention_days=_days("DSR_EXPORT_RETENTION_DAYS", 30),
            alert_webhook_url=_env("DSR_ALERT_WEBHOOK_URL", "") or "",
            deadline_warn_days=_days("DSR_DEADLINE_WARN_DAYS", 5),
            business_calendar=_calendar(_env("DSR_BUSINESS_CALENDAR") or DEFAULT_CALENDAR),
        )

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
