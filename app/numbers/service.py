"""The number pool: register the operator's numbers, assign each to one link at a time, and
hand a link's numbers to the minter so its canaries can carry them in full."""

import re
import uuid

from sqlmodel import Session, col, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import utcnow
from app.links.service import get_link
from app.models.canaries import Canary, CanaryStatus
from app.models.links import Link
from app.models.telephony import PhoneAssignment, PhoneNumber
from app.problems import ConflictError, InvalidError, NotFoundError, field_error
from canaries.divisions import division_table
from canaries.mint import MobilePool
from canaries.mobiles import MobileForm, normalise_mobile
from watchers.telephony import e164

# Canaries are Chinese waybills: only a mainland mobile looks like one.
MAINLAND_MOBILE = re.compile(r"^\+861[3-9][0-9]{9}$")
CAPABILITIES = frozenset({"voice", "sms"})
# Canaries still out there, whose numbers a new canary must not reuse.
_LIVE = (CanaryStatus.READY, CanaryStatus.PENDING, CanaryStatus.PLANTED)


def register_number(
    session: Session,
    actor: Actor,
    number: str,
    provider: str,
    capabilities: list[str],
    home_district: str | None,
    privacy: bool,
    control: bool,
) -> PhoneNumber:
    normal = e164(number)
    if not MAINLAND_MOBILE.match(normal):
        raise InvalidError(
            "Only mainland mobile numbers (+86 1xx xxxx xxxx) can stand in a canary.",
            errors=[field_error("number", "not a mainland mobile number")],
        )
    unknown = set(capabilities) - CAPABILITIES
    if unknown or not capabilities:
        raise InvalidError(
            "Capabilities are voice and/or sms.",
            errors=[field_error("capabilities", f"unknown: {', '.join(sorted(unknown))}")],
        )
    if home_district is not None and home_district not in division_table():
        raise InvalidError(
            "Unknown division code.", errors=[field_error("home_district", "not in GB/T 2260")]
        )
    if session.exec(select(PhoneNumber).where(PhoneNumber.number == normal)).first():
        raise ConflictError(f"{normal} is already registered.")
    phone = PhoneNumber(
        number=normal,
        provider=provider,
        capabilities=sorted(set(capabilities)),
        home_district=home_district,
        privacy=privacy,
        control=control,
    )
    session.add(phone)
    session.flush()
    record_audit(session, actor, "number.register", "phone_number", phone.id,
                 {"number": normal, "provider": provider, "control": control})  # fmt: skip
    return phone


def get_number(session: Session, number_id: uuid.UUID) -> PhoneNumber:
    phone = session.get(PhoneNumber, number_id)
    if phone is None:
        raise NotFoundError("Number not found.")
    return phone


def list_numbers(session: Session, link_id: uuid.UUID | None = None) -> list[PhoneNumber]:
    query = select(PhoneNumber)
    if link_id is not None:
        query = query.where(PhoneNumber.link_id == link_id)
    return list(session.exec(query.order_by(col(PhoneNumber.number))).all())


def assign_number(
    session: Session, actor: Actor, number_id: uuid.UUID, link_id: uuid.UUID
) -> PhoneNumber:
    """Give the number to one link; it stays that link's alone until released."""
    phone = get_number(session, number_id)
    link = get_link(session, actor, link_id)
    if phone.control:
        raise InvalidError(
            "A control number is never planted, so it is never assigned to a link.",
            errors=[field_error("number_id", "control number")],
        )
    if phone.link_id is not None and phone.link_id != link.id:
        raise ConflictError("The number is assigned to another link; release it first.")
    if phone.link_id == link.id:
        return phone
    now = utcnow()
    phone.link_id, phone.assigned_at = link.id, now
    session.add(phone)
    session.add(PhoneAssignment(number_id=phone.id, link_id=link.id, assigned_at=now))
    session.flush()
    record_audit(
        session, actor, "number.assign", "phone_number", phone.id, {"link_id": str(link.id)}
    )
    return phone


def release_number(session: Session, actor: Actor, number_id: uuid.UUID) -> PhoneNumber:
    phone = get_number(session, number_id)
    if phone.link_id is None:
        return phone
    now = utcnow()
    open_assignment = session.exec(
        select(PhoneAssignment).where(
            PhoneAssignment.number_id == phone.id, col(PhoneAssignment.released_at).is_(None)
        )
    ).first()
    if open_assignment is not None:
        open_assignment.released_at = now
        session.add(open_assignment)
    record_audit(session, actor, "number.release", "phone_number", phone.id,
                 {"link_id": str(phone.link_id)})  # fmt: skip
    phone.link_id, phone.assigned_at = None, None
    session.add(phone)
    session.flush()
    return phone


def pool_for(session: Session, link: Link, form: MobileForm) -> MobilePool | None:
    """The link's own numbers for the minter, with those its live canaries already carry
    marked used (a full number once per link, a privacy number's extensions once each)."""
    if form is MobileForm.MASKED:
        return None
    numbers = [
        p.number[3:]
        for p in list_numbers(session, link.id)
        if p.privacy == (form is MobileForm.PRIVACY) and not p.control
    ]
    if not numbers:
        return None
    carried = session.exec(
        select(Canary.mobile).where(
            Canary.link_id == link.id,
            Canary.mobile_form == form.value,
            col(Canary.status).in_(_LIVE),
        )
    ).all()
    if form is MobileForm.FULL:
        return MobilePool(numbers, used=set(carried))
    extensions = {normalise_mobile(m) for m in carried}
    return MobilePool(numbers, used_extensions=extensions)
