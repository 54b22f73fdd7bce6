"""Calls and messages to pool numbers: each kept once (by provider and SID) and, through the
intake, matched when it carries content.

A canary's name (homophones too, as a transcript writes what it heard) or waybill number in
the SMS body or the transcript, together with the number called, makes a sighting with a
score, and burns the canary.

A contact that names no canary by its content (a bare call, as every call is before its
transcript arrives; a message about something else) still reached a canary's number: the
one canary planted with it before the contact that the contact most likely concerns
(`line_canary`; on a privacy number, the one its extension names) gets a sighting without a
score. Telephony honeypots get about one unsolicited call per line every eight days with no
leak at all, so such a sighting is weak: attribution weighs it against the number's
background rate (app.numbers.background), it burns nothing, and an incident made only of
them is opened without an alert until a leak is far likelier than noise
(app.incidents.announce). Control numbers are never planted: their contacts only measure
the background.
"""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import case
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.intake.pipeline import Intake
from app.intake.sightings import Found, Seen
from app.models.canaries import Canary, CanaryStatus, Plant
from app.models.telephony import PhoneContact, PhoneNumber
from watchers.telephony import Contact


def record_contacts(intake: Intake, contacts: Sequence[Contact]) -> list[PhoneContact]:
    """Match what the contacts say (no transaction open), then keep them and their
    sightings in one unit of work. A contact kept before (a transcript arriving after its
    call) is dated when it happened, not when its content arrived."""
    with intake.database.read() as session:
        contacts = [_dated(session, c) for c in contacts]
    seen = intake.match(o for c in contacts for o in c.observations())
    said = {s.observation.source_id: s for s in seen}
    with intake.database.write() as session:
        return [keep_contact(session, intake, c, said.get(c.source_id)) for c in contacts]


def keep_contact(
    session: Session, intake: Intake, contact: Contact, said: Seen | None
) -> PhoneContact:
    """Keep the contact (once: a retried webhook finds it) and record what it named: by its
    content (`said`), or, for a new contact that named nothing, by the line it reached."""
    to = contact.to
    number = session.exec(select(PhoneNumber).where(PhoneNumber.number == to)).first()
    row, new = _kept(session, contact, number)
    seen = [said] if said is not None and said.found else []
    if seen:
        row.matched = True
        session.add(row)
    if new and not row.matched and number is not None and not number.control:
        carrier = line_canary(session, to, contact.extension, row.received_at)
        if carrier is not None:
            seen = [_line_seen(contact, number, carrier, row.received_at)]
    intake.record(session, Actor.webhook(contact.provider), seen)
    session.flush()
    return row


def _dated(session: Session, contact: Contact) -> Contact:
    known = contact_by_sid(session, contact.provider, contact.sid)
    return contact if known is None else replace(contact, received_at=known.received_at)


def _kept(
    session: Session, contact: Contact, number: PhoneNumber | None
) -> tuple[PhoneContact, bool]:
    """The stored contact, and whether it was new."""
    found = contact_by_sid(session, contact.provider, contact.sid)
    if found is not None:
        return found, False
    row = PhoneContact(
        provider=contact.provider,
        sid=contact.sid,
        kind=contact.kind.value,
        number_id=number.id if number else None,
        to_number=contact.to,
        from_number=contact.from_number[:32],
        received_at=contact.received_at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same webhook delivered twice at once
        again = contact_by_sid(session, contact.provider, contact.sid)
        if again is None:
            raise
        return again, False
    return row, True


def _line_seen(
    contact: Contact, number: PhoneNumber, carrier: tuple[uuid.UUID, bool], at: datetime
) -> Seen:
    """The contact as a sighting of the canary its line carries, without a score."""
    canary_id, control = carrier
    where: dict[str, str] = {"number_id": str(number.id)}
    if contact.extension:
        where["extension"] = contact.extension
    found = Found(
        canary_id=canary_id,
        control=control,
        score=None,
        fields={},
        excerpt=contact.text or "",
        part="line",
        where=where,
    )
    observation = contact.observation(with_text=False)
    return Seen(observation, (found,))


def line_canary(
    session: Session, to_number: str, extension: str | None, at: datetime
) -> tuple[uuid.UUID, bool] | None:
    """(canary, control) a contact without content to this number concerns: of the
    canaries planted with it before `at` (on a privacy number, with that extension), a
    burned one first (buyers hold its record: calls after a burn are about it, not about
    the replacement that reuses the number), else a planted one, else any; the newest plant
    first. One canary a contact, so one call is never counted twice."""
    local = to_number[3:] if to_number.startswith("+86") else to_number
    mobile = f"{local}转{extension}" if extension else local
    first = case(
        (col(Canary.status) == CanaryStatus.BURNED.value, 0),
        (col(Canary.status) == CanaryStatus.PLANTED.value, 1),
        else_=2,
    )
    row = session.exec(
        select(Canary.id, Canary.control)
        .join(Plant, col(Plant.canary_id) == col(Canary.id))
        .where(
            Canary.mobile == mobile,
            col(Canary.control).is_(False),
            col(Plant.planted_at) <= at,
        )
        .order_by(first, col(Plant.planted_at).desc(), col(Canary.id))
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


def contact_by_sid(session: Session, provider: str, sid: str) -> PhoneContact | None:
    return session.exec(
        select(PhoneContact).where(PhoneContact.provider == provider, PhoneContact.sid == sid)
    ).first()
