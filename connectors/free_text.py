"""Mentions of identities in free text: notes, ticket bodies, file names and file contents.

``MentionMatcher`` is built once for any number of people and then asked about each text. A text
is read by three scanners (e-mail-shaped tokens, phone-shaped digit runs, runs of words); every
candidate is normalised the way ``connectors.identities`` normalises what support typed and looked
up in a set, so a text costs the same whether one person or a thousand are searched for.

Most texts mention nobody, and discovery of a Client's data reads every text the Client holds (a
quarter of a million notes for a large one). So each scanner first asks a cheaper question that a
text must answer yes to before it can hold a candidate: an ``@`` for an address, a run of seven
digit-like characters for a phone, one searched name's first word among the text's words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from connectors.base import EMAIL, NAME, PHONE, Identity
from connectors.identities import (
    _EMAIL_IN_TEXT,
    _PHONE_IN_TEXT,
    canonical_email,
    harvest_identity,
    phone_keys,
)

_WORD = re.compile(r"[\w\u0300-\u036f]+(?:['’\-][\w\u0300-\u036f]+)*")
# Every match of _PHONE_IN_TEXT contains a match of this; it starts with a character class, which
# the regex engine scans for in C (the boundary at the start of _PHONE_IN_TEXT defeats that).
_PHONE_SHAPED = re.compile(r"\d[\d ().\-/]{5,}\d")
_ASCII_RUN = re.compile(r"[\x20-\x7e]+")
_MIN_PREFILTER = 3

Hit = tuple[Identity, int, int]


def name_tokens(text: str) -> tuple[str, ...]:
    return tuple(m.group(0).casefold() for m in _WORD.finditer(text))


def _longest_ascii_run(text: str) -> str:
    runs = _ASCII_RUN.findall(text)
    return max(runs, key=len) if runs else ""


class MentionMatcher:
    """Finds mentions of a set of identities in free text: one pass, any number of people.

    Every candidate in the text (an e-mail-shaped token, a phone-shaped digit run, a run of words)
    is normalised and looked up in a set, so the cost does not grow with the number of identities.
    A phone-shaped run is read in the country of the row the text belongs to (``find``'s
    ``country``), so a national number mentioned in a US note is a US number.
    """

    def __init__(self, identities: Iterable[Identity], default_country: str = "US") -> None:
        self.default_country = default_country
        self.emails: dict[str, Identity] = {}
        self.phones: dict[str, Identity] = {}  # E.164 -> identity
        self.phone_digits: set[str] = set()  # candidate digit strings, before the E.164 check
        self.names: dict[tuple[str, ...], Identity] = {}
        for ident in identities:
            if ident.kind == EMAIL:
                self.emails[ident.value] = ident
            elif ident.kind == PHONE:
                self.phones[ident.value] = ident
                self.phone_digits |= phone_keys(ident.value)
            elif ident.kind == NAME:
                tokens = name_tokens(ident.value)
                if len(tokens) >= 2:  # a lone first name would match half the notes
                    self.names[tokens] = ident
        self.name_lengths = sorted({len(t) for t in self.names})
        self.first_words = {t[0] for t in self.names}

    def __bool__(self) -> bool:
        return bool(self.emails or self.phones or self.names)

    def _phone_at(self, written: str, country: str) -> Identity | None:
        if re.sub(r"\D", "", written) not in self.phone_digits:
            return None
        found = harvest_identity(PHONE, written, country)
        return self.phones.get(found.value) if found else None

    def find(self, text: str, country: str | None = None) -> list[Hit]:
        """Every (identity, start, end) mentioned in ``text``, in order of position."""
        if not text:
            return []
        hits: list[Hit] = []
        address_spans: list[tuple[int, int]] = []
        if (self.emails or self.names) and "@" in text:
            for m in _EMAIL_IN_TEXT.finditer(text):
                address_spans.append((m.start(), m.end()))
                written = m.group(0).rstrip(".")
                ident = self.emails.get(canonical_email(written.lstrip(".")) or "")
                if ident:
                    hits.append((ident, m.start(), m.start() + len(written)))
        if self.phones and _PHONE_SHAPED.search(text):
            for m in _PHONE_IN_TEXT.finditer(text):
                ident = self._phone_at(m.group(0), country or self.default_country)
                if ident:
                    hits.append((ident, m.start(), m.end()))
        if self.names:
            for ident, start, end in self._names_in(text):
                # "maria.jensen@…" names a mailbox, which may be anyone's: not a name mention.
                if not any(a <= start and end <= b for a, b in address_spans):
                    hits.append((ident, start, end))
        if len(hits) < 2:
            return hits
        # Longest first, so a name inside an e-mail address is one mention (the e-mail), not two.
        hits.sort(key=lambda h: (h[1], -h[2]))
        kept: list[Hit] = []
        for hit in hits:
            if kept and hit[2] <= kept[-1][2]:
                continue
            kept.append(hit)
        return kept

    def _names_in(self, text: str) -> list[Hit]:
        """Searched names written in ``text``, each word compared NFC-normalised and case-folded.

        Folding the whole text gives the same words as folding each word, because case folding
        never turns a word character into a non-word one or back (checked over every code point
        by tests/test_free_text.py), so the words are compared as plain strings and matched
        back to their positions only when a name is found.
        """
        if unicodedata.is_normalized("NFC", text):
            folded = _WORD.findall(text.casefold())
        else:  # rare: normalise word by word, so positions stay those of the text as written
            folded = [unicodedata.normalize("NFC", w).casefold() for w in _WORD.findall(text)]
        if self.first_words.isdisjoint(folded):
            return []
        found: list[tuple[int, int, Identity]] = []
        for i, word in enumerate(folded):
            if word not in self.first_words:
                continue
            for n in self.name_lengths:
                if i + n > len(folded):
                    break
                ident = self.names.get(tuple(folded[i : i + n]))
                if ident:
                    found.append((i, n, ident))
        if not found:
            return []
        words = list(_WORD.finditer(text))
        return [(ident, words[i].start(), words[i + n - 1].end()) for i, n, ident in found]

    def prefilter_terms(self) -> list[str] | None:
        """Substrings a matching text must contain (ASCII, case-insensitive), for a SQL pre-filter.

        ``None`` when some identity has no ASCII part long enough to filter on: then every text
        must be read. Only ASCII is used because a database's case-insensitive LIKE may fold
        ASCII only. An address is filtered on itself when it is ASCII, else on the longest ASCII
        run of its local part (its domain may be written in punycode); a name on its longest
        word, which stays whole however the words are spaced; a phone on its last four digits,
        which stay together in the formats our Clients use. The final word is always ``find``.
        """
        terms: set[str] = set()
        for email in self.emails:
            term = email if email.isascii() else _longest_ascii_run(email.rpartition("@")[0])
            terms.add(term)
        for tokens in self.names:
            terms.add(max((_longest_ascii_run(t) for t in tokens), key=len))
        terms.update(key[-4:] for key in self.phone_digits)
        if any(len(t) < _MIN_PREFILTER for t in terms):
            return None
        return sorted(terms)
