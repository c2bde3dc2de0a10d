"""The benchmarks' one command: ``python -m bench <benchmark> [options]``.

``python -m bench --help`` lists the benchmarks; ``python -m bench <benchmark> --help`` gives that
benchmark's own options. A benchmark's module is imported only when it runs, so the list stays
quick to print.
"""

from __future__ import annotations

import importlib
import sys

# name: (module with main(argv), what it measures)
COMMANDS: dict[str, tuple[str, str]] = {
    "access": (
        "bench.access.cli",
        "access-request discovery and bundle assembly on 10k → 1M-contact CRMs",
    ),
    "erasure": (
        "bench.erasure.cli",
        "erasure: one subject, and a batch in one transaction, per CRM size",
    ),
    "services": (
        "bench.services.cli",
        "the Google, Dropbox and GoToMeeting connectors on one person over many items",
    ),
    "backups": (
        "bench.backups.cli",
        'D daily backups of a CRM region, and "which backups hold this person?"',
    ),
    "breach": (
        "bench.breach",
        "breach impact over a seeded CRM: time per phase and peak memory per size",
    ),
    "deadlines": ("bench.deadlines", "what the deadline sensor costs per tick as the ledger grows"),
    "launch": (
        "bench.launch.cli",
        "Launch → result under dagster dev, against Dagster's own floor",
    ),
    "matching": ("bench.matching", "recall and precision of identity matching, per backend"),
    "throughput": (
        "bench.throughput",
        "requests per second through the product's own Dagster batch jobs",
    ),
    "floor": ("bench.floor.cli", "discovery against the raw-SQL floor a DBA would write by hand"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: python -m bench <benchmark> [options]",
        "",
        "Benchmarks: commands that measure, not tests. Options per benchmark:",
        "python -m bench <benchmark> --help",
        "",
        "benchmarks:",
        *(f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(f"\npython -m bench: unknown benchmark {name!r}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest) or 0


if __name__ == "__main__":
    raise SystemExit(main())
