"""connectors.dropbox."""
