"""Crash points: where the crash tests kill a real process, and nothing else.

``crash_point(name)`` does nothing unless the environment variable ``DSR_CRASH_AT`` names it
(only tests set it, in a process they start): then the process is killed with SIGKILL at once,
as a power cut or the OOM killer would, without unwinding, flushing or running ``finally``.
Every point marks a boundary between two things that cannot be made one transaction (a CRM
commit and its audit entry, a proof's entry and its file), so the tests can check that a resume
ends in exactly one consistent outcome from each of them.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "DSR_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
