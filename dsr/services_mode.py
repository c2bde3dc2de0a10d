"""Which Integrated Services a process talks to: the local stand-ins (default) or the real ones.

The embedded default is self-contained: ``DSR_SERVICES=standins`` (the default) starts the three
stand-ins in this process, seeded with the demo data, and points the connectors at them through
the environment. ``DSR_SERVICES=real`` leaves endpoints and credentials to the environment
(``DSR_GOOGLE_URL``, ``DSR_GOTOMEETING_URL``, ``DSR_CREDENTIAL_*`` or ``DSR_CREDENTIALS_DIR``).
"""

from __future__ import annotations

import os
from typing import Any

_started: Any = None


def start_services_if_standins() -> Any:
    """Start the stand-ins once per process when configured; returns them (or None)."""
    from dsr.settings import services_mode

    global _started
    # Anything but standins or real is refused (SettingsError), never taken to mean "real".
    if services_mode() != "standins":
        return None
    if _started is None:
        from standins.demo import DemoServices

        _started = DemoServices()
        os.environ.update(_started.env())
    return _started
