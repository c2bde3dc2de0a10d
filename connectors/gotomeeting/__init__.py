"""connectors.gotomeeting."""
