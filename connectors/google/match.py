"""Whether a value held at Google is one of the person's identities.

Google stores what the CRM (or a user) typed: ``Maria.Jensen@Example.org``, ``+1 (415) 555-0142``.
Values are compared after normalisation, never as raw strings: e-mails through
``normalise_email``, phones as E.164 numbers: a stored number without a country code is read in
the Client's country (``ServiceAccount.phone_country``), so a national number is never taken for
the same digits in another country. ``phone_keys`` only narrows which values are parsed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connectors.base import EMAIL, PHONE, Identity
from connectors.identities import harvest_identity, phone_keys

_MIN_PHONE_DIGITS = 6
_EXTENSION = re.compile(
    r"ext|x|#|;|,", re.IGNORECASE
)  # a shorter digit run is an extension or a code, not a number


@dataclass(frozen=True)
class SubjectMatcher:
    emails: frozenset[str]  # normalised e-mails
    phones: frozenset[str]  # E.164
    phone_digits: frozenset[str]  # every digit string one of the phones may be stored as
    country: str = "US"  # where a number without a country code is read

    @classmethod
    def of(cls, identities: Iterable[Identity], country: str = "US") -> SubjectMatcher:
        emails = {i.value for i in identities if i.kind == EMAIL}
        phones = {i.value for i in identities if i.kind == PHONE}
        digits = {key for p in phones for key in phone_keys(p)}
        return cls(frozenset(emails), frozenset(phones), frozenset(digits), country)

    def __bool__(self) -> bool:
        return bool(self.emails or self.phones)

    def email(self, raw: Any) -> bool:
        if not isinstance(raw, str) or "@" not in raw:
            return False
        ident = harvest_identity(EMAIL, raw)
        return ident is not None and ident.value in self.emails

    def phone(self, raw: Any) -> bool:
        if not isinstance(raw, str):
            return False
        # The number's own digits: an extension ("x12", ";ext=12") is not part of them.
        digits = re.sub(r"\D", "", _EXTENSION.split(raw, maxsplit=1)[0])
        if len(digits) < _MIN_PHONE_DIGITS or digits not in self.phone_digits:
            return False
        found = harvest_identity(PHONE, raw, self.country)
        return found is not None and found.value in self.phones

    def person(self, person: dict[str, Any]) -> str | None:
        """ "email" or "phone" if a People resource holds one of the identities, else None."""
        if any(self.email(e.get("value")) for e in person.get("emailAddresses", [])):
            return EMAIL
        for number in person.get("phoneNumbers", []):
            if self.phone(number.get("value")) or self.phone(number.get("canonicalForm")):
                return PHONE
        return None


def subject_hash(kind: str, value: str) -> str:
    """The Drive ``appProperties`` value that marks a file synced for this identity.

    ``value`` is normalised first, so the CRM's sync and this connector agree on every spelling.
    """
    normalised = harvest_identity(kind, value)
    if normalised is None:
        raise ValueError(f"not a usable {kind}")
    return hashlib.sha256(f"{kind}:{normalised.value}".encode()).hexdigest()
