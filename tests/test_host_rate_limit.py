"""GoToMeeting's 10 requests/s per account hold for every run of the host together: concurrent
runs and the requests of a batch share one window, where each connector used to keep its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from connectors.gotomeeting.host_rate_limit import HostRateLimiter, account_limiter

# One process taking ``n`` slots of the shared window and printing when it got each.
_TAKER = """
import sys, time
from pathlib import Path
from connectors.gotomeeting.host_rate_limit import HostRateLimiter

limiter = HostRateLimiter(Path(sys.argv[1]), float(sys.argv[2]))
for _ in range(int(sys.argv[3])):
    limiter.acquire()
    print(time.monotonic(), flush=True)
"""


def _busiest_window(starts: list[float], period: float) -> int:
    starts = sorted(starts)
    return max(sum(1 for t in starts[i:] if t < s + period) for i, s in enumerate(starts))


def test_three_processes_share_one_window(tmp_path: Path) -> None:
    path = tmp_path / "gotomeeting-account.json"
    rate, each = 10.0, 12
    takers = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKER, str(path), str(rate), str(each)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    starts = [float(line) for t in takers for line in t.communicate(timeout=120)[0].split()]
    assert [t.returncode for t in takers] == [0, 0, 0]
    assert len(starts) == 3 * each
    # Never more than 10 starts in any second, across all processes (each alone would have
    # allowed 10, so 30 at once without sharing). The limiter's window is a second plus a
    # margin, which absorbs the moment between taking a slot and printing it.
    assert _busiest_window(starts, 1.0) <= 10


def test_a_429_pause_holds_back_the_other_processes(tmp_path: Path) -> None:
    path = tmp_path / "account.json"
    HostRateLimiter(path, 10.0).pause(0.6)
    waited = subprocess.run(
        [sys.executable, "-c", _TAKER, str(path), "10", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    paused_until = json.loads(path.read_text())["paused_until"]
    assert float(waited.stdout) >= paused_until


def test_a_damaged_or_stale_window_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "account.json"
    path.write_text('{"sent": [1e12, 1e12], "paused_until": 1e12')  # cut short by a kill
    HostRateLimiter(path, 1.0).acquire()  # returns at once: nothing to wait for
    path.write_text('{"sent": [1e12], "paused_until": 1e12}')  # written before a reboot
    HostRateLimiter(path, 1.0).acquire()


def test_files_are_named_by_a_digest_never_by_the_account() -> None:
    limiter = account_limiter(Path("/x"), "gotomeeting", "vault://integrations/us/7/goto", 10)
    assert limiter is not None and "vault" not in limiter.path.name
    assert limiter.path.name.startswith("gotomeeting-")
    assert account_limiter(None, "gotomeeting", "vault://x", 10) is None
