"""Free text as CRM users write it: short notes, call logs, e-mails, support tickets.

About one text in ten mentions *another* person by e-mail, phone or full name, so mention search
has real work to do and a person's erasure has other people's text to redact.
"""

from __future__ import annotations

import numpy as np

from dsr.democrm.pools import PRODUCTS
from dsr.democrm.world import World

MENTION_RATE = 0.10
MONTHS = ("January", "March", "April", "June", "September", "October", "November", "December")

ACTIVITY_KINDS = ("call", "email", "meeting", "task")
ACTIVITY_SUBJECTS = (
    ("Call with {first}", "Follow-up call: {product}", "Discovery call", "Left a voicemail"),
    ("Sent pricing for {product}", "Replied to {first}", "Sent case study", "Intro e-mail"),
    ("Demo of {product}", "Quarterly review", "On-site visit", "Workshop: {product}"),
    ("Prepare proposal for {product}", "Send contract", "Update account details", "Renewal"),
)
ACTIVITY_DETAILS = (
    "{first} asked about {product}; we agreed to {phrase}.",
    "Discussed the roll-out plan. {first} wants to {phrase} before {month}.",
    "No answer, will try again on Thursday.",
    "{first} confirmed the budget for {product}. Next step: {phrase}.",
    "Walked through {product} with the team; main concern is the migration effort.",
    "Sent the updated quote for {product} ({seats} seats).",
)
NOTE_BODIES = (
    "{first} prefers e-mail over phone. Interested in {product}.",
    "Budget approved for {product}; decision expected by {month}.",
    "Met {first} at the trade fair. Wants to {phrase}.",
    "Renewal due in {month}. {first} mentioned price sensitivity.",
    "{first} is the main decision maker for {product} ({seats} seats).",
    "Do not call before 10am. Assistant handles scheduling.",
)
COMPANY_NOTES = (
    "Account plan: {phrase}.",
    "Procurement requires three quotes; {product} shortlisted.",
    "Framework agreement signed; next review in {month}.",
)
EMAIL_SUBJECTS = (
    "Re: {product} proposal",
    "Your {product} trial",
    "Meeting next week",
    "Question about your invoice",
    "Following up",
    "Slides from today",
)
EMAIL_SENTENCES = (
    "Thank you for your time earlier today.",
    "As discussed, I have attached the overview of {product}.",
    "Our team would be glad to help you {phrase}.",
    "Could you let me know which dates suit you for a short call?",
    "The pricing we discussed is valid until the end of {month}.",
    "I have shared the onboarding checklist with your team.",
    "We can start the pilot with {seats} seats and expand later.",
    "Please find the revised terms below.",
)
TICKET_SUBJECTS = (
    "Cannot log in",
    "CSV export fails",
    "Google Calendar sync stopped",
    "Dropbox attachment missing",
    "Change of billing address",
    "Add a new user",
    "GoToMeeting link not created",
    "Report shows wrong totals",
)
TICKET_BODIES = (
    "Since this morning the page just spins after I sign in. Browser cache is cleared.",
    "The export stops at about 10,000 rows and the file is empty.",
    "Meetings created in the CRM no longer appear in our calendar.",
    "An attachment uploaded yesterday is not visible in the shared folder.",
    "Our company moved; please update the address on future invoices.",
    "We need one more seat for a new colleague starting in {month}.",
    "The meeting was created but the invitation has no dial-in link.",
    "The pipeline report totals do not match the deals list.",
)
MENTION_TEMPLATES = (
    ("name", "{first} will loop in {name}."),
    ("name", "{name} from their finance team joins next time."),
    ("email", "Please copy {email} on the proposal."),
    ("email", "Their colleague {email} asked for the slides."),
    ("phone", "Reach {name_first} directly at {phone}."),
    ("phone", "Call back on {phone}."),
)
DEAL_TITLES = ("{company} – {product}", "{product} renewal", "{product} expansion ({seats} seats)")
MEETING_TITLES = ("{product} demo", "Quarterly business review", "Kick-off", "Contract review")


def pick(rng: np.random.Generator, options: tuple, n: int) -> list:
    return [options[i] for i in rng.integers(0, len(options), n).tolist()]


def fill(templates: list[str], first: list[str], rng: np.random.Generator, w: World) -> list[str]:
    """Fill {first}, {product}, {phrase}, {month}, {seats} in one template per row."""
    n = len(templates)
    products = pick(rng, PRODUCTS, n)
    phrases = w.pools.phrases[rng.integers(0, len(w.pools.phrases), n)].tolist()
    months = pick(rng, MONTHS, n)
    seats = rng.integers(5, 250, n).tolist()
    return [
        t.format(first=f, product=p, phrase=ph, month=m, seats=s)
        for t, f, p, ph, m, s in zip(
            templates, first, products, phrases, months, seats, strict=True
        )
    ]


def mentions(w: World, rng: np.random.Generator, others: np.ndarray, first: list[str]) -> list[str]:
    """One sentence per row naming another person; ``-1`` in ``others`` means no mention."""
    n = len(others)
    out = [""] * n
    rows = np.flatnonzero(others >= 0)
    if not len(rows):
        return out
    ps = others[rows]
    kinds = rng.integers(0, len(MENTION_TEMPLATES), len(rows)).tolist()
    names = w.full_names(ps)
    name_first = w.first_names(ps)
    emails = w.emails(ps)
    phones = w.phones(ps, rng.integers(0, 6, len(rows)))
    for j, row in enumerate(rows.tolist()):
        template = MENTION_TEMPLATES[kinds[j]][1]
        out[row] = " " + template.format(
            first=first[row],
            name=names[j],
            name_first=name_first[j],
            email=emails[j],
            phone=phones[j],
        )
    return out


def other_contacts(w: World, rng: np.random.Generator, contacts: np.ndarray) -> np.ndarray:
    """For ~10% of rows another contact of the same tenant to mention, else -1."""
    tenant = w.contact_client[contacts]
    other = w.pick(rng, w.contact_bounds, tenant)
    wanted = (rng.random(len(contacts)) < MENTION_RATE) & (other != contacts)
    return np.where(wanted, other, -1)


def email_bodies(
    w: World,
    rng: np.random.Generator,
    to_first: list[str],
    signature: list[str],
    extra: list[str],
) -> list[str]:
    n = len(to_first)
    first = rng.integers(0, len(EMAIL_SENTENCES), n)
    second = (first + rng.integers(1, len(EMAIL_SENTENCES), n)) % len(EMAIL_SENTENCES)
    s1 = fill([EMAIL_SENTENCES[i] for i in first.tolist()], to_first, rng, w)
    s2 = fill([EMAIL_SENTENCES[i] for i in second.tolist()], to_first, rng, w)
    return [
        f"Hi {f},\n\n{a} {b}{x}\n\nBest regards,\n{sig}"
        for f, a, b, x, sig in zip(to_first, s1, s2, extra, signature, strict=True)
    ]
