"""connectors.backups."""
