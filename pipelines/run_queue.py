"""How many runs may use one regional database or one integrated service at once.

Every fulfilment run the sensor launches carries a tag per regional database and per integrated
service it may reach; the instance's run queue (``dagster.yaml``, written by
``pipelines.launch``) holds back a run whose tag is at its limit. A request's run cannot know in
advance which services the person's Clients connect, so every run is tagged with all of them.
GoToMeeting allows 10 requests per second per account: the runs of one host share each
account's window (connectors.gotomeeting.host_rate_limit), so its limit here only bounds how many
runs wait on GoToMeeting at once. Runs on several hosts do not share the window: an operator whose
launcher spreads runs over machines sets ``dsr/service_gotomeeting`` to 1 in their own
``dagster.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SERVICES = ("google", "dropbox", "gotomeeting")
RUNS_PER_DATABASE = 2
RUNS_PER_SERVICE = {"google": 2, "dropbox": 2, "gotomeeting": 2}
MAX_CONCURRENT_RUNS = 4


def database_tag(region: str) -> str:
    return f"dsr/crm_{region}"


def service_tag(service: str) -> str:
    return f"dsr/service_{service}"


def system_tags(regions: Iterable[str]) -> dict[str, str]:
    """The tags of a run that may touch every regional database and every service."""
    tags = {database_tag(r): "1" for r in regions}
    tags.update({service_tag(s): "1" for s in SERVICES})
    return tags


def run_queue_config(regions: Iterable[str]) -> dict[str, Any]:
    """The ``run_queue`` section of ``dagster.yaml``."""
    limits = [{"key": database_tag(r), "limit": RUNS_PER_DATABASE} for r in regions]
    limits += [{"key": service_tag(s), "limit": n} for s, n in RUNS_PER_SERVICE.items()]
    return {"max_concurrent_runs": MAX_CONCURRENT_RUNS, "tag_concurrency_limits": limits}
