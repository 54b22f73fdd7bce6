"""Calls and messages to pool numbers: each kept once (by provider and SID) and matched when
it carries content.

A canary's name (homophones too, as a transcript writes what it heard) or waybill number in
the SMS body or the transcript, together with the number called, makes a sighting with a
score, and burns the canary.

A contact that names no canary by its content (a bare call, as every call is before its
transcript arrives; a message about something else) still reached a canary's number: the
one canary planted with it before the contact that the contact most likely concerns
(`line_canary`; on a privacy number, the one its extension names) gets a sighting without a
score. Telephony honeypots get about one unsolicited call per line every eight days with no
leak at all, so such a sighting is weak:
attribution weighs it against the number's background rate (app.telephony.background), it
burns nothing, and an incident made only of them is opened without an alert until a leak
is far likelier than noise (app.incidents.refresh). Control numbers are never planted: their
contacts only measure the background.
"""

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import case
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.db import utcnow
from app.evidence.store import EvidenceStore
from app.models.canaries import Canary, CanaryStatus, Plant
from app.models.sightings import Sighting, SightingSource
from app.models.telephony import PhoneContact, PhoneNumber
from app.sightings.index import IndexHolder
from app.sightings.observe import record_observation
from app.sightings.service import EXCERPT_CHARS, add_sightings
from app.telephony.service import e164
from canaries.matching import Matcher
from watchers.observations import Evidence, Observation, SourceKind


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
    number = session.exec(select(PhoneNumber).where(PhoneNumber.number == to)).first()
    new = contact is None
    if contact is None:
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
            new = False
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
    if new and not contact.matched and number is not None and not number.control:
        record_bare_contact(
            session, store, contact, extension=extension, text=text, raw=raw,
            content_type=content_type,
        )  # fmt: skip
    session.flush()
    return contact


def record_bare_contact(
    session: Session,
    store: EvidenceStore,
    contact: PhoneContact,
    *,
    extension: str | None,
    text: str | None,
    raw: bytes,
    content_type: str,
) -> list[Sighting]:
    """A sighting without a score for the one canary the contact most likely concerns (see
    `line_canary`); the ones added (none when no planted canary carries the number)."""
    carrier = line_canary(session, contact.to_number, extension, contact.received_at)
    if carrier is None:
        return []
    canary_id, link_id = carrier
    digest = store.put(Evidence(raw, content_type))
    source = SightingSource(contact.kind)
    source_id = f"{contact.provider}:{contact.sid}"
    location = {
        "source_id": source_id,
        "provider": contact.provider,
        "sid": contact.sid,
        "to": contact.to_number,
        "from": contact.from_number,
        "number_id": str(contact.number_id),
        "evidence_type": content_type,
    }
    if extension:
        location["extension"] = extension
    pending = [
        Sighting(
            canary_id=canary_id,
            link_id=link_id,
            source=source,
            dedup_key=hashlib.sha256(f"bare|{source}|{source_id}|{canary_id}".encode()).hexdigest(),
            observed_at=contact.received_at,
            score=None,
            evidence_sha256=digest,
            location=location,
            excerpt=(text or "")[:EXCERPT_CHARS],
        )
    ]
    reason = f"{source} without content to {contact.to_number}"
    return add_sightings(session, Actor.webhook(contact.provider), pending, reason)


def line_canary(
    session: Session, to_number: str, extension: str | None, at: datetime
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(canary, link) a contact without content to this number concerns: of the canaries
    planted with it before `at` (on a privacy number, with that extension), a burned one
    first (buyers hold its record: calls after a burn are about it, not about the
    replacement that reuses the number), else a planted one, else any; the newest plant
    first. One canary a contact, so one call is never counted twice."""
    local = to_number[3:] if to_number.startswith("+86") else to_number
    mobile = f"{local}转{extension}" if extension else local
    first = case(
        (col(Canary.status) == CanaryStatus.BURNED.value, 0),
        (col(Canary.status) == CanaryStatus.PLANTED.value, 1),
        else_=2,
    )
    row = session.exec(
        select(Canary.id, Canary.link_id)
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
