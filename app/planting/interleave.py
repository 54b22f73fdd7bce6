"""Interleave: a link's outbound feed streams through honeytrace and comes back with that
link's canaries spliced in. The real records pass through in memory only: never stored,
never logged. The canaries waiting for the link (a burned canary's replacement, rotation's
floor) go out first; then canaries are minted as the splicer asks for them. Each is planted
as it goes out.
"""

import logging
import random
import uuid
from collections.abc import AsyncGenerator, Iterator, Mapping
from typing import Literal

import anyio.from_thread
from sqlalchemy import update
from sqlmodel import Session, col, select
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import Database, utcnow
from app.models.canaries import Canary, CanaryStatus, PlantChannel
from app.models.links import Link
from app.planting.service import (
    feed_profile,
    feedable_link,
    minted_of,
    minter_for,
    plant,
    pooled_of,
    record_plants,
    store_canaries,
    unique_against_store,
)
from app.problems import InvalidError
from canaries import mint
from canaries.splice import FeedFormatError, splice_feed, splice_fields

log = logging.getLogger("honeytrace.feeds")
# Canaries are stored and planted in groups: fewer round trips, and at most this many are
# in flight (emitted but not yet recorded) when a stream breaks off; those are recorded too.
PLANT_GROUP = 64
GATHER_BYTES = 1 << 20


class FeedSplice:
    """One interleave run: supplies canaries to the splicer and records what went out."""

    def __init__(
        self, session: Session, database: Database, actor: Actor, link: Link, rate: float
    ) -> None:
        """`session` reads what the run starts from; the stream later writes through
        `database` in units of work of its own."""
        self.database = database
        self.actor = actor
        self.link_id = link.id
        self.rate = rate
        self.minter, profile = minter_for(session, link)
        self.control_share = profile.control_share
        self.style = self.minter.profile.style
        # The link's own header -> field pairs reach the splicer ahead of the synonyms.
        self.column_map = {header: field for header, field in profile.feed_columns or ()}
        self.encoding = "utf-8"
        self._stock: list[mint.MintedCanary] = []
        self._emitted: dict[str, mint.MintedCanary] = {}
        self._out: list[mint.MintedCanary] = []
        # Canaries stored `ready` for the link, claimed by this run (their batch id is the
        # run's, so no pull takes them meanwhile): they go out before any fresh one.
        self.run_id = uuid.uuid4()
        self._waiting: list[tuple[uuid.UUID, mint.MintedCanary]] | None = None
        self._stored: dict[str, uuid.UUID] = {}
        self._out_stored: list[uuid.UUID] = []
        self.planted = 0

    def next_canary(self) -> Mapping[str, object]:
        if self._waiting is None:
            self._waiting = self._claim_waiting()
        if self._waiting:
            canary_id, canary = self._waiting.pop()
            self._stored[canary.waybill_no] = canary_id
        else:
            if not self._stock:
                with self.database.write() as session:
                    fresh = [self.minter.mint_one() for _ in range(PLANT_GROUP)]
                    self._stock = unique_against_store(session, self.minter, fresh)
            canary = self._stock.pop()
        self._emitted[canary.waybill_no] = canary
        return splice_fields(canary, self.style)

    def _claim_waiting(self) -> list[tuple[uuid.UUID, mint.MintedCanary]]:
        """Take the link's waiting canaries for this run (the oldest PLANT_GROUP), in one
        statement; those another run or a pull took first stay theirs."""
        unclaimed = (col(Canary.status) == CanaryStatus.READY, col(Canary.batch_id).is_(None))
        oldest = (
            select(col(Canary.id))
            .where(col(Canary.link_id) == self.link_id, *unclaimed)
            .order_by(col(Canary.minted_at))
            .limit(PLANT_GROUP)
        )
        with self.database.write() as session:
            session.connection().execute(
                update(Canary)
                .where(col(Canary.id).in_(oldest.scalar_subquery()), *unclaimed)
                .values(batch_id=self.run_id, handed_out_at=utcnow())
            )
            claimed = session.exec(
                select(Canary)
                .where(col(Canary.batch_id) == self.run_id)
                .order_by(col(Canary.minted_at).desc())  # popped from the end: oldest first
                .execution_options(populate_existing=True)
            ).all()
            return [(row.id, minted_of(row)) for row in claimed]

    def on_planted(self, fields: Mapping[str, object]) -> None:
        waybill = str(fields["waybill_no"])
        canary = self._emitted.pop(waybill)
        stored = self._stored.pop(waybill, None)
        if stored is not None:
            self._out_stored.append(stored)
        else:
            self._out.append(canary)
        if len(self._out) + len(self._out_stored) >= PLANT_GROUP:
            self.record()

    def record(self) -> None:
        """Store and plant the canaries that went out, with their share of controls; plant
        the waiting ones that went out."""
        if self._out_stored:
            going_stored = self._out_stored
            self._out_stored = []
            with self.database.write() as session:
                plant(session, self.actor, going_stored, self.link_id, PlantChannel.INTERLEAVE)
            self.planted += len(going_stored)
        if not self._out:
            return
        going = self._out
        self._out = []
        controls = [self.minter.mint_one(control=True) for _ in range(self._controls(len(going)))]
        with self.database.write() as session:
            controls = unique_against_store(session, self.minter, controls)
            records = going + controls
            rows = store_canaries(session, self.actor, self.link_id, records, CanaryStatus.PLANTED)
            record_plants(
                session,
                self.actor,
                [r.id for r in rows if not r.control],
                self.link_id,
                PlantChannel.INTERLEAVE,
                pooled_of(rows, records),
            )
        self.planted += len(going)

    def _release(self) -> None:
        """Waiting canaries this run claimed and did not send wait for the next feed."""
        with self.database.write() as session:
            session.connection().execute(
                update(Canary)
                .where(
                    col(Canary.batch_id) == self.run_id, col(Canary.status) == CanaryStatus.READY
                )
                .values(batch_id=None, handed_out_at=None)
            )

    def _controls(self, count: int) -> int:
        # Randomised rounding keeps the long-run share right for small groups.
        expected = count * self.control_share
        whole = int(expected)
        return whole + (1 if random.random() < expected - whole else 0)  # noqa: S311

    def heard_encoding(self, encoding: str) -> None:
        self.encoding = encoding

    def finish(self, completed: bool) -> None:
        self.record()
        if self._waiting is not None:
            self._release()
        with self.database.write() as session:
            record_audit(
                session,
                self.actor,
                "feed.interleave",
                "link",
                self.link_id,
                {"planted": self.planted, "completed": completed},
            )


def prepare(
    session: Session, database: Database, actor: Actor, link_id: uuid.UUID, rate: float | None
) -> FeedSplice:
    link = feedable_link(session, actor, link_id)
    profile = feed_profile(session, link.id)
    rate = rate if rate is not None else profile.interleave_rate
    return FeedSplice(session, database, actor, link, rate)


def request_chunks(request: Request) -> Iterator[bytes]:
    """The request body, pulled from a worker thread through the event loop."""
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        # Gather the server's small body messages into about a mebibyte, so the thread hop
        # and the splicer's per-chunk work are paid once per MiB, not once per 64 KiB.
        parts: list[bytes] = []
        size = 0
        async for part in stream:
            parts.append(part)
            size += len(part)
            if size >= GATHER_BYTES:
                break
        return b"".join(parts) if parts else None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


async def spliced_body(
    request: Request,
    run: FeedSplice,
    feed_format: Literal["csv", "ndjson"],
) -> AsyncGenerator[bytes, None]:
    output = splice_feed(
        request_chunks(request),
        feed_format=feed_format,
        next_canary=run.next_canary,
        rate=run.rate,
        rng=random.SystemRandom(),
        column_map=run.column_map,
        on_planted=run.on_planted,
        on_start=run.heard_encoding,
    )
    completed = False
    try:
        async for chunk in iterate_in_threadpool(_gathered(output)):
            yield chunk
        completed = True
    finally:
        await anyio.to_thread.run_sync(run.finish, completed)


def _gathered(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The splicer's output in pieces of about a mebibyte: one thread hop and one send each."""
    buffer: list[bytes] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= GATHER_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


class FeedStream(Response):
    """Streams the spliced feed while the request body is still arriving.

    Starlette's StreamingResponse would read `receive` itself to watch for a disconnect,
    taking body chunks away from the splicer, so this response only sends.
    """

    def __init__(self, first: bytes, rest: AsyncGenerator[bytes, None], media_type: str) -> None:
        super().__init__(media_type=media_type)
        self.first = first
        self.rest = rest
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": self.first, "more_body": True})
            async for chunk in self.rest:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            # A client gone mid-stream: the canaries already sent are still recorded.
            await self.rest.aclose()


async def start_feed(
    request: Request, run: FeedSplice, feed_format: Literal["csv", "ndjson"]
) -> FeedStream:
    """Begin the stream; a feed refused at its first records gets a problem, not a 200."""
    body = spliced_body(request, run, feed_format)
    try:
        first = await anext(body, b"")
    except FeedFormatError as exc:
        await body.aclose()
        raise InvalidError(f"The feed cannot be spliced: {exc}") from None
    # The response is the feed's own bytes: it is labelled with the feed's own charset.
    media_type = "text/csv" if feed_format == "csv" else "application/x-ndjson"
    return FeedStream(first, body, f"{media_type}; charset={run.encoding}")
