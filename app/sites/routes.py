"""/v1/sites: the data-trading sites the watcher crawls; thin routes over app.sites.service."""

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, status

from app.audit.service import record_audit
from app.auth.deps import SiteManager, SiteReader
from app.intake.deps import IntakeDep
from app.paging import Offset, Page, limit_query, page_of
from app.resources import DatabaseDep, ReadSession, WriteSession
from app.sites import service
from app.sites.deps import CrawlsDep
from app.sites.schemas import ListingRead, PollSummary, SiteCreate, SiteRead, SiteUpdate

router = APIRouter(prefix="/v1/sites", tags=["sites"])


@router.get("")
def list_sites(
    session: ReadSession,
    actor: SiteReader,
    limit: Annotated[int, limit_query(500)] = 100,
    offset: Offset = 0,
) -> Page[SiteRead]:
    """The sites by name, each with how its last poll went."""
    return page_of([SiteRead.of(s) for s in service.list_sites(session)], limit, offset)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_site(session: WriteSession, actor: SiteManager, body: SiteCreate) -> SiteRead:
    """Register a site to watch (a listings page and how to read it); it is polled on its
    interval."""
    return SiteRead.of(service.create_site(session, actor, body))


@router.get("/{site_id}")
def get_site(session: ReadSession, actor: SiteReader, site_id: uuid.UUID) -> SiteRead:
    """One watched site with how its last poll went."""
    return SiteRead.of(service.get_site(session, site_id))


@router.patch("/{site_id}")
def update_site(
    session: WriteSession, actor: SiteManager, site_id: uuid.UUID, body: SiteUpdate
) -> SiteRead:
    """Change how a site is watched (its definition, its poll interval), or pause it."""
    return SiteRead.of(service.update_site(session, actor, site_id, body))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_site(session: WriteSession, actor: SiteManager, site_id: uuid.UUID) -> None:
    """Stop watching a site and forget its settings."""
    service.delete_site(session, actor, site_id)


@router.get("/{site_id}/listings")
def list_listings(
    session: ReadSession,
    actor: SiteReader,
    site_id: uuid.UUID,
    limit: Annotated[int, limit_query(500)] = 100,
    offset: Offset = 0,
) -> Page[ListingRead]:
    """Listings seen on the site, most recently changed first."""
    rows, total = service.list_listings(session, site_id, limit, offset)
    items = [
        ListingRead(
            url=r.url,
            sha256=r.sha256,
            first_seen_at=r.first_seen_at,
            changed_at=r.changed_at,
            sightings=r.sightings,
        )
        for r in rows
    ]
    return Page[ListingRead](items=items, total=total, limit=limit, offset=offset)


@router.post("/{site_id}/poll")
async def poll_now(
    database: DatabaseDep, intake: IntakeDep, crawls: CrawlsDep, actor: SiteManager,
    site_id: uuid.UUID,
) -> PollSummary:  # fmt: skip
    """Poll the site now and wait for the result (to try a new definition); scheduled polls
    run as jobs."""

    def audit() -> None:
        with database.write() as session:
            service.get_site(session, site_id)
            record_audit(session, actor, "site.poll_requested", "site", site_id)

    # The request is audited in a unit of work of its own, ended before the crawl.
    await asyncio.to_thread(audit)
    return await crawls.run_async(lambda crawler: service.poll_site(intake, crawler, site_id))
