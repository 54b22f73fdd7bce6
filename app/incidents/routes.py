"""/v1/incidents: thin routes over app.incidents.service; every change is audited."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from pydantic import AwareDatetime
from starlette.background import BackgroundTask

from app.audit.service import record_audit
from app.auth.deps import IncidentManager, IncidentReader
from app.evidence.deps import EvidenceDep
from app.incidents import service
from app.incidents.bundle import bundle_file
from app.incidents.schemas import (
    IncidentRead,
    IncidentSummary,
    MergeRequest,
    SplitRequest,
)
from app.models.incidents import IncidentStatus
from app.paging import Offset, Page, limit_query
from app.problems import ForbiddenError
from app.resources import ReadSession, SettingsDep, WriteSession

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])


@router.get("")
def list_incidents(
    session: ReadSession,
    actor: IncidentReader,
    status: IncidentStatus | None = None,
    link_id: Annotated[
        uuid.UUID | None, Query(description="Incidents naming this link as a candidate.")
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="Seen at or after this.")] = None,
    limit: Annotated[int, limit_query(500)] = 100,
    offset: Offset = 0,
) -> Page[IncidentSummary]:
    """Incidents, the most recently seen first."""
    items, total = service.list_incidents(
        session, actor, status=status, link_id=link_id, since=since, limit=limit, offset=offset
    )
    visible = service.visible_links(session, actor, {i.top_link_id for i in items if i.top_link_id})
    return Page[IncidentSummary](
        items=[
            IncidentSummary.of(
                i, i.top_link_id is None or i.top_link_id in visible, actor.scope_link_id is None
            )
            for i in items
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{incident_id}")
def get_incident(
    session: ReadSession, actor: IncidentReader, incident_id: uuid.UUID
) -> IncidentRead:
    """The incident with its ranked candidates, explanation and sightings."""
    return IncidentRead.build(session, actor, service.get_incident(session, actor, incident_id))


@router.post("/{incident_id}/merge")
def merge(
    session: WriteSession,
    settings: SettingsDep,
    actor: IncidentManager,
    incident_id: uuid.UUID,
    body: MergeRequest,
) -> IncidentRead:
    """Merge other incidents into this one (they are closed, pointing at it)."""
    change = service.merge_incidents(session, actor, incident_id, body.incident_ids, settings.zone)
    return IncidentRead.build(session, actor, change.incident)


@router.post("/{incident_id}/split")
def split(
    session: WriteSession,
    settings: SettingsDep,
    actor: IncidentManager,
    incident_id: uuid.UUID,
    body: SplitRequest,
) -> IncidentRead:
    """Move these sightings to a new incident; answers with the new incident."""
    change = service.split_incident(session, actor, incident_id, body.sighting_ids, settings.zone)
    return IncidentRead.build(session, actor, change.others[0])


@router.post("/{incident_id}/close")
def close(session: WriteSession, actor: IncidentManager, incident_id: uuid.UUID) -> IncidentRead:
    """Close an incident: later sightings of its leak open a new one."""
    return IncidentRead.build(session, actor, service.close_incident(session, actor, incident_id))


@router.get(
    "/{incident_id}/bundle",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The bundle (ZIP)."}},
)
def bundle(
    session: WriteSession,
    actor: IncidentReader,
    store: EvidenceDep,
    settings: SettingsDep,
    incident_id: uuid.UUID,
) -> FileResponse:
    """The evidence bundle as a ZIP (README, Incidents). Not for partners: it holds the
    canaries' records."""
    if actor.scope_link_id is not None:
        raise ForbiddenError("The evidence bundle holds canary records: not for partner keys.")
    incident = service.get_incident(session, actor, incident_id)
    path, files = bundle_file(session, store, actor, incident, settings.zone)
    record_audit(session, actor, "incident.bundle", "incident", incident.id, {"files": len(files)})
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"incident-{incident.id}.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
