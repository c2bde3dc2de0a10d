"""A request-rate limit that every process on this host shares, for one service account.

A service's limit (GoToMeeting: 10 requests/s) is per account, while requests for one account
come from several places at once: the threads of one search, the requests of a batch run one
after another (each with its own connector), and concurrent runs in other processes. A limiter
held in memory sees only the first. This one keeps the account's recent request starts in a small
file under an exclusive ``flock``: a slot is taken by reading the window, and appending to it
when it has room, under the lock.

Times are ``time.monotonic()``, which on Linux is one clock for every process of the host (time
since boot, unaffected by wall-clock changes); a start later than now can only be left from
before a reboot and is dropped. Hosts do not share the file: when runs of one account execute on
several machines, the run queue must keep them to one at a time (README, Throughput).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

State = dict[str, Any]


class HostRateLimiter:
    """At most ``rate_per_second`` request starts per second across threads and processes.

    The window is ``margin`` longer than a second so that network jitter cannot squeeze one
    second's worth of our requests into less than a second of the server's clock.
    """

    def __init__(self, path: Path, rate_per_second: float, margin: float = 0.1) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.path = path
        self.capacity = max(1, math.floor(rate_per_second))
        self.period = self.capacity / rate_per_second + margin
        self._lock = threading.Lock()  # threads of this process queue here, not on the file
        path.parent.mkdir(parents=True, exist_ok=True)

    def acquire(self) -> None:
        with self._lock:
            while True:
                wait = self._try_take()
                if wait <= 0:
                    return
                time.sleep(wait)

    def pause(self, seconds: float) -> None:
        """A 429 holds back every request for the account, in every process."""
        with self._locked() as (state, save):
            state["paused_until"] = max(state["paused_until"], time.monotonic() + seconds)
            save(state)

    def _try_take(self) -> float:
        """Take a slot and return 0, or return how long to wait before trying again."""
        with self._locked() as (state, save):
            now = time.monotonic()
            sent = [t for t in state["sent"] if now - self.period < t <= now]
            paused = state["paused_until"] if state["paused_until"] <= now + 3600 else 0.0
            wait = paused - now
            if len(sent) >= self.capacity:
                wait = max(wait, sent[0] + self.period - now)
            if wait <= 0:
                sent.append(now)
            save({"sent": sent, "paused_until": paused})
            return wait

    def _locked(self) -> _LockedState:
        return _LockedState(self.path)


def account_limiter(
    folder: Path | None, service: str, credential_ref: str, rate_per_second: float
) -> HostRateLimiter | None:
    """The host-wide limiter of one connected account, or None without a folder.

    The file is named by a digest of the account's credential reference: an account's login may
    be a person's address, and file names end up in listings and logs.
    """
    if folder is None:
        return None
    digest = hashlib.sha256(f"{service}\0{credential_ref}".encode()).hexdigest()[:24]
    return HostRateLimiter(folder / f"{service}-{digest}.json", rate_per_second)


class _LockedState:
    """The account's window, read and written under an exclusive lock on its file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def __enter__(self) -> tuple[State, Callable[[State], None]]:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        raw = os.pread(self._fd, 1 << 16, 0)
        try:
            state = json.loads(raw) if raw else {}
        except ValueError:  # a write cut short by a kill: start an empty window
            state = {}
        state = {
            "sent": sorted(float(t) for t in state.get("sent", [])),
            "paused_until": float(state.get("paused_until", 0.0)),
        }
        return state, self._save

    def _save(self, state: State) -> None:
        data = json.dumps(state).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
