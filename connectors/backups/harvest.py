"""Normalising millions of identity values for an index: the same answers, without the cost.

Building a backup's identity index normalises every identity value in the snapshot exactly as
``connectors.identities.harvest_identity`` does; the index is only useful if both agree on every
value. Most of that time went into ``email_validator`` validating the same few domains again for
every address, and into re-parsing values that recur (a phone number in many notes).

``Harvester`` keeps the answers identical and does less work:

* an e-mail address whose part before the @ is a plain RFC 5322 dot-atom (the pattern
  ``email_validator`` itself accepts without further checks) and whose domain is ASCII is
  split; the domain is validated once, by ``email_validator``, and the answer is reused for every
  address at that domain. Anything else — quoted or international local parts, unicode or
  punycode domains, an address near the length limit — takes the full validator;
* a North American number written in one of the usual ways — ``617-323-4567``,
  ``(617) 323-4567``, ``617.323.4567``, ``+1 617 323 4567`` — with an area code starting 2-9
  is ``+1`` and its ten digits: no international or national prefix can be in it, and ten
  digits is the one possible length, so ``phonenumbers`` could answer nothing else. Without
  ``+1`` this holds only where the row's numbers are read in a North American country;
* e-mail addresses and phone numbers already normalised in this scan are looked up, not parsed
  again (a bounded memo: a scan of any size uses bounded memory).

``tests/test_backup_index_speed.py`` checks that the fast path and ``harvest_identity`` agree on
generated and adversarial addresses, and on every value of a seeded CRM.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator.rfc_constants import DOT_ATOM_TEXT

from connectors.base import EMAIL, PHONE, Identity
from connectors.identities import InvalidIdentity, harvest_identity, normalise_email

_MAX_EMAIL = 254  # email_validator's limit for every form of the address (ASCII: one length)
_ASCII_DOMAIN = re.compile(r"\A[A-Za-z0-9.\-]+\Z")
_NANP = re.compile(
    r"\A(?P<plus>\+1[ .\-]?)?(?:\((?P<a1>[2-9]\d\d)\) ?|(?P<a2>[2-9]\d\d)[ .\-]?)"
    r"(?P<b>\d{3})[ .\-]?(?P<c>\d{4})\Z"
)
# Every country of the North American Numbering Plan reads a ten-digit number as +1 and it.
_NANP_COUNTRIES = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
_MEMO_LIMIT = 1 << 18
_DOMAIN_LIMIT = 1 << 16


class Harvester:
    """``harvest_identity`` for one scan, faster on the values a database holds most."""

    def __init__(self, phone_region: str = "US") -> None:
        self.phone_region = phone_region
        self._memo: dict[tuple[str, str, str], Identity | None] = {}
        # domain as written -> normalised domain, or None where the full validator must decide
        self._domains: dict[str, str | None] = {}

    def __call__(self, kind: str, raw: object, country: str | None = None) -> Identity | None:
        """``raw`` normalised; a phone without a country code is read in ``country`` (the row's),
        else in the scan's ``phone_region``."""
        country = country or self.phone_region
        if kind == EMAIL and isinstance(raw, str):
            fast = self._plain_email(raw)
            if fast is not None:
                return fast
        elif kind == PHONE and isinstance(raw, str):
            m = _NANP.match(raw.strip())
            if m and (m["plus"] or country in _NANP_COUNTRIES):
                return Identity(PHONE, f"+1{m['a1'] or m['a2']}{m['b']}{m['c']}")
        if kind not in (EMAIL, PHONE) or not isinstance(raw, str):
            return harvest_identity(kind, raw, country)
        key = (kind, raw, country if kind == PHONE else "")
        try:
            return self._memo[key]
        except KeyError:
            pass
        ident = harvest_identity(kind, raw, country)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()  # bounded memory; recurring values come back quickly
        self._memo[key] = ident
        return ident

    def _plain_email(self, raw: str) -> Identity | None:
        """The normalised address when the fast path can answer for certain, else None."""
        text = raw.strip()
        if len(text) > _MAX_EMAIL or text.count("@") != 1:
            return None
        local, domain = text.split("@")
        if not DOT_ATOM_TEXT.match(local) or not _ASCII_DOMAIN.match(domain):
            return None
        normal = self._domain(domain)
        if normal is None:
            return None
        return Identity(EMAIL, f"{local}@{normal}".lower())

    def _domain(self, domain: str) -> str | None:
        try:
            return self._domains[domain]
        except KeyError:
            pass
        try:
            normal: str | None = normalise_email(f"a@{domain}").split("@", 1)[1]
        except InvalidIdentity:
            normal = None  # the full validator gives the reason and the verdict
        if normal != domain.lower():
            # Unchanged apart from case, or the address's length in another form could differ.
            normal = None
        if len(self._domains) >= _DOMAIN_LIMIT:
            self._domains.clear()
        self._domains[domain] = normal
        return normal
