"""``python -m bench launch``: Launch → result under ``dagster dev`` (``cli``), against Dagster's
own floor, a second code location (``floor_defs``)."""
