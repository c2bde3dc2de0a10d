"""Where deadline alerts go besides the Dagster UI, and how early they start."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from dsr.alerts import post_alert


class AlertsResource(ConfigurableResource):
    webhook_url: str = Field(
        default="", description="URL that receives deadline alerts as JSON (empty: none)"
    )
    warn_days: int = Field(
        default=5, ge=0, description="Alert for open requests due within this many days"
    )

    def send(self, payload: dict[str, Any]) -> bool:
        """True when a webhook received it; False when none is configured."""
        if not self.webhook_url:
            return False
        post_alert(self.webhook_url, payload)
        return True
