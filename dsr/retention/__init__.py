"""dsr.retention."""
