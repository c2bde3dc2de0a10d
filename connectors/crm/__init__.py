"""connectors.crm."""
