"""The three local stand-ins, seeded with the demo cast, for `dsr demo`, `dsr ui` and tests.

The planted CRM connects Google and GoToMeeting for Northwind Traders (us) and Dropbox for
Fabrikam GmbH (eu). ``DemoServices.env()`` is everything a process needs to reach them: the
endpoints, the CA to trust for Dropbox's TLS, and the credentials under the vault paths the
CRM's integrations table names. Stand-in state lives in memory and is fresh at each start.
"""

from __future__ import annotations

from connectors.dropbox.sdk import configure_dropbox_hosts
from standins.dropbox import DEMO_TOKEN as DROPBOX_TOKEN
from standins.dropbox_demo import seed_demo as seed_dropbox
from standins.dropbox_demo import shared_standin
from standins.google import GoogleStandIn
from standins.google import seed_demo as seed_google
from standins.gotomeeting import GoToMeetingStandIn
from standins.gotomeeting import seed_demo as seed_gotomeeting

GOOGLE_TOKEN = "standin-google-northwind"
GOTOMEETING_TOKEN = "standin-gotomeeting-northwind"
CREDENTIALS = {
    "DSR_CREDENTIAL_INTEGRATIONS_US_NORTHWIND_GOOGLE": GOOGLE_TOKEN,
    "DSR_CREDENTIAL_INTEGRATIONS_US_NORTHWIND_GOTOMEETING": GOTOMEETING_TOKEN,
    "DSR_CREDENTIAL_INTEGRATIONS_EU_FABRIKAM_DROPBOX": DROPBOX_TOKEN,
    "DSR_CREDENTIAL_INTEGRATIONS_US_NORTHWIND_DROPBOX": DROPBOX_TOKEN,
}


class DemoServices:
    """Google, Dropbox (TLS) and GoToMeeting on 127.0.0.1, seeded with the demo data."""

    def __init__(self) -> None:
        self.google = GoogleStandIn(GOOGLE_TOKEN, account="crm-sync@northwind.test").start()
        self.google_ids = seed_google(self.google)
        self.gotomeeting = GoToMeetingStandIn(
            token=GOTOMEETING_TOKEN, account_email="meetings@northwind.test"
        ).start()
        self.gotomeeting_ids = seed_gotomeeting(self.gotomeeting)
        # The Dropbox SDK reads its hosts once per process: one shared stand-in, reset here.
        self.dropbox = shared_standin()
        self.dropbox.reset()
        self.dropbox_paths = seed_dropbox(self.dropbox)

    def env(self) -> dict[str, str]:
        return {
            "DSR_GOOGLE_URL": self.google.url,
            "DSR_GOTOMEETING_URL": self.gotomeeting.base_url,
            "DSR_DROPBOX_CA": str(self.dropbox.ca_file),
            "DROPBOX_API_HOST": self.dropbox.host_port,
            "DROPBOX_API_CONTENT_HOST": self.dropbox.host_port,
            "DROPBOX_API_NOTIFY_HOST": self.dropbox.host_port,
            **CREDENTIALS,
        }

    def stop(self) -> None:
        self.google.stop()
        self.gotomeeting.stop()

    def __enter__(self) -> DemoServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["DemoServices", "configure_dropbox_hosts"]
