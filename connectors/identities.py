"""Identities: validate what support typed, normalise what the databases hold, and say how to match.

Two spellings of one identity must meet: ``Maria.Jensen@Example.org `` and
``maria.jensen@example.org`` are one e-mail; ``+1 (415) 555-0142``, ``415.555.0142`` and
``+14155550142`` are one phone. Matching in SQL uses an expression on the column (``lower(trim())``
for e-mail, separators removed for phones) that an expression index can serve; matching in free text
uses ``MentionMatcher``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, literal
from sqlalchemy.sql import ColumnElement

from connectors.base import EMAIL, NAME, PHONE, Identity

MAX_IDENTITY_LENGTH = 254
_PHONE_SEPARATORS = (" ", "-", "(", ")", ".", "+", "/")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME_OK = re.compile(r"^[^\W\d_]+(?:[ '’.\-][^\W\d_]+)*\.?$")
_WORD = re.compile(r"\w+(?:['’\-]\w+)*")
_EMAIL_IN_TEXT = re.compile(r"[\w.+'\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PHONE_IN_TEXT = re.compile(r"(?:\+|\b)\d[\d ().\-/]{5,}\d\b")


class InvalidIdentity(ValueError):
    """An identity that cannot be used; the message says which kind and why, never the value."""


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
    return result.normalized.lower()


def normalise_phone(raw: str, default_region: str = "US") -> str:
    text = (raw or "").strip()
    if not text:
        raise InvalidIdentity("phone is empty")
    if text.startswith("00"):
        # "0049 30 …": the international prefix of most of the world, not of the default region.
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"phone is not a number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity("phone is not a possible number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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


def phone_keys(e164: str) -> set[str]:
    """Digit strings under which a phone number may be stored once separators are removed."""
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    country = str(number.country_code)
    keys = {country + national, "00" + country + national, national}
    region = phonenumbers.region_code_for_number(number)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
    if metadata is not None and metadata.national_prefix:
        keys.add(metadata.national_prefix + national)
    return keys


def match_expression(kind: str, column: ColumnElement) -> ColumnElement:
    """The SQL expression a column is compared through; expression indexes use the same one."""
    if kind == EMAIL:
        return func.lower(func.trim(column))
    if kind == PHONE:
        expr = column
        for sep in _PHONE_SEPARATORS:
            # Rendered inline, not bound: SQLite uses an expression index only on identical text.
            expr = func.replace(
                expr, literal(sep, literal_execute=True), literal("", literal_execute=True)
            )
        return expr
    return column


def match_values(identity: Identity) -> set[str]:
    """The values ``match_expression`` of a column must equal for the row to be the person's."""
    if identity.kind == PHONE:
        return phone_keys(identity.value)
    return {identity.value}


def name_tokens(text: str) -> tuple[str, ...]:
    return tuple(m.group(0).casefold() for m in _WORD.finditer(text))


class MentionMatcher:
    """Finds mentions of a set of identities in free text: one pass, any number of people.

    Every candidate in the text (an e-mail-shaped token, a phone-shaped digit run, a run of words)
    is normalised and looked up in a set, so the cost does not grow with the number of identities.
    """

    def __init__(self, identities: Iterable[Identity]) -> None:
        self.emails: dict[str, Identity] = {}
        self.phones: dict[str, Identity] = {}
        self.names: dict[tuple[str, ...], Identity] = {}
        for ident in identities:
            if ident.kind == EMAIL:
                self.emails[ident.value] = ident
            elif ident.kind == PHONE:
                for key in phone_keys(ident.value):
                    self.phones[key] = ident
            elif ident.kind == NAME:
                tokens = name_tokens(ident.value)
                if len(tokens) >= 2:  # a lone first name would match half the notes
                    self.names[tokens] = ident
        self.name_lengths = sorted({len(t) for t in self.names})

    def __bool__(self) -> bool:
        return bool(self.emails or self.phones or self.names)

    def find(self, text: str) -> list[tuple[Identity, int, int]]:
        """Every (identity, start, end) mentioned in ``text``, in order of position."""
        if not text:
            return []
        hits: list[tuple[Identity, int, int]] = []
        address_spans: list[tuple[int, int]] = []
        if "@" in text:
            for m in _EMAIL_IN_TEXT.finditer(text):
                address_spans.append((m.start(), m.end()))
                ident = self.emails.get(m.group(0).strip(".").lower())
                if ident:
                    hits.append((ident, m.start(), m.start() + len(m.group(0).rstrip("."))))
        if self.phones:
            for m in _PHONE_IN_TEXT.finditer(text):
                ident = self.phones.get(re.sub(r"\D", "", m.group(0)))
                if ident:
                    hits.append((ident, m.start(), m.end()))
        if self.names:
            words = list(_WORD.finditer(text))
            folded = [w.group(0).casefold() for w in words]
            for n in self.name_lengths:
                for i in range(len(words) - n + 1):
                    ident = self.names.get(tuple(folded[i : i + n]))
                    start, end = words[i].start(), words[i + n - 1].end()
                    # "maria.jensen@…" names a mailbox, which may be anyone's: not a name mention.
                    if ident and not any(a <= start and end <= b for a, b in address_spans):
                        hits.append((ident, start, end))
        # Longest first, so a name inside an e-mail address is one mention (the e-mail), not two.
        hits.sort(key=lambda h: (h[1], -h[2]))
        kept: list[tuple[Identity, int, int]] = []
        for hit in hits:
            if kept and hit[2] <= kept[-1][2]:
                continue
            kept.append(hit)
        return kept

    def prefilter_terms(self) -> list[str]:
        """Substrings a matching text must contain (case-insensitively), for a SQL pre-filter.

        A phone is pre-filtered on its last four digits, which stay together in the formats our
        Clients use; the final word is always ``find``.
        """
        terms = set(self.emails)
        terms.update(" ".join(tokens) for tokens in self.names)
        terms.update(key[-4:] for key in self.phones)
        return sorted(terms)
