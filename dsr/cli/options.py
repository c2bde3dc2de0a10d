"""The options request commands share, declared once so that each says the same thing."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar, get_type_hints

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

Command = TypeVar("Command", bound=Callable[..., None])


def _person(
    phone: Phones = None,
    name: Names = None,
    scope: ScopeOpt = Scope.USER_ACCOUNT,
    client: Client = None,
    authorization: Authz = None,
    ticket: Ticket = None,
) -> None:
    """The person's other identities and the Client's instruction, in their --help order: never
    called, its parameters are what ``person_options`` gives every request command."""


def person_options(after: str, *, names: bool = False) -> Callable[[Command], Command]:
    """Give a request command the options of ``_person`` (--name only with ``names``), shown
    after its option ``after``; the command takes them as ``**person``.

    Typer reads a command's options from its signature, so the signature is rewritten: the
    ``**person`` parameter is replaced by those options, and every annotation is resolved
    (Typer does not resolve the string annotations of a given ``__signature__``).
    """
    shared_hints = get_type_hints(_person, include_extras=True)
    shared = [
        p.replace(annotation=shared_hints[p.name])
        for p in inspect.signature(_person).parameters.values()
        if names or p.name != "name"
    ]

    def rewrite(command: Command) -> Command:
        hints = get_type_hints(command, include_extras=True)
        own = [
            p.replace(annotation=hints[p.name])
            for p in inspect.signature(command).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        at = [p.name for p in own].index(after) + 1
        signature = inspect.Signature([*own[:at], *shared, *own[at:]], return_annotation=None)
        command.__signature__ = signature  # type: ignore[attr-defined]
        command.__annotations__ = {
            **{p.name: p.annotation for p in signature.parameters.values()},
            "return": None,
        }
        return command

    return rewrite
