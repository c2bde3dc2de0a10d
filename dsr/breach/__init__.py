"""dsr.breach."""
