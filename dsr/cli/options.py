"""The options request commands share, declared once so that each says the same thing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsr.request_kinds import Scope

Emails = Annotated[list[str], typer.Option("--email", "-e", help="The person's e-mail (repeat)")]
EmailsOrFile = Annotated[
    list[str] | None,
    typer.Option("--email", "-e", help="The person's e-mail (repeat); or give --from-csv"),
]
FromCsv = Annotated[
    Path | None,
    typer.Option(
        "--from-csv",
        help="A CSV of people, one request each (columns: email, and optionally phone, name, "
        "scope, client, authorization, ticket, verified_by; empty cells take the options)",
    ),
]
Phones = Annotated[list[str] | None, typer.Option("--phone", help="Phone number, any format")]
Names = Annotated[list[str] | None, typer.Option("--name", help="Full name (finds mentions)")]
ScopeOpt = Annotated[
    Scope,
    typer.Option(
        help="user_account (the person's own account with iNextCRM) or client_data (a Client's "
        "data about the person: needs --client and --authorization)"
    ),
]
Client = Annotated[
    str | None,
    typer.Option(
        "--client",
        help='The Client, by its id or its name, e.g. "Northwind Traders" (only with --scope '
        "client_data)",
    ),
]
Authz = Annotated[
    str | None,
    typer.Option(
        "--authorization",
        help="The Client's authorisation reference, its documented instruction (only with "
        "--scope client_data)",
    ),
]
Ticket = Annotated[str | None, typer.Option("--ticket", help="Support ticket reference")]
Queue = Annotated[
    bool,
    typer.Option(
        help="Only register: the pending-requests sensor (dsr ui) runs it, or run it yourself "
        "with dsr run REQUEST_ID"
    ),
]
VerifiedBy = Annotated[
    str | None,
    typer.Option("--verified-by", help="Staff handle who verified the person's identity"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
