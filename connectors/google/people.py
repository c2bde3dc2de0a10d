"""Google People v1: the account's contacts and "other contacts" that are the person.

Contacts are listed whole (``people/me/connections``) and matched in code rather than through
``searchContacts``: search matches prefixes of a lazily built index (it needs a warm-up call and
lags behind writes), so a contact synced a minute ago, or a phone stored in another format, could
be missed. A full listing is exact, and for a CRM sync account it is a few pages of 1,000.

"Other contacts" (saved automatically from Gmail interactions) can be read but the API has no
method to delete them: they are reported pending with the processor, never as erased.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.base import FoundRow, RowRef
from connectors.google.api import GoogleApi, NotFound
from connectors.google.match import SubjectMatcher

CONTACTS = "contacts"
OTHER_CONTACTS = "other_contacts"
PERSON_FIELDS = (
    "names,emailAddresses,phoneNumbers,organizations,addresses,biographies,birthdays,urls,"
    "memberships"
)
OTHER_CONTACT_FIELDS = "names,emailAddresses,phoneNumbers"
PAGE_SIZE = 1000  # the documented maximum for both listings


def _export(person: dict[str, Any]) -> dict[str, Any]:
    """The person's fields without Google's bookkeeping (etags, source metadata)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("metadata", "etag")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(person)


def _contacts(api: GoogleApi) -> Iterator[dict[str, Any]]:
    return api.pages(
        lambda token: (
            api.people.people()
            .connections()
            .list(
                resourceName="people/me",
                personFields=PERSON_FIELDS,
                pageSize=PAGE_SIZE,
                pageToken=token,
            )
        ),
        "connections",
        "people connections.list",
    )


def _other_contacts(api: GoogleApi) -> Iterator[dict[str, Any]]:
    return api.pages(
        lambda token: api.people.otherContacts().list(
            readMask=OTHER_CONTACT_FIELDS, pageSize=PAGE_SIZE, pageToken=token
        ),
        "otherContacts",
        "people otherContacts.list",
    )


def find_contacts(api: GoogleApi, match: SubjectMatcher, region: str) -> list[FoundRow]:
    return _found(_contacts(api), match, region, CONTACTS)


def find_other_contacts(api: GoogleApi, match: SubjectMatcher, region: str) -> list[FoundRow]:
    return _found(_other_contacts(api), match, region, OTHER_CONTACTS)


def _found(
    people: Iterator[dict[str, Any]], match: SubjectMatcher, region: str, kind: str
) -> list[FoundRow]:
    rows = []
    for person in people:
        via = match.person(person)
        if via:
            ref = RowRef(region, kind, person["resourceName"])
            rows.append(FoundRow(ref, f"identity:{via}", _export(person)))
    return rows


def delete_contacts(api: GoogleApi, resource_names: list[str]) -> dict[str, int]:
    """Delete one after another: Google asks for mutations of one user's contacts in sequence."""
    done = {"deleted": 0, "already_absent": 0}
    for rn in resource_names:
        request = api.people.people().deleteContact(resourceName=rn)
        try:
            api.execute(request, "people deleteContact")
            done["deleted"] += 1
        except NotFound:
            done["already_absent"] += 1
    return done
