"""The `dsr` command group: whatever goes wrong, the user reads one line, never a traceback.

Click's usage errors (an unknown option, a missing value) would print a boxed usage text; a
bad setting, an unreachable database or a bug would print a traceback. Here each becomes one
line on stderr (under ``--json``, ``{"ok": false, "error": ...}`` on stdout instead), with exit
code 2 for a refusal and 1 for a failure; a traceback goes to a log file whose path the line
names, or to the terminal with ``dsr --verbose``.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from dsr.cli.output import emit_json, errors, one_line
from dsr.cli.state import log_file, options
from dsr.config_checks import SettingsError

HELP_ASKED = "dsr.help_asked"


def say(line: str, *, as_json: bool, code: int, label: str = "error") -> int:
    """One unwrapped line on stderr (under --json: ``{"ok": false, "error": "<label>: ..."}``
    on stdout instead, as ``output.fail`` does); returns the exit code."""
    line = one_line(line)
    if as_json:
        emit_json({"ok": False, "error": line if label == "error" else f"{label}: {line}"})
    else:
        errors.print(f"[bold red]{label}:[/] {escape(line)}", soft_wrap=True)
    return code


def _usage(exc: typer.TyperException) -> str:
    # Typer vendors click: its usage errors are TyperExceptions that carry their context.
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "dsr"
    return f"{one_line(exc.format_message())} (see {where} --help)"


def _unexpected(exc: BaseException, as_json: bool) -> int:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        # Named by the driver: a database that went away, a lock, a full disk.
        why = one_line(str(exc.orig)) if exc.orig is not None else exc.__class__.__name__
        return say(f"a database refused the operation: {why}", as_json=as_json, code=1)
    if isinstance(exc, OSError) and exc.filename:
        return say(
            f"cannot use {exc.filename}: {exc.strerror or exc.__class__.__name__}",
            as_json=as_json,
            code=1,
        )
    if options.verbose:
        traceback.print_exception(exc, file=sys.stderr)
        where = "the traceback is above"
    else:
        path = log_file("error")
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        where = f"the traceback is in {path} (or run dsr --verbose ...)"
    first = one_line(str(exc))[:300]
    return say(
        f"unexpected {exc.__class__.__name__}{': ' + first if first else ''}; nothing more "
        f"could be done; {where}",
        as_json=as_json,
        code=1,
    )


class DsrGroup(TyperGroup):
    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:  # type: ignore[override]
        # The root callback checks the settings; not when only a command's help is wanted.
        ctx.meta[HELP_ASKED] = "--help" in args
        return super().resolve_command(ctx, args)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in argv
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except typer.TyperException as exc:
            code = getattr(exc, "exit_code", 2)
            if exc.format_message().strip():  # empty: the help was shown (no_args_is_help)
                say(_usage(exc), as_json=as_json, code=code)
        except typer.Abort:
            code = say("aborted", as_json=as_json, code=130)
        except SettingsError as exc:
            code = say(str(exc), as_json=as_json, code=2, label="configuration error")
        except Exception as exc:
            if getattr(exc, "refusal", False):
                # A refusal the code names (ChainBroken: nothing is appended to an audit log
                # that does not verify): one line, exit 2.
                code = say(str(exc), as_json=as_json, code=2, label="refused")
            else:
                code = _unexpected(exc, as_json)
        if standalone_mode:
            sys.exit(code)
        return code
