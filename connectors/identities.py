"""Identities: validate what support typed, normalise what the databases hold, and say how to match.

Two spellings of one identity must meet, and two different identities must never:

* an e-mail is one address whatever its case (``JÖRG.MÜLLER@EXAMPLE.DE`` is
  ``jörg.müller@example.de``, Unicode capitals included), Unicode normal form, or the form of an
  internationalised domain (``müller.de`` is ``xn--mller-kva.de``); a plus-tag or a longer
  address containing it is another address;
* a phone is one number when both are the same E.164 number. A stored number without a country
  code is read in the country its row belongs to (``connectors.crm.phone_countries``): ``(212)
  298-7664`` in a US row is +1 212 298 7664 and never the German +49 212 2987664.

Matching in SQL is therefore two steps. The database narrows with an indexable expression
(``connectors.crm.match_sql.match_expression``) compared with ``match_values``: every form the
identity may take once that expression has been applied (a bare national number, both cases of a
non-ASCII letter), a superset. Then every candidate's stored value is normalised here and kept
only if it is the identity searched for (``same_identity``). The SQL side can be generous; the
decision is never a digit-string or byte comparison.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

import idna
import phonenumbers
from email_validator import EmailNotValidError, validate_email

from connectors.base import EMAIL, NAME, PHONE, Identity

MAX_IDENTITY_LENGTH = 254
# Past this many spellings an address cannot be looked up case-insensitively through an index on
# a database whose lower() folds ASCII only (each non-ASCII letter doubles them).
MAX_EMAIL_KEYS = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME_OK = re.compile(r"^[^\W\d_]+(?:[ '’.\-][^\W\d_]+)*\.?$")
# Combining marks are listed so an address written in decomposed form (NFD) is one token.
_EMAIL_IN_TEXT = re.compile(
    r"[\w\u0300-\u036f.+'\-]+@[\w\u0300-\u036f\-]+(?:\.[\w\u0300-\u036f\-]+)+"
)
_PHONE_IN_TEXT = re.compile(r"(?:\+|\b)\d[\d ().\-/]{5,}\d\b")
# International call prefixes a stored number may start with besides "+": most of the world,
# North America, Australia. Candidates only: the row's country decides what the digits mean.
_IDD_KEYS = ("00", "011", "0011")


class InvalidIdentity(ValueError):
    """An identity that cannot be used; the message says which kind and why, never the value."""


# -- e-mail ------------------------------------------------------------------------------------


def _unicode_domain(domain: str) -> str:
    domain = unicodedata.normalize("NFC", domain).lower().rstrip(".")
    if "xn--" in domain:
        try:
            domain = idna.decode(domain)
        except (idna.IDNAError, UnicodeError):
            return domain  # not valid punycode: compared as written
    return unicodedata.normalize("NFC", domain).lower()


def _ascii_domain(domain: str) -> str | None:
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        return None


def canonical_email(raw: object) -> str | None:
    """The comparison form of an address as stored: NFC, lower-case, the domain in Unicode.

    Lenient on purpose (no syntax policing): a stored value is compared, never accepted as new
    input, and two values with the same canonical form are the same mailbox.
    """
    if not isinstance(raw, str):
        return None
    text = unicodedata.normalize("NFC", raw.strip())
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return None
    return f"{local.lower()}@{_unicode_domain(domain)}"


def normalise_email(raw: str) -> str:
    text = (raw or "").strip()
    if not text:
        raise InvalidIdentity("e-mail is empty")
    if len(text) > MAX_IDENTITY_LENGTH or _CONTROL.search(text):
        raise InvalidIdentity("e-mail is too long or contains control characters")
    try:
        # test_environment admits the reserved .test domain that synthetic and test data use.
        result = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidIdentity(f"e-mail is not a valid address: {exc}") from None
    # Mailbox names are case-insensitive at every provider our Clients use; the RFC allows
    # otherwise, but a lower-case match is what finds the person's rows.
    canonical = canonical_email(result.normalized)
    assert canonical is not None  # a validated address has a local part and a domain
    return canonical


def _case_variants(text: str, limit: int) -> set[str]:
    """Every spelling of ``text`` with each non-ASCII letter in lower or upper case."""
    options: list[tuple[str, ...]] = []
    count = 1
    for ch in text:
        upper = ch.upper()
        if not ch.isascii() and len(upper) == 1 and upper != ch and upper.lower() == ch:
            options.append((ch, upper))
            count *= 2
            if count > limit:
                raise InvalidIdentity(
                    "e-mail has too many non-ASCII letters to be searched case-insensitively "
                    "through an index on this database"
                )
        else:
            options.append((ch,))
    return {"".join(p) for p in itertools.product(*options)}


def email_keys(value: str, *, folds_unicode: bool = False) -> set[str]:
    """What ``lower(trim(column))`` may return for a stored spelling of the address ``value``.

    ``folds_unicode`` says the database's lower() folds every capital (PostgreSQL with a Unicode
    ctype); otherwise (SQLite, PostgreSQL in the C locale) it folds ASCII only and a stored
    ``JÖRG@…`` comes back as ``jÖrg@…``, so both cases of each non-ASCII letter are candidates.
    Decomposed (NFD) spellings and the punycode form of the domain are candidates too.
    """
    local, _, domain = value.rpartition("@")
    locals_ = {local} if folds_unicode else _case_variants(local, MAX_EMAIL_KEYS)
    domains = {domain} if folds_unicode else _case_variants(domain, MAX_EMAIL_KEYS)
    if (ascii_domain := _ascii_domain(domain)) is not None:
        domains.add(ascii_domain)
    keys = {f"{lp}@{d}" for lp in locals_ for d in domains}
    keys |= {unicodedata.normalize("NFD", k) for k in keys}
    if len(keys) > MAX_EMAIL_KEYS:
        raise InvalidIdentity(
            "e-mail has too many non-ASCII letters to be searched case-insensitively through an "
            "index on this database"
        )
    return keys


# -- phone -------------------------------------------------------------------------------------


def _parse_phone(text: str, country: str | None) -> phonenumbers.PhoneNumber:
    number = phonenumbers.parse(text, country, keep_raw_input=True)
    if (
        text.startswith("00")
        and number.country_code_source != phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD
    ):
        # "0049 30 …" where 00 is not the country's own international prefix (North America
        # dials 011): still the international form most of the world writes.
        number = phonenumbers.parse("+" + text[2:], None)
    return number


def normalise_phone(raw: str, default_region: str = "US") -> str:
    """E.164 of a number; one written without a country code is read in ``default_region``."""
    text = (raw or "").strip()
    if not text:
        raise InvalidIdentity("phone is empty")
    if len(text) > 64 or _CONTROL.search(text):
        raise InvalidIdentity("phone is too long or contains control characters")
    try:
        number = _parse_phone(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"phone is not a number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity("phone is not a possible number for its country")
    # The extension is dropped: "+1 415 555 0142 ext. 7" reaches the same line.
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_keys(e164: str) -> set[str]:
    """Digit strings a stored spelling of the number may reduce to once separators are removed.

    Candidates for the SQL lookup only: the bare national number is among them, and it is a
    different number in every other country, so a candidate row is kept only when its value,
    read in its row's country, is this E.164 number.
    """
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    country = str(number.country_code)
    keys = {country + national, national} | {idd + country + national for idd in _IDD_KEYS}
    region = phonenumbers.region_code_for_number(number)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
    if metadata is not None and metadata.national_prefix:
        keys.add(metadata.national_prefix + national)
    return keys


# -- names and opaque ids ----------------------------------------------------------------------


def normalise_name(raw: str) -> str:
    text = unicodedata.normalize("NFC", " ".join((raw or "").split()))
    if len(text) < 2 or len(text) > 200:
        raise InvalidIdentity("name must be 2 to 200 characters")
    if not _NAME_OK.match(text):
        raise InvalidIdentity("name may hold letters, spaces, hyphens, apostrophes and dots only")
    return text.casefold()


def normalise_opaque(raw: object) -> str:
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise InvalidIdentity("identifier is empty")
    if len(text) > MAX_IDENTITY_LENGTH or _CONTROL.search(text):
        raise InvalidIdentity("identifier is too long or contains control characters")
    return text


def parse_identity(kind: str, raw: object, default_region: str = "US") -> Identity:
    """Validate and normalise one identity given by a person (strict: errors are raised)."""
    if kind == EMAIL:
        return Identity(EMAIL, normalise_email(str(raw)))
    if kind == PHONE:
        return Identity(PHONE, normalise_phone(str(raw), default_region))
    if kind == NAME:
        return Identity(NAME, normalise_name(str(raw)))
    return Identity(kind, normalise_opaque(raw))


def harvest_identity(kind: str, raw: object, default_region: str = "US") -> Identity | None:
    """Normalise a value read from a database row; a value that cannot be used is skipped."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return parse_identity(kind, raw, default_region)
    except InvalidIdentity:
        return None


def same_identity(identity: Identity, stored: object, country: str) -> bool:
    """Whether a stored value (read in ``country`` if it is a phone) is ``identity``."""
    if identity.kind == EMAIL:
        if canonical_email(stored) == identity.value:
            return True
        found = harvest_identity(EMAIL, stored)
        return found is not None and found.value == identity.value
    if identity.kind == PHONE:
        found = harvest_identity(PHONE, stored, country)
        return found is not None and found.value == identity.value
    return True  # opaque ids: the database compared them exactly


def match_values(identity: Identity, *, folds_unicode: bool = False) -> set[str]:
    """The values ``match_expression`` of a column is compared with to find ``identity``."""
    if identity.kind == PHONE:
        return phone_keys(identity.value)
    if identity.kind == EMAIL:
        return email_keys(identity.value, folds_unicode=folds_unicode)
    return {identity.value}
