"""Verification commands an auditor or the person runs: bundles, proofs, our public key.

With ``--public-key`` nothing of ours is needed (an auditor's situation) and nothing is read or
made under DSR_HOME. Without it, the installation's own key is used, and only if it exists: a
verification never creates a home, a key or a ledger.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dsr.cli.options import JsonOpt
from dsr.cli.output import console, emit_json, fail
from dsr.cli.session import (
    ledger_exists,
    open_ledger,
    require_state,
    where_state_is_looked_for,
)
from dsr.settings import Settings

if TYPE_CHECKING:
    from dsr.ledger import Ledger

PublicKey = Annotated[
    Path | None,
    typer.Option("--public-key", help="Trusted public key PEM (default: this installation's)"),
]
FOREIGN_KEY = "The embedded public key is not the trusted public key given."


def _read_public_key(path: Path, as_json: bool) -> str:
    """The PEM text of an Ed25519 public key file, or a one-line refusal."""
    from cryptography.exceptions import UnsupportedAlgorithm

    from dsr.keys import load_public_key

    if not path.is_file():
        fail(f"--public-key {path}: no such file", as_json=as_json)
    try:
        pem = path.read_text(encoding="utf-8")
        load_public_key(pem)
    except (ValueError, UnsupportedAlgorithm, TypeError):
        fail(
            f"--public-key {path} is not an Ed25519 public key in PEM form (-----BEGIN PUBLIC "
            "KEY-----); `dsr public-key` prints ours",
            as_json=as_json,
        )
    return pem


def _own_key(as_json: bool, *, may_create: bool = False) -> tuple[str, str, Settings]:
    """This installation's public key, where it comes from, and the settings."""
    from dsr.keys import KeyRing, signing_key_exists, signing_key_source

    settings = Settings.from_env()
    # A key is made on first use only inside an existing home (``dsr public-key``), never by a
    # verification and never in a folder that is not a dsr home.
    exists = signing_key_exists(settings.keys_dir)
    if not exists and not (may_create and settings.home.is_dir()):
        fail(
            f"no signing key of this installation in {where_state_is_looked_for(settings)}: "
            "nothing here has signed a bundle or proof. Pass the publisher's key with "
            "--public-key, run dsr in the project folder, or set DSR_HOME",
            as_json=as_json,
        )
    pem = KeyRing(settings.keys_dir).public_key_pem()
    return pem, signing_key_source(settings.keys_dir), settings


def _key_and_ledger(public_key: Path | None, as_json: bool) -> tuple[str, str, Ledger | None]:
    """An auditor's key file alone; without one, our own key and (if there is one) our ledger,
    so that the chain is checked too."""
    if public_key:
        return _read_public_key(public_key, as_json), str(public_key), None
    pem, source, settings = _own_key(as_json)
    if not ledger_exists(settings):
        return pem, source, None
    return pem, source, open_ledger(settings)


def _explain(problems: list[str], public_key: Path | None, source: str) -> list[str]:
    """Say which key the signer's was compared with: no key was "given" without --public-key."""
    if public_key is not None:
        return problems
    return [
        f"It was not signed with this installation's key ({source}): it comes from another "
        "installation, or its key changed; check it with the publisher's key (--public-key)."
        if p == FOREIGN_KEY
        else p
        for p in problems
    ]


def verify_bundle(path: Path, public_key: PublicKey = None, as_json: JsonOpt = False) -> None:
    """Check every file of a bundle against its manifest and the manifest's signature."""
    from dsr.bundle import verify_bundle as check

    if not path.is_file():
        fail(f"no such bundle: {path}", as_json=as_json)
    pem = _read_public_key(public_key, as_json) if public_key else _own_key(as_json)[0]
    report = check(path, pem)
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "problems": report.problems,
                "files": report.files_checked,
                "signature": report.signature,
            }
        )
    elif report.ok:
        console.print(f"[green]valid[/]: {report.files_checked} files match the signed manifest")
    else:
        for problem in report.problems:
            console.print(f"[red]✗[/] {problem}", soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def verify_proof(
    path: Path,
    email: Annotated[str | None, typer.Option(help="Check the proof is about this person")] = None,
    public_key: PublicKey = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a deletion proof's signature and audit-chain link (and, with --email, whose it is).

    With --public-key only, nothing of ours is needed: an auditor's situation. Without it, our
    own key and ledger are used, and the proof's entry is also looked up in the ledger's chain.
    A final certificate (issued when the last backup holding the person expired) is checked too.
    """
    from dsr.proof import verify_proof as check
    from dsr.proof.certificate import is_certificate

    if not path.is_file():
        fail(f"no such proof: {path}", as_json=as_json)
    if is_certificate(path.read_bytes()[: 16 << 20]):
        # A final certificate (<request_id>.certificate.json) is checked the same way.
        _verify_certificate(path, public_key, as_json)
        return
    pem, source, ledger = _key_and_ledger(public_key, as_json)
    try:
        report = check(path, pem, email=email, ledger=ledger)
    except ValueError as exc:  # the caller's input: an e-mail address that is not one
        fail(f"--email: {exc}", as_json=as_json)
    problems = _explain(report.problems, public_key, source)
    ok = report.ok and (email is None or bool(report.about_person))
    if as_json:
        emit_json(
            {
                "ok": ok,
                "problems": problems,
                "signature": report.signature,
                "chain": report.chain,
                "about_person": report.about_person,
                "public_key": source,
            }
        )
    else:
        if report.ok:
            console.print(f"[green]valid[/]: signature {report.signature}, chain {report.chain}")
        for problem in problems:
            console.print(f"[red]✗[/] {problem}", soft_wrap=True)
        if email is not None:
            console.print(
                "the proof is about this person"
                if report.about_person
                else "[red]✗[/] the proof is NOT about this person"
            )
    if not ok:
        raise typer.Exit(1)


def _verify_certificate(path: Path, public_key: Path | None, as_json: bool) -> None:
    """The final certificate: signature, its audit entry, and (with our ledger) the chain."""
    from dsr.proof.certificate import verify_certificate

    pem, source, ledger = _key_and_ledger(public_key, as_json)
    report = verify_certificate(path, pem, ledger=ledger)
    problems = _explain(report.problems, public_key, source)
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "kind": "final_certificate",
                "request_id": report.request_id,
                "backups": report.backups,
                "problems": problems,
                "signature": report.signature,
                "chain": report.chain,
            }
        )
    else:
        if report.ok:
            console.print(
                f"[green]valid[/] final certificate for {report.request_id}: signature "
                f"{report.signature}, chain {report.chain}; {len(report.backups)} backups that "
                "held the person are deleted, and no backup holds the person any more"
            )
        for problem in problems:
            console.print(f"[red]✗[/] {problem}", soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def public_key(as_json: JsonOpt = False) -> None:
    """Print the public key that verifies our bundles and proofs (made on first use)."""
    pem, source, _settings = _own_key(as_json, may_create=True)
    if as_json:
        emit_json({"ok": True, "public_key": pem, "algorithm": "Ed25519", "source": source})
        return
    print(pem, end="")


def verify_ledger(as_json: JsonOpt = False) -> None:
    """Check the whole ledger: the audit chain, its length against the signed checkpoints kept
    outside it, every proof and certificate's entry, and every request's state against its
    audit log. Exit 1 naming each problem (the first bad entry first)."""
    from dsr.ledger.integrity import verify_ledger as check

    settings = Settings.from_env()
    require_state(settings, as_json=as_json)
    ledger = open_ledger(settings)
    report = check(ledger, settings.proofs_dir)
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "requests": report.requests,
                "evidence_checked": report.evidence_checked,
                "problems": report.problems,
            }
        )
    elif report.ok:
        console.print(
            f"[green]ledger ok[/]: {report.entries} audit entries chain up to the latest signed "
            f"checkpoint; {report.evidence_checked} proofs and certificates are in the chain; "
            f"{report.requests} requests are in the state their audit log says"
        )
    else:
        for problem in report.problems:
            console.print(f"[red]✗[/] {problem}")
    if not report.ok:
        raise typer.Exit(1)
