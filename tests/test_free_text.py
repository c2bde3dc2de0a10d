"""Names, addresses and phones found in free text (``connectors.free_text.MentionMatcher``).

The matcher's shortcuts (fold the whole text once, look for a phone-shaped run before reading
phones) must find exactly what reading every word and every digit run finds, wherever the text
was written and however its names are cased or composed.
"""

from __future__ import annotations

import re
import sys
import unicodedata

from connectors.free_text import _PHONE_SHAPED, _WORD, MentionMatcher
from connectors.identities import _PHONE_IN_TEXT, parse_identity

PEOPLE = {
    parse_identity("name", "Søren Kierkegaard"),
    parse_identity("name", "Jean-Luc Picard"),
    parse_identity("name", "Straße Groß Maß"),
    parse_identity("name", "Jörg Müller"),
    parse_identity("email", "ada@example.com"),
    parse_identity("phone", "+1 212 298 7664"),
}


def _spans(text: str) -> list[str]:
    return [text[s:e] for _, s, e in MentionMatcher(PEOPLE).find(text, "US")]


def test_case_folding_never_moves_a_word_boundary() -> None:
    # The matcher folds a whole text at once and reads its words afterwards; that is the same as
    # folding word by word only if no character's folding changes what it is to the word
    # pattern: a word character, one of the characters that join words, or anything else.
    word_char = re.compile(r"[\w\u0300-\u036f]")

    def kind(char: str) -> str:
        return char if char in "'’-" else "word" if word_char.fullmatch(char) else "other"

    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        folded = char.casefold()
        assert folded, hex(cp)
        assert {kind(c) for c in folded} == {kind(char)}, (hex(cp), char, folded)


def test_names_are_found_in_any_case_and_composition_at_their_written_place() -> None:
    text = "Called SØREN KIERKEGAARD and jean-luc picard; STRASSE GROSS MASS wrote too."
    assert _spans(text) == ["SØREN KIERKEGAARD", "jean-luc picard", "STRASSE GROSS MASS"]
    # "ẞ" folds to two letters, shifting every later offset of the folded text: the spans must
    # still be those of the text as written.
    shifted = "ẞẞẞ ẞ: then Jean-Luc Picard"
    assert _spans(shifted) == ["Jean-Luc Picard"]
    decomposed = unicodedata.normalize("NFD", "Notes from Jörg Müller.")
    assert _spans(decomposed) == [unicodedata.normalize("NFD", "Jörg Müller")]


def test_a_first_name_alone_or_a_name_inside_an_address_is_no_mention() -> None:
    assert _spans("Søren called, Picard did not") == []
    assert _spans("write to jean-luc.picard@example.org") == []
    assert _spans("ada@example.com and Ada Lovelace") == ["ada@example.com"]


def test_every_phone_in_text_is_phone_shaped_so_the_shortcut_loses_none() -> None:
    samples = [
        "call +1 (212) 298-7664 now",
        "ref 2122987664.",
        "x12 212.298.7664",
        "tel:+12122987664",
        "order 12345 on 2024-01-02",
        "١٢١٢٢٩٨٧٦٦٤",  # Arabic-Indic digits are \\d as well
    ]
    for text in samples:
        for m in _PHONE_IN_TEXT.finditer(text):
            assert _PHONE_SHAPED.search(m.group(0)), m.group(0)
    assert _spans("call +1 (212) 298-7664 now") == ["+1 (212) 298-7664"]
    assert _spans("order 12345, room 7") == []


def test_words_are_tokenised_alike_in_both_paths() -> None:
    text = "O’Brien-Smith met Ǆemal and ﬁona"
    assert _WORD.findall(text.casefold()) == [w.casefold() for w in _WORD.findall(text)]
