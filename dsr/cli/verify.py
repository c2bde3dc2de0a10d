"""Verification commands an auditor or the person runs: bundles, proofs, our public key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dsr.cli.output import console, emit_json, fail
from dsr.settings import Settings

if TYPE_CHECKING:
    from dsr.ledger import Ledger

PublicKey = Annotated[
    Path | None, typer.Option("--public-key", help="Trusted public key PEM (default: ours)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def _our_public_key() -> str:
    return _key_and_ledger(None)[0]


def verify_bundle(path: Path, public_key: PublicKey = None, as_json: JsonOpt = False) -> None:
    """Check every file of a bundle against its manifest and the manifest's signature."""
    from dsr.bundle import verify_bundle as check

    if not path.is_file():
        fail(f"no such bundle: {path}", as_json=as_json)
    report = check(path, public_key.read_text() if public_key else _our_public_key())
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
            console.print(f"[red]✗[/] {problem}")
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

    if not path.is_file():
        fail(f"no such proof: {path}", as_json=as_json)
    from dsr.proof.certificate import is_certificate

    if is_certificate(path.read_bytes()[: 16 << 20]):
        # A final certificate (<request_id>.certificate.json) is checked the same way.
        _verify_certificate(path, public_key, as_json)
        return
    pem, ledger = _key_and_ledger(public_key)
    report = check(path, pem, email=email, ledger=ledger)
    ok = report.ok and (email is None or bool(report.about_person))
    if as_json:
        emit_json(
            {
                "ok": ok,
                "problems": report.problems,
                "signature": report.signature,
                "chain": report.chain,
                "about_person": report.about_person,
            }
        )
    else:
        if report.ok:
            console.print(f"[green]valid[/]: signature {report.signature}, chain {report.chain}")
        for problem in report.problems:
            console.print(f"[red]✗[/] {problem}")
        if email is not None:
            console.print(
                "the proof is about this person"
                if report.about_person
                else "[red]✗[/] the proof is NOT about this person"
            )
    if not ok:
        raise typer.Exit(1)


def _key_and_ledger(public_key: Path | None) -> tuple[str, Ledger | None]:
    """An auditor's key file alone; without one, our own key and ledger (chain checked too)."""
    if public_key:
        return public_key.read_text(), None
    from resources import build_resources

    settings = Settings.from_env()
    settings.ensure_dirs()
    res = build_resources(settings)["ledger"]
    return res.key_ring().public_key_pem(), res.ledger()


def _verify_certificate(path: Path, public_key: Path | None, as_json: bool) -> None:
    """The final certificate: signature, its audit entry, and (with our ledger) the chain."""
    from dsr.proof.certificate import verify_certificate

    pem, ledger = _key_and_ledger(public_key)
    report = verify_certificate(path, pem, ledger=ledger)
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "kind": "final_certificate",
                "request_id": report.request_id,
                "backups": report.backups,
                "problems": report.problems,
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
        for problem in report.problems:
            console.print(f"[red]✗[/] {problem}")
    if not report.ok:
        raise typer.Exit(1)


def public_key() -> None:
    """Print the public key that verifies our bundles and proofs."""
    print(_our_public_key(), end="")


def verify_ledger(as_json: JsonOpt = False) -> None:
    """Check the whole ledger: the audit chain, its length against the signed checkpoints kept
    outside it, every proof and certificate's entry, and every request's state against its
    audit log. Exit 1 naming each problem (the first bad entry first)."""
    from dsr.ledger.integrity import verify_ledger as check
    from resources import build_resources

    settings = Settings.from_env()
    settings.ensure_dirs()
    ledger = build_resources(settings)["ledger"].ledger()
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
