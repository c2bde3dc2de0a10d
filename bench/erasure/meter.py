"""Per-phase clocks for an erasure, with peak RSS and statement counts, without changing the path.

``TimedEraser`` is ``CrmEraser`` with each verb ``erase`` calls (plan, apply, physical_cleanup,
verify) wrapped in a clock, so ``erase`` itself runs exactly as production runs it.

Peak RSS per phase: before each phase the resident-set high-water mark of this process is reset
(``echo 5 > /proc/self/clear_refs``), so ``VmHWM`` read after the phase is that phase's own peak,
not a leftover of an earlier one. Where the reset is refused, the figure is the running peak.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import perf_counter
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.child import status_mb
from connectors.base import Identity
from connectors.crm.sql import CrmSqlConnector
from dsr.erasure.crm import CrmEraser, ErasurePlan, Verification

PHASES = ("discovery", "plan", "apply", "physical", "verification", "proof")
# The batch's re-search of every subject in one ``find`` (see ``bench.erasure.batch.batch``).
BATCHED = "verify_batched"
# The first words of the statements physical cleanup sends, timed one by one.
_PHYSICAL = ("VACUUM", "PRAGMA WAL_CHECKPOINT")


def reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS; False if the kernel refused."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


class Peaks:
    """Phase -> highest VmHWM (MB) seen at the end of that phase, over every subject."""

    def __init__(self) -> None:
        self.mb: dict[str, float] = defaultdict(float)
        self.resettable = reset_peak()

    def start(self) -> None:
        if self.resettable:
            reset_peak()

    def end(self, phase: str) -> None:
        self.mb[phase] = max(self.mb[phase], status_mb("VmHWM"))


class Meter:
    """Seconds and SQL statements per phase for one subject (or one batch)."""

    active: Meter | None = None  # the meter the statement listener counts into

    def __init__(self, peaks: Peaks) -> None:
        self.peaks = peaks
        self.seconds: dict[str, float] = defaultdict(float)
        self.statements: dict[str, int] = defaultdict(int)
        self.stages: dict[str, float] = defaultdict(float)  # "verification/mentions" -> s
        self.phase: str | None = None

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        self.peaks.start()
        Meter.active, self.phase = self, phase
        start = perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += perf_counter() - start
            Meter.active, self.phase = None, None
            self.peaks.end(phase)

    def figures(self) -> dict[str, Any]:
        seconds = {p: self.seconds.get(p, 0.0) for p in PHASES}
        return {
            "seconds": seconds,
            "total_s": sum(seconds.values()),
            "statements": dict(self.statements),
            "stages": dict(self.stages),
        }


class StatementLog:
    """Counts statements into the active meter; times each physical-cleanup statement
    (``VACUUM (FULL) "notes"``, a WAL checkpoint) on its own."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._started: dict[int, float] = {}

    def before(self, _conn: Any, cursor: Any, sql: str, *_rest: Any) -> None:
        if Meter.active is not None and Meter.active.phase:
            Meter.active.statements[Meter.active.phase] += 1
        if sql.lstrip().upper().startswith(_PHYSICAL):
            self._started[id(cursor)] = perf_counter()

    def after(self, _conn: Any, cursor: Any, sql: str, *_rest: Any) -> None:
        began = self._started.pop(id(cursor), None)
        if began is not None:
            key = " ".join(sql.split())
            self.seconds[key] += perf_counter() - began
            self.calls[key] += 1

    def listen(self, engines: Sequence[Engine]) -> None:
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self.before)
            event.listen(engine, "after_cursor_execute", self.after)

    def targets(self) -> list[str]:
        """The relations VACUUM ran on (names as sent), for their sizes."""
        out = []
        for key in self.seconds:
            if key.upper().startswith("VACUUM"):
                name = key.split()[-1].strip('"')
                if name not in out:
                    out.append(name)
        return out


class TimedConnector(CrmSqlConnector):
    """``CrmSqlConnector`` whose three search passes report to the active meter's phase."""

    @contextmanager
    def _stage(self, stage: str) -> Iterator[None]:
        meter = Meter.active
        start = perf_counter()
        try:
            yield
        finally:
            if meter is not None and meter.phase:
                meter.stages[f"{meter.phase}/{stage}"] += perf_counter() - start

    def _fixpoint(self, *args: Any, **kwargs: Any) -> None:
        with self._stage("identities"):
            super()._fixpoint(*args, **kwargs)

    def _follow_references(self, *args: Any, **kwargs: Any) -> None:
        with self._stage("references"):
            super()._follow_references(*args, **kwargs)

    def _mentions(self, *args: Any, **kwargs: Any) -> Any:
        with self._stage("mentions"):
            return super()._mentions(*args, **kwargs)


class TimedEraser(CrmEraser):
    """``CrmEraser`` whose verbs report to ``self.meter``; ``erase`` is inherited unchanged."""

    meter: Meter | None = None

    def _clock(self, phase: str) -> contextlib.AbstractContextManager[None]:
        return self.meter(phase) if self.meter is not None else contextlib.nullcontext()

    def plan(self, findings: Any) -> ErasurePlan:
        with self._clock("plan"):
            return super().plan(findings)

    def apply(
        self, plans: Sequence[ErasurePlan], identities: Mapping[str, set[Identity]]
    ) -> dict[str, dict[str, dict[str, int]]]:
        with self._clock("apply"):
            return super().apply(plans, identities)

    def physical_cleanup(self, tables: Collection[str]) -> None:
        with self._clock("physical"):
            super().physical_cleanup(tables)

    def verify(
        self, identities: set[Identity], *, scope: str, client_id: str | None
    ) -> Verification:
        with self._clock("verification"):
            return super().verify(identities, scope=scope, client_id=client_id)


def relation_sizes_mb(engine: Engine, names: Sequence[str]) -> dict[str, float]:
    """Table + indexes + TOAST of each relation, in MB (PostgreSQL only; else empty)."""
    if engine.dialect.name != "postgresql" or not names:
        return {}
    out: dict[str, float] = {}
    with engine.connect() as conn:
        for name in names:
            size = conn.exec_driver_sql(
                "SELECT pg_total_relation_size(CAST(%(n)s AS regclass))", {"n": name}
            ).scalar_one()
            out[name] = int(size) / 2**20
    return out
