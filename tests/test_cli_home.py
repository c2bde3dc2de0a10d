"""DSR_HOME is found the same way from any folder: the variable, else the nearest `.dsr` above
the current folder (as git finds `.git`). Outside any project a command that would read state
refuses, and one that creates state says where first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dsr.democrm.planted import DEMO_EMAIL
from dsr.home import HOME_DIR, HomeSource, find_home
from tests.cli_env import dsr, dsr_json
from tests.dsr_env import DsrEnv, demo_environment

UNSET = {"DSR_HOME": None}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[DsrEnv]:
    """A seeded home at <tmp>/project/.dsr, as `scripts/demo.sh` leaves one."""
    with demo_environment(tmp_path / "project" / HOME_DIR) as env:
        yield env


def _outside(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert find_home(folder, env={}).source is HomeSource.NEW  # no .dsr above it either
    return folder


def test_the_nearest_dsr_folder_above_is_the_home(project: DsrEnv, tmp_path: Path) -> None:
    deeper = tmp_path / "project" / "docs" / "notes"
    deeper.mkdir(parents=True)
    assert find_home(deeper, env={}).path == project.settings.home
    assert find_home(deeper, env={"DSR_HOME": str(tmp_path / "x")}).source is HomeSource.ENV


def test_from_a_subfolder_dsr_uses_the_projects_home(
    project: DsrEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deeper = tmp_path / "project" / "docs"
    deeper.mkdir()
    monkeypatch.chdir(deeper)
    done = dsr("access", "--email", DEMO_EMAIL, "--queue", "--json", env=UNSET)
    assert done.code == 0, done
    assert [r.state for r in project.ledger.list_requests()] == ["received"]
    assert not (deeper / HOME_DIR).exists()
    assert "note:" not in done.err


def test_outside_a_project_reading_commands_refuse_and_create_nothing(
    project: DsrEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proof_like = tmp_path / "project" / "a.proof.json"
    proof_like.write_text("{}")
    monkeypatch.chdir(_outside(tmp_path))
    for args in (
        ["status", "r-20260101-00000000"],
        ["run", "r-20260101-00000000"],
        ["deadlines"],
        ["public-key"],
        ["verify-proof", str(proof_like)],
        ["verify-bundle", str(proof_like)],
        ["restore-backup", "b-us-20260101T000000Z-abcdef", "--target", str(tmp_path / "r")],
    ):
        refused = dsr(*args, env=UNSET)
        assert refused.code == 2, (args, refused)
        assert len(refused.err_lines) == 1, refused.err
        assert "DSR_HOME is unset and there is no .dsr folder" in refused.err
        assert "set DSR_HOME" in refused.err
    assert list(Path.cwd().iterdir()) == [] and not (tmp_path / "r").exists()


def test_outside_a_project_a_new_home_is_announced_before_it_is_made(
    project: DsrEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = _outside(tmp_path)
    monkeypatch.chdir(here)
    seeded = dsr("seed", "--contacts", "10", env=UNSET)
    assert seeded.code == 0, seeded
    assert seeded.err_lines[0] == (
        f"note: creating a new dsr home (keys, ledger, stores) in {here / HOME_DIR} (DSR_HOME "
        f"is unset and there is no .dsr folder in {here} or any folder above it)"
    )
    assert (here / HOME_DIR / "crm" / "us.sqlite").is_file()
    again = dsr("seed", "--contacts", "10", env=UNSET)
    assert again.code == 0 and "note:" not in again.err  # found now: nothing new to announce


def test_a_proof_from_another_installation_names_this_installations_key(
    project: DsrEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = dsr_json("erase", "--email", DEMO_EMAIL, "--verified-by", "agent-1")
    proof = Path(done["proof"])
    published = tmp_path / "inextcrm.pub"
    published.write_text(dsr_json("public-key")["public_key"])

    other = tmp_path / "other-installation" / HOME_DIR
    other.mkdir(parents=True)
    env = {"DSR_HOME": str(other)}
    assert dsr("public-key", env=env).code == 0  # this installation's own key, made here
    shown = dsr("verify-proof", str(proof), env=env)
    assert shown.code == 1
    assert f"not signed with this installation's key ({other / 'keys' / 'signing.pem'})" in (
        shown.out
    )
    assert "trusted public key given" not in shown.out
    valid = dsr("verify-proof", str(proof), "--public-key", str(published), env=env)
    assert valid.code == 0 and "valid" in valid.out
