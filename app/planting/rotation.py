"""Rotation: stale hand-outs expire, links whose feeds have gone quiet get fresh canaries,
and burned canaries owed a replacement (their link's number pool was used up) get one once
it can be minted. A link whose canaries cannot be minted now is counted short, never the
end of the run.

The floor for a quiet link is `rotation_batch` canaries every `rotation_days`, one at a
time: a link with no plant in the last rotation_days / rotation_batch days (3 by default)
and none waiting gets one canary ready, which its next pull or streamed feed takes first.
Spread, not in one batch: a leak's look-back then holds a link's canaries in proportion to
the time it covers, so a link's canaries never crowd out its parent's in a short window
(a batch of ten at once made a courier's leak of two of them look like its outlet's).

A plain function over a session, so the in-process scheduler, a worker and the CLI all run
the same code (`honeytrace canaries rotate`).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.models.canaries import Canary, CanaryStatus, FeedProfile, Plant
from app.models.links import Link
from app.planting.service import mint_canaries, replace_canary
from app.problems import ConflictError

# A pull batch not acknowledged within a day was never spliced in (or nobody can say it was).
PENDING_TTL = timedelta(days=1)


@dataclass(frozen=True)
class RotationReport:
    expired_pending: int
    expired_ready: int
    links_refreshed: int
    minted: int
    replaced: int  # owed replacements minted now
    links_short: int  # links whose canaries could not be minted (a number pool used up)


def rotate(session: Session, actor: Actor, now: datetime) -> RotationReport:
    expired_pending = _expire(session, CanaryStatus.PENDING, now - PENDING_TTL)
    _release_stale_claims(session, now - PENDING_TTL)
    expired_ready = 0
    links_refreshed = minted = 0
    short: set[uuid.UUID] = set()
    profiles = session.exec(select(FeedProfile)).all()
    for profile in profiles:
        link = session.get(Link, profile.link_id)
        if link is None or link.deactivated_at is not None:
            continue
        if link.valid_until is not None and link.valid_until <= now:
            continue
        window_start = now - timedelta(days=profile.rotation_days)
        expired_ready += _expire(session, CanaryStatus.READY, window_start, link.id)
        recent_plants = session.exec(
            select(func.count())
            .select_from(Plant)
            .where(Plant.link_id == link.id, col(Plant.planted_at) >= now - floor_gap(profile))
        ).one()
        waiting = session.exec(
            select(func.count())
            .select_from(Canary)
            .where(Canary.link_id == link.id, Canary.status == CanaryStatus.READY)
        ).one()
        if recent_plants == 0 and waiting == 0:
            try:
                with session.begin_nested():
                    result = mint_canaries(
                        session, actor, link.id, 1, None, status=CanaryStatus.READY
                    )
            except ConflictError:
                short.add(link.id)
                continue
            links_refreshed += 1
            minted += len(result.planted)
    replaced = _replace_owed(session, actor, short)
    report = RotationReport(
        expired_pending, expired_ready, links_refreshed, minted, replaced, len(short)
    )
    record_audit(session, actor, "canary.rotate", "canaries", None, report.__dict__)
    return report


def floor_gap(profile: FeedProfile) -> timedelta:
    """How long a link may go without a plant before rotation readies one for it."""
    return timedelta(days=profile.rotation_days) / profile.rotation_batch


def _release_stale_claims(session: Session, claimed_before: datetime) -> None:
    """Ready canaries a streamed feed claimed and never released (its process died) wait
    for the next feed again: a claim is kept for a day, as a pull's hand-out is."""
    session.connection().execute(
        update(Canary)
        .where(
            col(Canary.status) == CanaryStatus.READY,
            col(Canary.batch_id).is_not(None),
            col(Canary.handed_out_at) < claimed_before,
        )
        .values(batch_id=None, handed_out_at=None)
    )


def _replace_owed(session: Session, actor: Actor, short: set[uuid.UUID]) -> int:
    """Mint the replacements burns could not (adds the links still short to `short`)."""
    replaced = 0
    owed = session.exec(select(Canary).where(col(Canary.replacement_owed).is_(True))).all()
    for burned in owed:
        fresh, problem = replace_canary(session, actor, burned)
        replaced += len(fresh)
        if problem is not None:
            short.add(burned.link_id)
    session.flush()
    return replaced


def _expire(
    session: Session,
    status: CanaryStatus,
    minted_before: datetime,
    link_id: uuid.UUID | None = None,
) -> int:
    """Canaries that never reached a feed and are too old to hand out now; a hand-out is as
    old as its pull (a canary that waited `ready` was handed out after it was minted)."""
    since = func.coalesce(col(Canary.handed_out_at), col(Canary.minted_at))
    query = select(Canary).where(Canary.status == status, since < minted_before)
    if link_id is not None:
        query = query.where(Canary.link_id == link_id)
    stale = session.exec(query).all()
    for canary in stale:
        canary.status = CanaryStatus.EXPIRED
        canary.batch_id = None
        canary.handed_out_at = None
        session.add(canary)
    session.flush()
    return len(stale)
