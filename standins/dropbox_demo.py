"""Demo data for the Dropbox stand-in, and one stand-in per process for tests and the demo.

Fabrikam GmbH (eu) connected Dropbox (the planted ``integrations`` row: account
dropbox-sync@fabrikam.test, credential vault://integrations/eu/fabrikam/dropbox). Its CRM sync
folder holds three files of the demo person, Maria Jensen (maria.jensen@example.org) — one named
with her e-mail in another case, one that mentions her in its text, one in her contact folder —
next to her namesake's file (m.jensen@fabrikam.test, which also says "Maria Jensen"), another
contact's file and a shared template. A file outside the sync folder mentions her too: it is the
Client's own and must stay untouched.
"""

from __future__ import annotations

import threading

from connectors.dropbox.sdk import configure_dropbox_hosts
from standins.dropbox import DropboxStandIn

SYNC_ROOT = "/iNextCRM"
MARIA_FOLDER = f"{SYNC_ROOT}/contacts/maria.jensen@example.org"
_PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n"

# owner -> path -> content. "outside" lies outside the sync folder; "nobody" is shared.
DEMO_FILES: dict[str, dict[str, bytes]] = {
    "maria": {
        f"{SYNC_ROOT}/attachments/Consulting contract (Maria.Jensen@Example.org).pdf": _PDF
        + b"BT (Consulting agreement, Fabrikam GmbH) Tj ET\n%%EOF\n",
        f"{SYNC_ROOT}/notes/2026-01-15 call notes.txt": (
            b"Call with maria.jensen@example.org about consulting rates for Q2.\n"
            b"She wants the signed contract back by Friday.\n"
        ),
        f"{MARIA_FOLDER}/signed-scan.pdf": _PDF + b"BT (signed, page 1 of 1) Tj ET\n%%EOF\n",
    },
    "maria_namesake": {
        f"{SYNC_ROOT}/contacts/m.jensen@fabrikam.test/freight-contract.txt": (
            b"Freight contract, northern region.\nContact: Maria Jensen <m.jensen@fabrikam.test>\n"
        ),
    },
    "jonas": {
        f"{SYNC_ROOT}/attachments/quote (jonas.weber@example.net).txt": (
            b"Quote Q-2211 for Wingtip Toys B.V.\nBuyer: jonas.weber@example.net\n"
        ),
    },
    "nobody": {f"{SYNC_ROOT}/templates/welcome-letter.txt": b"Dear customer, welcome aboard.\n"},
    "outside": {"/Private/maria.jensen@example.org - own notes.txt": b"Not synced by the CRM.\n"},
}


def seed_demo(standin: DropboxStandIn) -> dict[str, list[str]]:
    """Write the demo files; returns owner -> sorted paths, for expectations."""
    for files in DEMO_FILES.values():
        for path, content in files.items():
            standin.put(path, content, server_modified="2026-01-15T10:00:00Z")
    return {owner: sorted(files) for owner, files in DEMO_FILES.items()}


_shared: DropboxStandIn | None = None
_shared_lock = threading.Lock()


def shared_standin() -> DropboxStandIn:
    """The process's one Dropbox stand-in, started on first use with the SDK hosts pointing at it.

    The SDK fixes its hosts at its first import, so a process can reach only one Dropbox host:
    tests and in-process pipeline runs share this stand-in and call ``reset()`` between uses.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            standin = DropboxStandIn().start()
            configure_dropbox_hosts(standin.host_port)
            _shared = standin
        return _shared
