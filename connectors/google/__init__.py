"""connectors.google.connector."""
