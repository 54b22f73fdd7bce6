"""Twilio reconciliation: list recent calls and messages to pool numbers through Twilio's REST
API and record each through the webhooks' own `record_contacts`, so a missed webhook is not a
lost sighting.

A contact already delivered by webhook is found by its SID and adds nothing; a missed one is
kept (a call without content still counts towards the number's background rate) and an SMS
body is matched exactly as the webhook matches it. Each number's listing is read before its
unit of work begins, so no transaction (on SQLite, the write lock) waits on Twilio.
"""

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from sqlmodel import Session, col, func, select
from twilio.base import serialize
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.base.page import Page
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from app.db import utcnow
from app.intake.pipeline import Intake
from app.models.sightings import Sighting
from app.models.telephony import PhoneNumber
from app.problems import ServiceUnavailableError
from app.settings import Settings
from app.telephony.contacts import contact_by_sid, record_contacts
from watchers.observations import SourceKind
from watchers.telephony import TWILIO as PROVIDER
from watchers.telephony import Contact

log = logging.getLogger("honeytrace.jobs")

# Calls and messages read per number and kind in one run. Twilio lists the newest first, so
# a flood beyond this loses the oldest, and the report says so.
LIMIT_PER_NUMBER = 1000
PAGE_SIZE = 200
TIMEOUT_SECONDS = 30.0
JSON = "application/json"


class TwilioNotConfiguredError(ServiceUnavailableError):
    """Reconciliation needs the account SID and the auth token."""


@dataclass(frozen=True)
class _Listing:
    """One kind of resource on Twilio's 2010-04-01 API and the filters it takes."""

    kind: SourceKind
    resource: str
    after: str
    before: str
    time_fields: tuple[str, ...]  # the first one present is when the contact happened


_LISTINGS = (
    _Listing(SourceKind.CALL, "Calls", "StartTime>", "StartTime<", ("start_time", "date_created")),
    _Listing(SourceKind.SMS, "Messages", "DateSent>", "DateSent<", ("date_sent", "date_created")),
)


@dataclass
class ReconcileReport:
    numbers_checked: int = 0
    contacts_seen: int = 0
    contacts_added: int = 0
    sightings_added: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # number -> why it was not (all) read

    def fail(self, number: str, reason: str) -> None:
        known = self.errors.get(number)
        self.errors[number] = f"{known}; {reason}" if known else reason


class _Resources(Page):  # type: ignore[misc]  # twilio ships no type hints
    """A page whose records stay the JSON Twilio sent: that JSON is the evidence, and the
    library's instances keep only parsed attributes. Paging is still the library's."""

    def get_instance(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload


def twilio_client(settings: Settings) -> Client:
    sid = settings.twilio_account_sid.strip()
    token = settings.twilio_auth_token.get_secret_value()
    if not sid or not token:
        raise TwilioNotConfiguredError(
            "Twilio reconciliation is not configured: set HONEYTRACE_TWILIO_ACCOUNT_SID and "
            "HONEYTRACE_TWILIO_AUTH_TOKEN."
        )
    return Client(sid, token, http_client=TwilioHttpClient(timeout=TIMEOUT_SECONDS))


def reconcile_job(
    intake: Intake,
    settings: Settings,
    client: Client | None = None,
    window: timedelta = timedelta(hours=24),
) -> ReconcileReport:
    """The last `window` of calls and messages again: overlapping runs add nothing twice."""
    client = client or twilio_client(settings)
    report = reconcile_twilio(intake, client, since=utcnow() - window)
    log.info("reconciliation", extra={"job": "reconciliation", **report.__dict__})
    return report


def reconcile_twilio(
    intake: Intake,
    client: Client,
    *,
    since: datetime,
    until: datetime | None = None,
    limit: int = LIMIT_PER_NUMBER,
) -> ReconcileReport:
    """Record every call and message to a Twilio pool number between `since` and `until`.

    A number Twilio cannot list (refused credentials, a timeout) is named in the report's
    errors and the others go on; the next run reads it again.
    """
    with intake.database.read() as session:
        numbers = session.exec(
            select(PhoneNumber.number)
            .where(PhoneNumber.provider == PROVIDER)
            .order_by(col(PhoneNumber.number))
        ).all()
    report = ReconcileReport()
    for number in numbers:
        report.numbers_checked += 1
        for listing in _LISTINGS:
            try:
                records = _list(client, listing, number, since, until, limit + 1)
            except (TwilioException, requests.RequestException, ValueError) as error:
                report.fail(number, f"{listing.resource}: {_reason(error)}")
                continue
            if len(records) > limit:
                records = records[:limit]
                report.fail(number, f"{listing.resource}: more than {limit}; the oldest unread")
            _record(intake, listing, number, records, report)
    return report


def _list(
    client: Client,
    listing: _Listing,
    number: str,
    since: datetime,
    until: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    # The library writes a time as it is, with a `Z`: it must be in UTC already.
    params: dict[str, object] = {
        "To": number,
        listing.after: serialize.iso8601_datetime(since.astimezone(UTC)),
        "PageSize": min(PAGE_SIZE, limit),
    }
    if until is not None:
        params[listing.before] = serialize.iso8601_datetime(until.astimezone(UTC))
    version = client.api.v2010
    uri = f"/Accounts/{client.account_sid}/{listing.resource}.json"
    response = version.page(method="GET", uri=uri, params=params)
    records: Iterator[dict[str, Any]] = version.stream(_Resources(version, response), limit)
    return list(records)


def _record(
    intake: Intake,
    listing: _Listing,
    number: str,
    records: list[dict[str, Any]],
    report: ReconcileReport,
) -> None:
    """One unit of work per number and kind: what it found is kept even if a later one fails."""
    valid = [
        r
        for r in records
        if isinstance(r, dict) and isinstance(r.get("sid"), str) and 0 < len(r["sid"]) <= 64
    ]
    if len(valid) < len(records):
        report.fail(number, f"{listing.resource}: {len(records) - len(valid)} unreadable")
    source_ids = [f"{PROVIDER}:{r['sid']}" for r in valid]
    with intake.database.read() as session:
        before = _sightings_of(session, source_ids)
        known = {r["sid"]: contact_by_sid(session, PROVIDER, r["sid"]) for r in valid}
    contacts = []
    for record in valid:
        kept = known[record["sid"]]
        report.contacts_seen += 1
        report.contacts_added += kept is None
        body = record.get("body")
        text = body if listing.kind is SourceKind.SMS and isinstance(body, str) else None
        contacts.append(
            Contact(
                provider=PROVIDER,
                kind=listing.kind,
                sid=record["sid"],
                to_number=str(record.get("to") or ""),
                from_number=str(record.get("from") or ""),
                received_at=_when(record, listing.time_fields) or utcnow(),
                raw=json.dumps(record, ensure_ascii=False).encode("utf-8"),
                content_type=JSON,
                # A contact that already named its canaries is not matched (nor its
                # evidence stored) again.
                text=None if kept is not None and kept.matched else text,
            )
        )
    record_contacts(intake, contacts)
    with intake.database.read() as session:
        report.sightings_added += _sightings_of(session, source_ids) - before


def _sightings_of(session: Session, source_ids: list[str]) -> int:
    if not source_ids:
        return 0
    source_id = col(Sighting.location)["source_id"].as_string()
    count = session.exec(select(func.count()).where(source_id.in_(source_ids))).one()
    return int(count)


def _when(record: dict[str, Any], names: tuple[str, ...]) -> datetime | None:
    """Twilio's times are RFC 2822 (`Tue, 31 Aug 2010 20:36:28 +0000`)."""
    for name in names:
        value = record.get(name)
        if not isinstance(value, str) or not value:
            continue
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def _reason(error: Exception) -> str:
    """Why a listing failed, from the status and Twilio's message: never the request, whose
    headers carry the credentials."""
    if isinstance(error, requests.RequestException):
        return f"Twilio could not be reached ({type(error).__name__})"
    if isinstance(error, TwilioRestException):
        return f"Twilio answered HTTP {error.status}: {error.code} {error.msg}"[:300]
    # A page the library could not read: TwilioException("Unable to fetch page", response).
    response = error.args[1] if len(error.args) > 1 else None
    if not isinstance(response, Response):
        return f"Twilio's answer could not be read ({type(error).__name__})"
    try:
        problem = json.loads(response.text)
        detail = f": {problem['code']} {problem['message']}"
    except (ValueError, TypeError, KeyError):
        detail = ""
    return f"Twilio answered HTTP {response.status_code}{detail}"[:300]
