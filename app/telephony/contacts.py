"""Calls and messages to pool numbers: each kept once (by provider and SID), matched when it
carries content, and counted for the number's background rate when it does not.

Telephony honeypots get about one unsolicited call per line every eight days with no leak
at all, so a bare contact is weak: it only counts towards the background rate attribution
subtracts. A canary's name (homophones too, as a transcript writes what it heard) or
waybill number in the SMS body or the transcript, together with the number called, makes a
sighting.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.auth.actor import Actor
from app.db import utcnow
from app.evidence.store import EvidenceStore
from app.sightings.index import IndexHolder
from app.sightings.observe import record_observation
from app.telephony.models import PhoneContact, PhoneNumber
from app.telephony.service import e164
from canaries.matching import Matcher
from watchers.observations import Evidence, Observation, SourceKind

BACKGROUND_DAYS = 30


def record_contact(
    session: Session,
    holder: IndexHolder,
    store: EvidenceStore,
    *,
    provider: str,
    kind: SourceKind,
    sid: str,
    to_number: str,
    from_number: str,
    text: str | None,
    raw: bytes,
    content_type: str,
    received_at: datetime | None = None,
    extension: str | None = None,
) -> PhoneContact:
    """Keep the contact (once: a retried webhook finds it) and match it if it says something."""
    received_at = received_at or utcnow()
    to = e164(to_number)
    contact = contact_by_sid(session, provider, sid)
    if contact is None:
        number = session.exec(select(PhoneNumber).where(PhoneNumber.number == to)).first()
        contact = PhoneContact(
            provider=provider,
            sid=sid,
            kind=kind.value,
            number_id=number.id if number else None,
            to_number=to,
            from_number=from_number[:32],
            received_at=received_at,
        )
        try:
            with session.begin_nested():
                session.add(contact)
        except IntegrityError:  # the same webhook delivered twice at once
            contact = contact_by_sid(session, provider, sid)
            if contact is None:
                raise
    if text and text.strip():
        holder.refresh(session)
        mobile = to[3:] if to.startswith("+86") else to
        if extension:  # a privacy number's extension names one canary
            mobile += "转" + extension
        observation = Observation(
            kind=kind,
            source_id=f"{provider}:{sid}",
            observed_at=contact.received_at,
            fields={"mobile": mobile},
            text=text,
            evidence=Evidence(raw, content_type),
            context={"provider": provider, "sid": sid, "to": to, "from": from_number[:32]},
        )
        observed = record_observation(
            session, Actor.webhook(provider), Matcher(holder.index), store, observation
        )
        if observed.matches:
            contact.matched = True
            session.add(contact)
    session.flush()
    return contact


def contact_by_sid(session: Session, provider: str, sid: str) -> PhoneContact | None:
    return session.exec(
        select(PhoneContact).where(PhoneContact.provider == provider, PhoneContact.sid == sid)
    ).first()


def background_rates(session: Session, now: datetime | None = None) -> dict[uuid.UUID, float]:
    """Contacts without content per day and number, over the last 30 days."""
    since = (now or utcnow()) - timedelta(days=BACKGROUND_DAYS)
    rows = session.exec(
        select(PhoneContact.number_id, func.count())
        .where(
            col(PhoneContact.number_id).is_not(None),
            col(PhoneContact.matched).is_(False),
            col(PhoneContact.received_at) >= since,
        )
        .group_by(col(PhoneContact.number_id))
    ).all()
    return {number_id: count / BACKGROUND_DAYS for number_id, count in rows if number_id}
