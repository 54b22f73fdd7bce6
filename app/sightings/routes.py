"""GET /v1/sightings: every sighting, newest first (reports are filed at POST /v1/sightings:
app.reports)."""

import uuid
from typing import Annotated

from fastapi import APIRouter
from pydantic import AwareDatetime
from sqlmodel import col, func, select

from app.auth.deps import SightingReader
from app.models.sightings import Sighting, SightingSource
from app.paging import Offset, Page, limit_query
from app.resources import ReadSession
from app.sightings.schemas import SightingRead

router = APIRouter(prefix="/v1/sightings", tags=["sightings"])


@router.get("")
def list_sightings(
    session: ReadSession,
    actor: SightingReader,
    source: SightingSource | None = None,
    canary_id: uuid.UUID | None = None,
    link_id: uuid.UUID | None = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, limit_query(500)] = 100,
    offset: Offset = 0,
) -> Page[SightingRead]:
    """Sightings, newest first, with their canaries, links, scores and evidence hashes."""
    query = select(Sighting)
    if source is not None:
        query = query.where(Sighting.source == source)
    if canary_id is not None:
        query = query.where(Sighting.canary_id == canary_id)
    if link_id is not None:
        query = query.where(Sighting.link_id == link_id)
    if since is not None:
        query = query.where(col(Sighting.observed_at) >= since)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Sighting.observed_at).desc(), col(Sighting.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return Page[SightingRead](
        items=[SightingRead.of(s) for s in page], total=total, limit=limit, offset=offset
    )
