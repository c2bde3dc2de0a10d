"""A throwaway certificate authority for stand-ins that must be reached over real HTTPS.

The Dropbox SDK hard-codes ``https`` and always verifies certificates, so its stand-in serves TLS
with a certificate for ``127.0.0.1`` and ``localhost`` signed by a CA made here, and the client
trusts exactly that CA (``ca_file``, a PEM file) — verification stays on, as in production.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from pathlib import Path

import trustme


class LocalCA:
    """A CA and one server certificate for 127.0.0.1; ``ca_file`` is the PEM a client trusts.

    ``folder`` keeps ``ca.pem`` somewhere known (the demo hands the path to other processes);
    without it a private temporary folder is used and removed by ``cleanup``.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self._ca = trustme.CA(organization_name="iNextCRM DSR stand-ins")
        self._leaf = self._ca.issue_cert("127.0.0.1", "localhost")
        self._owned = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="dsr-standin-ca-")) if folder is None else folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.folder / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._leaf.configure_cert(context)
        return context

    def cleanup(self) -> None:
        if self._owned:
            shutil.rmtree(self.folder, ignore_errors=True)
