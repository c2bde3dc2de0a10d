"""The last asset of a request whose regions did the work: it records the request fulfilled.

It takes every region's output, records the request fulfilled in the ledger with a summary of
them, removes what was kept only to fulfil it (``pipelines.erasure_cleanup``) and releases the
request's lease. Rectification, opt-out and restriction end this way; what each summarises is
its own.
"""

from collections.abc import Callable, Iterable
from typing import Any

from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, MaterializeResult, asset

from dsr.ledger import State
from pipelines.erasure_cleanup import finish_cleanup
from pipelines.partitions import partitions_for
from pipelines.request_lease import hold_request, release_request
from pipelines.request_state import failing_request
from resources.ledger import LedgerResource
from resources.staging import StagingArea

# The regions' outputs by asset name -> (the ledger's result, the materialization's metadata).
Summarise = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]]


def record_asset(
    *,
    name: str,
    group: str,
    inputs: Iterable[str],
    description: str,
    step: str,
    summarise: Summarise,
) -> AssetsDefinition:
    """The asset ``name`` that closes a ``group`` request once its ``inputs`` are done; ``step``
    names it in the ledger if recording fails."""

    @asset(
        name=name,
        partitions_def=partitions_for(group),
        group_name=group,
        ins={input_name: AssetIn() for input_name in inputs},
        kinds={"json"},
        description=description,
    )
    def _record(
        context: AssetExecutionContext,
        ledger: LedgerResource,
        staging: StagingArea,
        **per_region: Any,
    ) -> MaterializeResult:
        result, metadata = summarise(per_region)
        request_id = context.partition_key
        led = ledger.ledger()
        hold_request(context, led, request_id)
        with failing_request(context, led, request_id, step):
            led.transition(request_id, State.FULFILLED, result=result)
        # What stays (a restriction's identities while it is in force) is finish_cleanup's to know.
        finish_cleanup(context.instance, led, staging, led.get(request_id))
        release_request(led, request_id, context.run.run_id)
        return MaterializeResult(metadata=metadata)

    return _record
