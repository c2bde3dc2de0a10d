"""Region-disjoint primary keys for the demo CRM.

The identity fixpoint runs across regions: a user id harvested in ``us`` is searched in ``eu`` too.
Ids therefore live in one range per region, so two unrelated rows never share an id.
"""

from __future__ import annotations

# Hosting regions from the privacy policy (section 14). Ids are region_base + 1, 2, ...
REGION_ID_BASE = {
    "us": 1_000_000_000,
    "eu": 2_000_000_000,
    "ca": 3_000_000_000,
    "sg": 4_000_000_000,
    "au": 5_000_000_000,
}
REGION_ID_SPAN = 1_000_000_000


def region_id_base(region: str) -> int:
    try:
        return REGION_ID_BASE[region]
    except KeyError:
        known = ", ".join(REGION_ID_BASE)
        raise ValueError(f"unknown region {region!r}; the demo CRM knows {known}") from None


__all__ = ["REGION_ID_BASE", "REGION_ID_SPAN", "region_id_base"]
