"""Trading sites: their definitions, and polls that turn new listings into sightings.

A poll crawls the site (watchers.sites: no database), matches each new or changed listing
outside any transaction, then stores its sightings (through the intake) and the listing's
new hash in one unit of work. A listing's hash is stored only with its sightings, so a poll
that fails part-way is re-done by the next one: nothing seen is lost, and nothing is matched
twice into sightings (an observation's source id is the listing URL).
"""

import asyncio
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import utcnow
from app.intake.matching import match_observations, seen_in_file
from app.intake.pipeline import Intake
from app.intake.sightings import Seen
from app.models.sites import Site, SiteListing
from app.problems import ConflictError, InvalidError, NotFoundError
from app.sites.schemas import PollSummary, SiteCreate, SiteDefinitionBody, SiteUpdate
from watchers.dumps import DumpLimits
from watchers.scan import scan_stream
from watchers.sites import CrawlReport, Listing, SiteCrawler, SiteDefinition


def site_definition(name: str, body: dict[str, Any]) -> SiteDefinition:
    """The crawler's definition of a stored site; its own checks (selectors, the regex's
    groups) become a 422 naming the problem."""
    checked = SiteDefinitionBody.model_validate(body)
    try:
        return SiteDefinition(
            name=name,
            start_urls=tuple(checked.start_urls),
            listing_links=checked.listing_links,
            next_page=checked.next_page,
            max_pages=checked.max_pages,
            max_listings=checked.max_listings,
            record_selector=checked.record_selector,
            record_regex=checked.record_regex,
            attachment_links=checked.attachment_links,
            headers=dict(checked.headers),
            cookies=dict(checked.cookies),
            proxy=checked.proxy,
            requests_per_second=checked.requests_per_second,
            max_page_bytes=checked.max_page_bytes,
            max_attachment_bytes=checked.max_attachment_bytes,
            timeout_seconds=checked.timeout_seconds,
            retries=checked.retries,
        )
    except ValueError as error:
        raise InvalidError(f"The site definition is not usable: {error}") from error


def create_site(session: Session, actor: Actor, body: SiteCreate) -> Site:
    definition = body.definition.model_dump(mode="json")
    site_definition(body.name, definition)
    site = Site(
        name=body.name,
        definition=definition,
        poll_interval_seconds=body.poll_interval_seconds,
        enabled=body.enabled,
    )
    session.add(site)
    try:
        session.flush()
    except IntegrityError as error:
        raise ConflictError(f"A site named {body.name!r} exists already.") from error
    record_audit(session, actor, "site.create", "site", site.id, {"name": site.name})
    return site


def get_site(session: Session, site_id: uuid.UUID) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NotFoundError("No such site.")
    return site


def list_sites(session: Session) -> list[Site]:
    return list(session.exec(select(Site).order_by(col(Site.name))).all())


def update_site(session: Session, actor: Actor, site_id: uuid.UUID, body: SiteUpdate) -> Site:
    site = get_site(session, site_id)
    changed = body.model_dump(exclude_unset=True, mode="json")
    if body.definition is not None:
        definition = body.definition.model_dump(mode="json")
        site_definition(site.name, definition)
        site.definition = definition
    if body.poll_interval_seconds is not None:
        site.poll_interval_seconds = body.poll_interval_seconds
    if body.enabled is not None:
        site.enabled = body.enabled
    site.updated_at = utcnow()
    session.add(site)
    record_audit(session, actor, "site.update", "site", site.id, {"fields": sorted(changed)})
    return site


def delete_site(session: Session, actor: Actor, site_id: uuid.UUID) -> None:
    """Forget a site and its listing hashes; its sightings stay (they are evidence)."""
    site = get_site(session, site_id)
    for listing in session.exec(select(SiteListing).where(SiteListing.site_id == site_id)):
        session.delete(listing)
    session.delete(site)
    record_audit(session, actor, "site.delete", "site", site_id, {"name": site.name})


def list_listings(
    session: Session, site_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[SiteListing], int]:
    get_site(session, site_id)
    query = select(SiteListing).where(SiteListing.site_id == site_id)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(SiteListing.changed_at).desc(), col(SiteListing.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def due_sites(session: Session, now: datetime | None = None) -> list[uuid.UUID]:
    """Enabled sites whose interval has passed since their last poll (or never polled)."""
    now = now or utcnow()
    due = []
    for site in session.exec(select(Site).where(col(Site.enabled))):
        last = site.last_polled_at
        if last is None or last + timedelta(seconds=site.poll_interval_seconds) <= now:
            due.append(site.id)
    return due


@dataclass
class _Matched:
    """One listing and what its records, text and sample files named, found before any
    transaction opens."""

    listing: Listing
    seen: list[Seen]


def match_listings(intake: Intake, listings: list[Listing], limits: DumpLimits) -> list[_Matched]:
    matcher = intake.matcher()
    matched = []
    for listing in listings:
        seen = match_observations(matcher, listing.observations())
        for page in listing.attachments:
            name = page.final_url.rsplit("/", 1)[-1] or "sample"
            result = scan_stream(io.BytesIO(page.body), name, matcher, limits)
            observation = listing.attachment_observation(page, result.report.rows)
            seen.append(seen_in_file(observation, result, rows_apart=False))
        matched.append(_Matched(listing, seen))
    return matched


def record_poll(
    intake: Intake, site_id: uuid.UUID, matched: list[_Matched], report: CrawlReport
) -> PollSummary:
    """Store a poll in one unit of work: each listing's sightings with its new hash, then
    the site's report."""
    actor = Actor.scheduler()
    added = 0
    with intake.database.write() as session:
        site = get_site(session, site_id)
        for item in matched:
            count = len(intake.record(session, actor, item.seen).added)
            _remember_listing(session, site_id, item.listing, count)
            added += count
        summary = PollSummary(
            site_id=site_id,
            started_at=report.started_at,
            finished_at=report.finished_at,
            pages_fetched=report.pages_fetched,
            listings_seen=report.listings_seen,
            listings_changed=report.listings_changed,
            attachments_scanned=sum(len(item.listing.attachments) for item in matched),
            sightings_added=added,
            errors=[{"url": e.url, "reason": e.reason} for e in report.errors[:100]],
        )
        site.last_polled_at = report.finished_at
        site.last_report = summary.model_dump(mode="json", exclude={"site_id"})
        session.add(site)
        record_audit(
            session,
            actor,
            "site.poll",
            "site",
            site_id,
            {"listings_changed": report.listings_changed, "sightings": added},
        )
    return summary


def _remember_listing(session: Session, site_id: uuid.UUID, listing: Listing, added: int) -> None:
    row = session.exec(
        select(SiteListing).where(SiteListing.site_id == site_id, SiteListing.url == listing.url)
    ).first()
    now = utcnow()
    if row is None:
        row = SiteListing(site_id=site_id, url=listing.url, sha256="")
    if listing.complete:  # else the old hash stays, so the next poll reads it again
        row.sha256 = listing.page.sha256
    row.changed_at = now
    row.sightings += added
    session.add(row)


def seen_listings(session: Session, site_id: uuid.UUID) -> dict[str, str]:
    rows = session.exec(
        select(SiteListing.url, SiteListing.sha256).where(SiteListing.site_id == site_id)
    ).all()
    return dict(rows)


async def poll_site(
    intake: Intake,
    crawler: SiteCrawler,
    site_id: uuid.UUID,
    limits: DumpLimits | None = None,
) -> PollSummary:
    """Crawl one site, match what is new, store it. Database work runs on threads."""

    def load() -> tuple[SiteDefinition, dict[str, str]]:
        with intake.database.read() as session:
            site = get_site(session, site_id)
            return site_definition(site.name, site.definition), seen_listings(session, site_id)

    definition, seen = await asyncio.to_thread(load)
    listings, report = await crawler.crawl(definition, seen)
    matched = await asyncio.to_thread(match_listings, intake, listings, limits or DumpLimits())
    return await asyncio.to_thread(record_poll, intake, site_id, matched, report)
