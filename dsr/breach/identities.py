"""One run's normalised identities, so each value read is validated once.

Validating an e-mail address (email_validator) or parsing a phone (phonenumbers) is most of what
a breach query costs, and the same values come back again and again: a contact's e-mail when its
row is read, again when discovery matches that row and harvests its identities, and a phone's
match keys in every round of the identity fixpoint. A Client's rows are read and then resolved
one after the other, so the assessment keeps one cache for the Client at hand, emptied before the
next (``clear``), and one for iNextCRM's own tables, whose people are resolved at the end; each
holds at most ``maxsize`` values. The functions cached are pure, so the results are the same with
or without it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from connectors.base import PHONE, Identity
from connectors.crm.sql import CrmSqlConnector
from connectors.identities import harvest_identity, match_values, phone_keys

# Values per cache (a raw value and its identity, ~0.4 KB each: ~50 MB at most). The largest
# Client of the 100k benchmark CRM brings ~65k distinct values through reading and discovery.
CACHE_SIZE = 1 << 17


class IdentityCache:
    def __init__(self, maxsize: int = CACHE_SIZE) -> None:
        # typed: 1 and 1.0 hash alike but an identifier spells them differently.
        self._harvest = lru_cache(maxsize=maxsize, typed=True)(harvest_identity)
        self._phone_keys: Callable[[str], frozenset[str]] = lru_cache(maxsize=maxsize)(
            lambda e164: frozenset(phone_keys(e164))
        )
        self._counted = {"hits": 0, "misses": 0}

    def normalise(self, kind: str, raw: Any, default_region: str = "US") -> Identity | None:
        """``harvest_identity``, validated once per value."""
        try:
            return self._harvest(kind, raw, default_region)
        except TypeError:  # a value that cannot be a cache key (a JSON array): not cached
            return harvest_identity(kind, raw, default_region)

    def match_values(self, identity: Identity, *, folds_unicode: bool = False) -> set[str]:
        """``identities.match_values``, with a phone's keys parsed once."""
        if identity.kind == PHONE:
            return set(self._phone_keys(identity.value))
        return match_values(identity, folds_unicode=folds_unicode)

    def connector(self, connector: CrmSqlConnector) -> CrmSqlConnector:
        """The same database for this run, its discovery normalising through the cache."""
        cached = copy.copy(connector)  # shares engine and reflected tables, not the functions
        cached.harvest_identity = self.normalise
        cached.match_values = self.match_values
        return cached

    def clear(self) -> None:
        self._counted = self.stats()
        self._harvest.cache_clear()
        self._phone_keys.cache_clear()  # type: ignore[attr-defined]

    def stats(self) -> dict[str, int]:
        """Hits and misses so far (counts only), for the benchmark."""
        values = self._harvest.cache_info()
        phones = self._phone_keys.cache_info()  # type: ignore[attr-defined]
        return {
            "hits": self._counted["hits"] + values.hits + phones.hits,
            "misses": self._counted["misses"] + values.misses + phones.misses,
        }
