"""Routes for minting, reading and burning canaries, feed profiles, and pull feeds."""

import re
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.auth.actor import Actor
from app.auth.deps import CanaryMinter, CanaryReader, FeedClient, ProfileWriter
from app.models.canaries import PlantChannel
from app.paging import Offset, Page, limit_query
from app.planting import feeds, interleave, mint_jobs, service
from app.planting.schemas import (
    AckReport,
    AckRequest,
    CanaryDetail,
    CanaryRead,
    FeedProfileBody,
    MintJobRead,
    MintRequest,
    PlantRead,
    PullBatch,
    PullRequest,
    StyleRead,
)
from app.resources import DatabaseDep, JobsDep, ReadSession, WriteSession
from canaries.style import StyleProfile, default_style

router = APIRouter(tags=["canaries"])
MINTS_PATH = "/v1/mints"


@router.post(
    "/v1/links/{link_id}/canaries",
    status_code=status.HTTP_201_CREATED,
    response_model=list[CanaryRead],
    responses={
        201: {"description": "Up to 1,000 asked for: the canaries, minted and planted."},
        202: {
            "model": MintJobRead,
            "description": "More than 1,000 asked for: a mint job, queued. Poll "
            "`GET /v1/mints/{id}` (also in `Location`) for its progress; once `done`, page "
            "through its canaries at `GET /v1/mints/{id}/canaries`.",
            "headers": {"Location": {"description": "The mint job.", "schema": {"type": "string"}}},
        },
    },
)
def mint_canaries(
    database: DatabaseDep,
    jobs: JobsDep,
    actor: CanaryMinter,
    link_id: uuid.UUID,
    body: MintRequest,
) -> list[CanaryRead] | JSONResponse:
    """Mint canaries for the link and plant them there (channel `api`): up to 1,000 now,
    answered with the canaries (201); more by a job, answered at once with the job (202)."""
    if body.count > mint_jobs.SYNCHRONOUS_MINT_MAX:
        with database.write() as session:
            job = MintJobRead.of(mint_jobs.create_mint_job(session, actor, link_id, body.count))
            jobs.defer(session, "mint", mint_id=str(job.id), actor=actor.to_json())
        return JSONResponse(
            job.model_dump(mode="json"),
            status_code=status.HTTP_202_ACCEPTED,
            headers={"Location": f"{MINTS_PATH}/{job.id}"},
        )
    result = service.mint_apart(database, actor, link_id, body.count, PlantChannel.API)
    return [CanaryRead.of(c) for c in result.planted]


@router.get(f"{MINTS_PATH}/{{mint_id}}")
def get_mint(database: DatabaseDep, actor: CanaryReader, mint_id: uuid.UUID) -> MintJobRead:
    """A big mint's status and progress; a partner sees only its own keys' mints."""
    mint_jobs.MINT_JOBS.fail_stale(database)
    with database.read() as session:
        return MintJobRead.of(mint_jobs.visible_mint_job(session, actor, mint_id))


@router.get(f"{MINTS_PATH}/{{mint_id}}/canaries")
def list_mint_canaries(
    session: ReadSession,
    actor: CanaryReader,
    mint_id: uuid.UUID,
    limit: Annotated[int, limit_query(1000)] = 100,
    offset: Offset = 0,
) -> Page[CanaryRead]:
    """The canaries a mint stored so far (all of them once it is `done`), oldest first, one
    page at a time."""
    rows, total = mint_jobs.mint_job_canaries(session, actor, mint_id, limit=limit, offset=offset)
    return Page[CanaryRead](
        items=[CanaryRead.of(c) for c in rows], total=total, limit=limit, offset=offset
    )


@router.get("/v1/links/{link_id}/canaries")
def list_canaries(
    session: ReadSession,
    actor: CanaryReader,
    link_id: uuid.UUID,
    limit: Annotated[int, limit_query(1000)] = 100,
    offset: Offset = 0,
) -> Page[CanaryRead]:
    """The link's canaries, oldest first, one page at a time; a partner sees only those its own
    keys minted below its link."""
    rows, total = service.list_canaries(session, actor, link_id, limit=limit, offset=offset)
    return Page[CanaryRead](
        items=[CanaryRead.of(c) for c in rows], total=total, limit=limit, offset=offset
    )


@router.get("/v1/canaries/{canary_id}")
def get_canary(session: ReadSession, actor: CanaryReader, canary_id: uuid.UUID) -> CanaryDetail:
    """One canary: its record, status, where it was planted and the links exposed to it."""
    return _detail(session, actor, canary_id)


def _detail(session: Session, actor: Actor, canary_id: uuid.UUID) -> CanaryDetail:
    canary, planted, exposure = service.get_canary(session, actor, canary_id)
    return CanaryDetail(
        canary=CanaryRead.of(canary),
        status=canary.status,
        plant=PlantRead.of(planted) if planted else None,
        exposure=exposure,
    )


@router.post("/v1/canaries/{canary_id}/burn")
def burn_canary(session: WriteSession, actor: ProfileWriter, canary_id: uuid.UUID) -> CanaryDetail:
    """Retire a canary known to have surfaced; its link gets a fresh one."""
    service.burn_canary(session, actor, canary_id, "marked burned by hand")
    return _detail(session, actor, canary_id)


@router.get("/v1/links/{link_id}/feed-profile")
def get_feed_profile(
    session: ReadSession, actor: ProfileWriter, link_id: uuid.UUID
) -> FeedProfileBody:
    """The link's feed profile: the shape its dispatch system expects (format, encoding, columns)
    and its interleave rate."""
    return FeedProfileBody.of(service.visible_feed_profile(session, actor, link_id))


@router.put("/v1/links/{link_id}/feed-profile")
def put_feed_profile(
    session: WriteSession, actor: ProfileWriter, link_id: uuid.UUID, body: FeedProfileBody
) -> FeedProfileBody:
    """Replace the link's feed profile; pulls and interleaves are shaped by it from now on."""
    return FeedProfileBody.of(service.set_feed_profile(session, actor, link_id, body))


# A sample is read in memory once: a few thousand records say all a style holds.
STYLE_SAMPLE_PATH = re.compile(r"^/v1/links/[^/]+/style-sample$")
STYLE_SAMPLE_BYTES = 32 << 20


@router.put(
    "/v1/links/{link_id}/style-sample",
    openapi_extra={
        "requestBody": {
            "content": {"text/csv": {}, "application/x-ndjson": {}},
            "description": "A sample of the link's own records (its feed or an export), "
            "CSV, tab-separated or NDJSON, in any encoding. Only statistics are kept.",
        }
    },
)
async def put_style_sample(
    request: Request, database: DatabaseDep, actor: ProfileWriter, link_id: uuid.UUID
) -> StyleRead:
    """Learn the link's style from a sample of its own records; its canaries are drawn from
    it from now on. The sample is never stored: only shares and counts are."""

    def visible() -> None:
        with database.read() as session:
            service.visible_feed_profile(session, actor, link_id)

    def keep(style: StyleProfile) -> None:
        with database.write() as session:
            feeds.keep_style(session, actor, link_id, style)

    await run_in_threadpool(visible)  # a link the caller cannot see: 404 before any upload
    body = bytearray()
    async for chunk in request.stream():  # the middleware stops it at STYLE_SAMPLE_BYTES
        body += chunk
    style = await run_in_threadpool(feeds.style_from_sample, bytes(body))
    await run_in_threadpool(keep, style)
    return StyleRead.of(style, learned=True)


@router.get("/v1/links/{link_id}/style")
def get_style(session: ReadSession, actor: ProfileWriter, link_id: uuid.UUID) -> StyleRead:
    """The style the link's canaries are drawn from: learned from its sample, or the default."""
    profile = service.visible_feed_profile(session, actor, link_id)
    if profile.style:
        return StyleRead.of(StyleProfile.from_json(profile.style), learned=True)
    return StyleRead.of(default_style(), learned=False)


BATCH_HEADER = {
    "X-Batch-Id": {
        "description": "The batch's id, to acknowledge it by (`POST /v1/feed/batches/{id}/ack`).",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
}
FEED_BODY = {
    "required": True,
    "description": "The link's outbound feed as its dispatch system writes it, any size: CSV "
    "(with a header row) or NDJSON, UTF-8 (with or without BOM) or GB18030.",
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": "运单号,收件人,联系电话,收货地址\r\n"
            "ZT1234567890123,张伟,13800138000,浙江省杭州市西湖区文三路90号\r\n",
        },
        "application/x-ndjson": {
            "schema": {"type": "string"},
            "example": '{"waybill_no": "ZT1234567890123", "name": "张伟"}\n',
        },
    },
}


@router.post(
    "/v1/links/{link_id}/feed/pull",
    response_model=None,
    responses={
        200: {
            "model": PullBatch,
            "description": "The batch: JSON (`records` keyed by the profile's columns), or "
            "CSV in the profile's columns and encoding.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "headers": BATCH_HEADER,
        }
    },
)
def pull_feed(
    session: WriteSession,
    actor: FeedClient,
    response: Response,
    link_id: uuid.UUID,
    body: PullRequest,
    format: Literal["json", "csv"] | None = None,
) -> PullBatch | Response:
    """Canaries for the link in its feed's shape (the profile's format unless `format` says
    otherwise); they are planted when the batch is acknowledged, and expire if not. A key
    scoped to a link pulls that link's canaries only."""
    batch_id, canaries, profile = feeds.pull(session, actor, link_id, body.count)
    columns = feeds.feed_columns(profile)
    style = StyleProfile.from_json(profile.style) if profile.style else None
    records = [feeds.feed_record(c, columns, style) for c in canaries]
    if (format or profile.feed_format) == "csv":
        text = feeds.render_csv(records, columns)
        return Response(
            text.encode(profile.feed_encoding),
            media_type=f"text/csv; charset={profile.feed_encoding}",
            headers={"X-Batch-Id": str(batch_id)},
        )
    response.headers["X-Batch-Id"] = str(batch_id)
    return PullBatch(batch_id=batch_id, link_id=link_id, records=records)


@router.post(
    "/v1/links/{link_id}/feed/interleave",
    response_class=Response,
    responses={
        200: {
            "description": "The feed as it streams back, canaries spliced in, in the feed's own "
            "format and charset.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
    openapi_extra={"requestBody": FEED_BODY},
)
async def interleave_feed(
    request: Request,
    database: DatabaseDep,
    session: ReadSession,
    actor: FeedClient,
    link_id: uuid.UUID,
    format: Literal["csv", "ndjson"] = "csv",
    rate: Annotated[float | None, Query(gt=0, le=0.2)] = None,
) -> Response:
    """Stream the link's outbound feed (CSV or NDJSON, any size) through honeytrace; it comes
    back with the link's canaries spliced in at the profile's rate, each shaped like its
    neighbours, and every canary that goes out is planted."""
    run = await run_in_threadpool(interleave.prepare, session, database, actor, link_id, rate)
    # The stream outlives this request and writes in units of work of its own.
    await run_in_threadpool(session.close)
    return await interleave.start_feed(request, run, format)


@router.post("/v1/feed/batches/{batch_id}/ack")
def acknowledge_batch(
    session: WriteSession, actor: FeedClient, batch_id: uuid.UUID, body: AckRequest
) -> AckReport:
    """Tell which canaries of a pulled batch were spliced into the feed: those are planted, the
    rest of the batch expires. Waybill numbers not in the batch refuse the whole ack (404),
    naming the first few."""
    planted, expired = feeds.acknowledge(session, actor, batch_id, body.spliced)
    return AckReport(planted=planted, expired=expired)
