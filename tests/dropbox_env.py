"""The Dropbox stand-in and connector as the Dropbox tests use them.

The SDK fixes its API hosts when ``dropbox`` is first imported, so every test shares the process's
one stand-in (``shared_standin`` sets the hosts before the first connector imports the SDK) and
resets it between tests. Nothing here imports ``dropbox`` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.base import Findings, Identity
from connectors.dropbox.files import DropboxConnector
from connectors.services import ServiceAccount
from dsr.democrm.planted import client_id, planted_id
from standins.dropbox import DropboxStandIn
from standins.dropbox_demo import DEMO_FILES, seed_demo, shared_standin

ACCOUNT = ServiceAccount(
    integration_id=str(planted_id("eu", 1)),
    client_id=str(client_id("Fabrikam GmbH")),
    region="eu",
    kind="dropbox",
    account="dropbox-sync@fabrikam.test",
    credential_ref="vault://integrations/eu/fabrikam/dropbox",
)
MARIA = {Identity("email", "maria.jensen@example.org")}
MARIA_AND_NAME = MARIA | {Identity("name", "maria jensen")}
MARIA_FILES = sorted(DEMO_FILES["maria"])
SECRETS = ("maria.jensen", "dropbox-sync@fabrikam.test", "m.jensen")


def demo_standin() -> Iterator[DropboxStandIn]:
    """The shared stand-in holding exactly the demo files, emptied again afterwards."""
    s = shared_standin()
    s.reset()
    s.page_size = 3  # small pages: every listing and search goes through its cursors
    seed_demo(s)
    yield s
    s.reset()


def connect(standin: DropboxStandIn, token: str | None = None, **kw: Any) -> DropboxConnector:
    options: dict[str, Any] = {"ca_file": standin.ca_file, "retry_wait": 0.01, "timeout": 2.0}
    return DropboxConnector(ACCOUNT, standin.token if token is None else token, **(options | kw))


def files_of(findings: Findings) -> dict[str, bytes]:
    return {r.data["path"]: r.data["content"] for r in findings.rows if r.ref.table == "files"}


def snapshot(standin: DropboxStandIn) -> dict[str, tuple[bytes, str]]:
    out = {}
    for path in standin.paths():
        entry = standin.get(path)
        assert entry is not None
        out[path] = (entry.content, entry.rev)
    return out


def assert_safe(message: str) -> None:
    assert ACCOUNT.label in message
    assert not any(s in message.lower() for s in SECRETS), "an identity leaked into an error"
