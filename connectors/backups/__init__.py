"""dsr.erasure.restore."""
