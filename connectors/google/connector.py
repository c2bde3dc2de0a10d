"""Google (People, Calendar, Drive) for one connected account: find, erase, verify.

    connector = GoogleConnector(account, token, base_url=os.environ.get("DSR_GOOGLE_BASE_URL"))
    findings = connector.find(identities)          # contacts, other_contacts, events, files
    erasure = connector.erase(findings, identities)
    assert connector.verify(identities).ok

Calls go through the real ``google-api-python-client`` (offline discovery), ``base_url`` points
it at a stand-in (None: Google itself). They run on a small thread pool of ``concurrency``
workers shared by the three APIs; contact deletions stay in one worker, as Google asks.
Item kinds (``RowRef.table``): "contacts", "other_contacts", "events" (pk ``calendar/eventId``,
"primary" for the account's own calendar), "files". See the per-API modules for what is matched
and how each kind is erased; "other contacts" cannot be deleted through the API and are
reported as ``PendingWithProcessor``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from connectors.base import Findings, FoundRow, Identity
from connectors.google import calendar as google_calendar
from connectors.google import drive as google_drive
from connectors.google import people as google_people
from connectors.google.api import GoogleApi
from connectors.google.match import SubjectMatcher
from connectors.services import (
    PendingWithProcessor,
    ServiceAccount,
    ServiceErasure,
    ServiceVerification,
)

CONTACTS, OTHER_CONTACTS = google_people.CONTACTS, google_people.OTHER_CONTACTS
EVENTS, FILES = google_calendar.EVENTS, google_drive.FILES
KINDS = (CONTACTS, OTHER_CONTACTS, EVENTS, FILES)
# Kinds erased through the API; the rest is pending with the processor and not part of ``ok``.
ERASABLE = (CONTACTS, EVENTS, FILES)


class GoogleConnector:
    system = "google"

    def __init__(
        self,
        account: ServiceAccount,
        token: str,
        *,
        base_url: str | None = None,
        max_retries: int = 4,
        timeout: float = 10.0,
        concurrency: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        if account.kind != "google":
            raise ValueError(f"{account.label} is not a Google account")
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be at least 1 and max_retries not negative")
        self.account = account
        self.concurrency = concurrency
        self.api = GoogleApi(
            account.label,
            token,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout,
            backoff=backoff,
            max_backoff=max_backoff,
        )

    # --- the protocol -----------------------------------------------------------------------

    def find(self, identities: set[Identity], *, subject: str = "subject") -> Findings:
        """Everything the account holds about the person, file content included."""
        match = SubjectMatcher.of(identities, self.account.phone_country)
        findings = Findings(
            system=self.system,
            region=self.account.region,
            subject=subject,
            identities=set(identities),
            searched_tables=list(KINDS) if match else [],
        )
        if not match:
            reason = "no e-mail or phone among the identities: Google is searched by those only"
            findings.skipped_tables = dict.fromkeys(KINDS, reason)
            return findings
        findings.rows = self._search(match, content=True)
        return findings

    def erase(self, findings: Findings, identities: set[Identity]) -> ServiceErasure:
        if findings.system != self.system or findings.region != self.account.region:
            raise ValueError(f"findings are not {self.account.label}'s")
        match = SubjectMatcher.of(identities, self.account.phone_country)
        by_kind: dict[str, list[str]] = defaultdict(list)
        for row in findings.rows:
            by_kind[row.ref.table].append(row.ref.pk)
        unknown = set(by_kind) - set(KINDS)
        if unknown:
            raise ValueError(f"google findings hold unknown kinds: {sorted(unknown)}")
        tasks: list[tuple[str, Callable[[], Any]]] = []
        if by_kind[CONTACTS]:
            names = by_kind[CONTACTS]
            tasks.append((CONTACTS, lambda: google_people.delete_contacts(self.api, names)))
        for key in by_kind[EVENTS]:
            tasks.append(
                (EVENTS, lambda key=key: google_calendar.erase_event(self.api, key, match))
            )
        for file_id in by_kind[FILES]:
            tasks.append((FILES, lambda f=file_id: google_drive.delete_file(self.api, f)))
        applied: dict[str, Counter[str]] = {k: Counter() for k in ERASABLE if by_kind[k]}
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="google-erase") as pool:
            results = _gather([pool.submit(fn) for _, fn in tasks])
        for (kind, _), result in zip(tasks, results, strict=True):
            applied[kind].update(result if isinstance(result, dict) else {result: 1})
        erasure = ServiceErasure(
            system=self.system,
            account=self.account.label,
            applied={k: {a: n for a, n in sorted(c.items()) if n} for k, c in applied.items()},
        )
        if by_kind[OTHER_CONTACTS]:
            erasure.pending.append(self._other_contacts_request(by_kind[OTHER_CONTACTS]))
        return erasure

    def verify(self, identities: set[Identity]) -> ServiceVerification:
        """Search again. ``ok`` covers what the API can erase; ``remaining`` lists every kind,
        other contacts included (they are pending with the processor until Google acts)."""
        match = SubjectMatcher.of(identities, self.account.phone_country)
        rows = self._search(match, content=False) if match else []
        counts = Counter(row.ref.table for row in rows)
        remaining = {kind: counts.get(kind, 0) for kind in KINDS}
        return ServiceVerification(ok=all(remaining[k] == 0 for k in ERASABLE), remaining=remaining)

    # --- the work ---------------------------------------------------------------------------

    def _search(self, match: SubjectMatcher, *, content: bool) -> list[FoundRow]:
        api, region = self.api, self.account.region
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="google-find") as pool:
            # First round: every listing that needs nothing else; calendars first, as their
            # events make the second round.
            calendars = pool.submit(google_calendar.calendars, api)
            first = [
                pool.submit(google_people.find_contacts, api, match, region),
                pool.submit(google_people.find_other_contacts, api, match, region),
                *(
                    pool.submit(google_drive.find_files, api, kind, q, region)
                    for kind, q in google_drive.queries(match)
                ),
            ]
            (cals,) = _gather([calendars], cancel=first)
            second = [
                pool.submit(google_calendar.find_events, api, cal, email, match, region)
                for cal in cals
                for email in sorted(match.emails)
            ]
            rows = _unique(row for found in _gather(first + second) for row in found)
            files = [row for row in rows if row.ref.table == FILES]
            if content and files:
                _gather([pool.submit(google_drive.add_content, api, row) for row in files])
        return rows

    def _other_contacts_request(self, names: list[str]) -> PendingWithProcessor:
        listed = ", ".join(sorted(names))
        return PendingWithProcessor(
            system=self.system,
            what=f"{len(names)} Google 'other contacts' (saved by Gmail; no API deletes them)",
            request_text=(
                f"Please delete the following 'Other contacts' from the Google account connected "
                f"as integration {self.account.label} of Client {self.account.client_id}: "
                f"{listed}. They hold personal data of a data subject who asked for erasure "
                "(GDPR Art. 17 and 19); the People API offers no method to delete them. "
                "Please confirm when done."
            ),
            requested_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )


def _gather(futures: list[Future], cancel: Iterable[Future] = ()) -> list[Any]:
    """Results in order; on the first failure the rest are cancelled and the error raised."""
    try:
        return [f.result() for f in futures]
    except BaseException:
        for f in (*futures, *cancel):
            f.cancel()
        raise


def _unique(rows: Iterable[FoundRow]) -> list[FoundRow]:
    # An item found through two identities (her e-mail and her phone) is one item.
    seen: dict[tuple[str, str], FoundRow] = {}
    for row in rows:
        seen.setdefault((row.ref.table, row.ref.pk), row)
    return list(seen.values())
