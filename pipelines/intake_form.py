"""What every intake run does before and after its form is checked: it marks itself with the
person's keyed hash, and a refusal is one sentence naming the form's field.

The hash tag is how an erasure finds every intake run of its person (the form's identities are in
the run's config), whatever the run's outcome; it equals the ledger's ``subject_hash`` of the
request the form would register, so one lookup finds them all. A list run tags every person on
its list the same way, one tag each (``pipelines.intake_names.subject_tag``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from dagster import Failure, OpExecutionContext

from connectors.base import EMAIL
from connectors.identities import InvalidIdentity, normalise_email
from dsr.keys import KeyRing
from pipelines.intake_names import SUBJECT_HASH_TAG, subject_tag

# The form field a refusal is about, from the start of intake's message (first match wins).
_FIELDS: tuple[tuple[str, str], ...] = (
    (r"^(e-mail|at least one e-mail)", "email"),
    (r"^phone", "phone"),
    (r"^name", "name"),
    (r"apply only to scope client_data", "scope"),
    (r"client_data request needs the Client's id", "client"),
    (r"authoris", "authorization_ref"),
    (r"^(unknown client|client)", "client"),
    (r"^ticket reference", "ticket_ref"),
    (r"^identity verified by", "identity_verified_by"),
)


def subject_hash(keys: KeyRing, emails: list[str]) -> str:
    """The ledger's subject hash for these e-mails (the smallest normalised one); a malformed
    address is hashed as typed, lower-cased and stripped, so its failed run is still found."""
    values = []
    for raw in emails:
        try:
            values.append(normalise_email(raw))
        except (InvalidIdentity, ValueError):
            values.append(str(raw).strip().lower())
    return keys.keyed_hash(EMAIL, min(values))


def tag_subject(context: OpExecutionContext, keys: KeyRing, emails: list[str]) -> None:
    """Tag the run with the form's keyed hash first, before anything can fail."""
    tags = {SUBJECT_HASH_TAG: subject_hash(keys, emails)}
    context.instance.add_run_tags(context.run.run_id, tags)


def tag_people(context: OpExecutionContext, keys: KeyRing, emails: Iterable[str]) -> None:
    """Tag a list run with every person's keyed hash first, before anything can fail: the
    erasure of any one of them then finds the run."""
    tags = {subject_tag(subject_hash(keys, [email])): "1" for email in emails}
    if tags:
        context.instance.add_run_tags(context.run.run_id, tags)


def field_of(reason: str) -> str | None:
    text = reason.strip()
    for pattern, field in _FIELDS:
        if re.search(pattern, text):
            return field
    return None


def first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    head = re.split(r"(?<=[.?!])\s+(?=[A-Z])", flat, maxsplit=1)[0]
    return head if head.endswith(("?", "!")) else head.rstrip(".") + "."


def refusal(
    what: str,
    reason: str,
    field: str | None = None,
    metadata: Mapping[str, object] | None = None,
) -> Failure:
    """A step failure support can read: one sentence naming the field; the whole reason and
    what to do go in metadata. Raise it ``from None``: a chained exception would be shown as a
    second error with its own stack."""
    field = field or field_of(reason)
    # parse_identities prefixes the connector's "e-mail is ..." with its own "e-mail: ".
    reason = re.sub(r"^(e-mail|phone|name)( #\d+)?: \1 ", r"\1\2 ", reason.strip())
    where = f", check the form's {field} field" if field else ""
    return Failure(
        description=f"{what}{where}: {first_sentence(reason)}",
        metadata={
            "field": field or "",
            "reason": " ".join(reason.split()),
            "registered": False,
            **(metadata or {}),
        },
        allow_retries=False,
    )
