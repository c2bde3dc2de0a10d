"""`dsr`: the command line for engineers and scripts. Every command takes --json.

Every setting is checked before any command runs (``Settings.from_env``), and every failure is
one line on stderr (``dsr.cli.group``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from dsr.cli import (
    backups,
    breach,
    datamap,
    deadlines,
    demo,
    lift,
    listing,
    manage,
    requests,
    retention,
    status,
    verify,
)
from dsr.cli.group import HELP_ASKED, DsrGroup
from dsr.cli.state import options
from dsr.settings import Settings

app = typer.Typer(
    cls=DsrGroup,
    help="Data-subject request fulfilment for iNextCRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show Dagster's logs and tracebacks on the terminal (else they go to a file "
            "under DSR_HOME/logs)",
        ),
    ] = False,
) -> None:
    """Data-subject request fulfilment for iNextCRM."""
    options.verbose = verbose
    if not ctx.meta.get(HELP_ASKED):
        # Every DSR_* variable, before the command does anything: SettingsError is one line.
        Settings.from_env()


for name, command in (
    ("access", requests.access),
    ("erase", requests.erase),
    ("rectify", requests.rectify),
    ("opt-out", requests.opt_out),
    ("restrict", requests.restrict),
    ("lift-restriction", lift.lift_restriction),
    ("run", manage.run),
    ("verify-identity", manage.verify_identity),
    ("extend", manage.extend),
    ("status", status.status),
    ("deadlines", deadlines.deadlines),
    ("requests", listing.list_requests),
    ("backups", listing.list_backups),
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
    """The ``dsr`` entry point (``DsrGroup.main`` turns every failure into one line)."""
    app()


if __name__ == "__main__":
    main()
