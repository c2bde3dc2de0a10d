"""`dsr`: the command line for engineers and scripts. Every command takes --json."""

from __future__ import annotations

import typer
from rich.console import Console

from dsr.cli import backups, breach, datamap, deadlines, demo, lift, requests, retention, verify
from dsr.ledger.guard import ChainBroken
from dsr.settings import SettingsError

app = typer.Typer(
    help="Data-subject request fulfilment for iNextCRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for name, command in (
    ("access", requests.access),
    ("erase", requests.erase),
    ("rectify", requests.rectify),
    ("opt-out", requests.opt_out),
    ("restrict", requests.restrict),
    ("lift-restriction", lift.lift_restriction),
    ("run", requests.run),
    ("verify-identity", requests.verify_identity),
    ("extend", requests.extend),
    ("status", requests.status),
    ("deadlines", deadlines.deadlines),
    ("verify-bundle", verify.verify_bundle),
    ("verify-proof", verify.verify_proof),
    ("verify-ledger", verify.verify_ledger),
    ("public-key", verify.public_key),
    ("backup", backups.backup),
    ("restore-backup", backups.restore_backup),
    ("purge", retention.purge),
    ("breach-impact", breach.breach_impact),
    ("seed", demo.seed),
    ("demo", demo.demo),
    ("ui", demo.ui),
):
    app.command(name)(command)
app.add_typer(datamap.app, name="datamap")


def main() -> None:
    """The ``dsr`` entry point: a misconfigured environment is one clear line and exit 2."""
    try:
        app()
    except SettingsError as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"[red]configuration error:[/] {exc}", highlight=False
        )
        raise SystemExit(2) from None
    except ChainBroken as exc:
        # Nothing is appended to an audit log that does not verify (dsr.ledger.guard).
        Console(stderr=True, soft_wrap=True).print(f"[red]refused:[/] {exc}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
