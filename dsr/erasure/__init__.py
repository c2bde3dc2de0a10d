"""dsr.erasure."""
