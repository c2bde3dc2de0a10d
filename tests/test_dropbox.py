"""Dropbox through the official SDK over real TLS against the stand-in: recall, precision,
erasure, verification, the SDK's hosts and the stand-in's wire rules. Faults: test_dropbox_faults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from connectors.base import Identity
from connectors.dropbox.files import configure_dropbox_hosts
from connectors.services import ServiceError
from standins.dropbox import DropboxStandIn
from standins.dropbox_demo import DEMO_FILES, MARIA_FOLDER, SYNC_ROOT
from tests.dropbox_env import (
    ACCOUNT,
    MARIA,
    MARIA_AND_NAME,
    MARIA_FILES,
    connect,
    demo_standin,
    files_of,
    snapshot,
)


@pytest.fixture
def standin() -> Iterator[DropboxStandIn]:
    yield from demo_standin()


# -- recall and precision -----------------------------------------------------------------------


def test_finds_every_file_of_the_person_with_its_content(standin: DropboxStandIn) -> None:
    findings = connect(standin).find(MARIA)
    assert (findings.system, findings.region) == ("dropbox", "eu")
    assert files_of(findings) == DEMO_FILES["maria"]
    assert findings.row_counts() == {"files": 3, "folders": 1}
    folder = next(r for r in findings.rows if r.ref.table == "folders")
    assert folder.data["path"] == MARIA_FOLDER
    for row in findings.rows:
        assert row.via == "identity:email"
        assert row.ref.region == "eu" and row.ref.pk.startswith("id:")
        if row.ref.table == "files":
            entry = standin.get(row.data["path"])
            assert entry is not None and row.ref.pk == entry.id and row.data["rev"] == entry.rev
            assert row.data["filename"] == row.data["name"] == row.data["path"].rsplit("/")[-1]
            assert row.data["size"] == len(row.data["content"])
            assert row.data["server_modified"] == "2026-01-15T10:00:00Z"
    matched = {r.data["name"]: r.data["matched_in"] for r in findings.rows}
    assert matched["2026-01-15 call notes.txt"] == ["content"]  # found by search only
    assert matched["signed-scan.pdf"] == ["path"]  # found by her folder only


@pytest.mark.parametrize(
    "spelling",
    ["MARIA.JENSEN@EXAMPLE.ORG", " Maria.Jensen@Example.org ", "maria.jensen@example.org"],
)
def test_case_and_format_variants_find_the_same_files(
    standin: DropboxStandIn, spelling: str
) -> None:
    standin.put(f"{SYNC_ROOT}/contacts/MARIA.JENSEN@EXAMPLE.ORG/visit report.txt", b"Site visit.")
    standin.put(f"{SYNC_ROOT}/notes/mixed.txt", b"cc: Maria.Jensen@EXAMPLE.org, please review")
    found = files_of(connect(standin).find({Identity("email", spelling)}))
    extra = {f"{SYNC_ROOT}/contacts/MARIA.JENSEN@EXAMPLE.ORG/visit report.txt",
             f"{SYNC_ROOT}/notes/mixed.txt"}  # fmt: skip
    assert set(found) == set(MARIA_FILES) | extra


def test_namesakes_near_misses_and_files_outside_the_sync_folder_are_not_hers(
    standin: DropboxStandIn,
) -> None:
    near = f"{SYNC_ROOT}/notes/anna.txt"
    standin.put(near, b"Forwarded by anna.maria.jensen@example.org and maria.jensen@example.org.uk")
    findings = connect(standin).find(MARIA_AND_NAME)
    assert sorted(files_of(findings)) == MARIA_FILES
    # The namesake's file says "Maria Jensen": reported as a name mention, never as hers.
    (mention,) = findings.mentions
    namesake = standin.get(next(iter(DEMO_FILES["maria_namesake"])))
    assert namesake is not None and mention.ref.pk == namesake.id
    assert mention.kinds == ("name",) and mention.column == "content"


def test_a_content_hit_in_a_binary_file_that_cannot_be_confirmed_is_reported(
    standin: DropboxStandIn,
) -> None:
    standin.put(f"{SYNC_ROOT}/scans/fax.bin", b"\x00\x01\xffanna.maria.jensen@example.org\x00")
    findings = connect(standin).find(MARIA)
    assert sorted(files_of(findings)) == MARIA_FILES
    assert "1 search hit(s)" in findings.skipped_tables["files (binary content)"]


# -- erasure and verification -------------------------------------------------------------------


def test_erase_deletes_exactly_her_files_and_verify_finds_nothing(standin: DropboxStandIn) -> None:
    connector = connect(standin)
    before = snapshot(standin)
    findings = connector.find(MARIA_AND_NAME)
    erasure = connector.erase(findings, MARIA_AND_NAME)
    assert erasure.account == ACCOUNT.label and erasure.pending == []
    assert erasure.applied == {
        "files": {"deleted": 3, "already_gone": 0},
        "folders": {"deleted": 1, "already_gone": 0, "kept_not_empty": 0},
    }
    others = {p: v for p, v in before.items() if p not in MARIA_FILES}
    assert snapshot(standin) == others  # byte for byte, same revs: nobody else was touched
    assert MARIA_FOLDER not in standin.paths(folders=True)
    verification = connector.verify(MARIA_AND_NAME)
    assert verification.ok and verification.remaining == {"files": 0, "folders": 0}


def test_erase_is_idempotent(standin: DropboxStandIn) -> None:
    connector = connect(standin)
    findings = connector.find(MARIA)
    connector.erase(findings, MARIA)
    again = connector.erase(findings, MARIA)
    assert again.applied["files"] == {"deleted": 0, "already_gone": 3}
    assert again.applied["folders"]["already_gone"] == 1
    fresh = connector.erase(connector.find(MARIA), MARIA)
    assert fresh.applied["files"] == {"deleted": 0, "already_gone": 0}


def test_a_file_that_arrives_after_find_keeps_its_folder_and_fails_verify(
    standin: DropboxStandIn,
) -> None:
    connector = connect(standin)
    findings = connector.find(MARIA)
    standin.put(f"{MARIA_FOLDER}/late.txt", b"synced after the search")
    erasure = connector.erase(findings, MARIA)
    assert erasure.applied["folders"]["kept_not_empty"] == 1
    verification = connector.verify(MARIA)
    assert not verification.ok and verification.remaining == {"files": 1, "folders": 1}


def test_findings_outside_the_sync_folder_are_refused(standin: DropboxStandIn) -> None:
    connector = connect(standin)
    findings = connector.find(MARIA)
    findings.rows[0].data["path"] = "/Private/elsewhere.txt"
    with pytest.raises(ServiceError, match="outside /iNextCRM"):
        connector.erase(findings, MARIA)
    assert set(MARIA_FILES) <= set(standin.paths())


# -- hosts and wire rules -----------------------------------------------------------------------


def test_hosts_set_after_the_sdk_was_imported_are_refused(
    standin: DropboxStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect(standin)  # the SDK is imported by now, with the stand-in's host
    configure_dropbox_hosts(standin.host_port)  # the same host again: harmless
    with pytest.raises(RuntimeError, match="before its hosts were configured"):
        configure_dropbox_hosts("127.0.0.1:1")
    monkeypatch.setenv("DROPBOX_API_HOST", "127.0.0.1:1")
    with pytest.raises(ServiceError, match="imported before"):
        connect(standin)


def test_the_standin_enforces_the_wire_rules(standin: DropboxStandIn) -> None:
    http = requests.Session()
    http.trust_env = False
    http.verify = standin.ca_file
    url = f"https://{standin.host_port}/2/files"
    auth = {"Authorization": f"Bearer {standin.token}"}
    assert http.get(f"{url}/list_folder", headers=auth).status_code == 405
    body = '{"path": "/iNextCRM"}'
    charset = {**auth, "Content-Type": "application/json; charset=utf-8"}
    assert http.post(f"{url}/list_folder", data=body, headers=charset).status_code == 400
    rpc = {**auth, "Content-Type": "application/json"}
    answer = http.post(f"{url}/list_folder", data=body, headers=rpc)
    assert answer.headers["Content-Type"] == "application/json" and answer.json()["cursor"]
    bad = http.post(f"{url}/list_folder", data='{"path": "", "bogus": 1}', headers=rpc)
    assert bad.status_code == 400
    missing = http.post(f"{url}/download", headers={**auth, "Dropbox-API-Arg": '{"path": "/x"}'})
    assert missing.status_code == 409
    assert missing.json()["error"] == {".tag": "path", "path": {".tag": "not_found"}}
    wrong = http.post(f"{url}/list_folder", data=body, headers={**rpc, "Authorization": "Bearer x"})
    assert wrong.status_code == 401 and wrong.json()["error"][".tag"] == "invalid_access_token"
    entry = standin.get(MARIA_FILES[0])
    assert entry is not None and len(entry.rev) >= 9
