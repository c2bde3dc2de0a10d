"""connectors.gotomeeting.connector."""
