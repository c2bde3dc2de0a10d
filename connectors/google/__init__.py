"""connectors.google."""
