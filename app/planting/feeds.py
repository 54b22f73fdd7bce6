"""Feeds: a dispatch system pulls canaries for a link and acknowledges what it spliced in, or
streams the link's feed through honeytrace to have them spliced in (interleave)."""

import csv
import io
import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.csvsafe import spreadsheet_safe
from app.db import utcnow
from app.links.service import get_link
from app.models.canaries import Canary, CanaryStatus, FeedProfile, PlantChannel
from app.planting.schemas import CANARY_FIELDS, FEED_FIELDS, StoredCanary
from app.planting.service import (
    feed_profile,
    feedable_link,
    mint_canaries,
    plant,
)
from app.problems import InvalidError, NotFoundError, field_error
from canaries.items import CHINA_STANDARD_TIME
from canaries.reference import ReferenceSampleError, Source, header_rows, style_of
from canaries.style import StyleProfile, address_line
from watchers.columns import GUESS_ROWS, guess_fields, header_fields

DEFAULT_COLUMNS = [(name, name) for name in CANARY_FIELDS if name in FEED_FIELDS]


def feed_record(
    canary: "Canary | StoredCanary",
    columns: Sequence[Sequence[str]],
    style: StyleProfile | None = None,
) -> dict[str, str | float]:
    """The canary as one record of the link's feed: its headers, its field order, and its
    address column written in the link's style (repeating the divisions or not)."""
    values: dict[str, str | float] = {
        "courier": canary.courier,
        "waybill_no": canary.waybill_no,
        "name": canary.name,
        "mobile": canary.mobile,
        "province": canary.province,
        "city": canary.city,
        "district": canary.district,
        "address": address_line(
            (canary.province, canary.city, canary.district),
            canary.address,
            style,
            canary.waybill_no,
        ),
        "full_address": f"{canary.province}{canary.city}{canary.district}{canary.address}",
        "item": canary.item,
        "weight_kg": canary.weight_kg,
        "created_at": canary.record_created_at.astimezone(CHINA_STANDARD_TIME).strftime(
            "%Y-%m-%d %H:%M:%S"
        ),
    }
    return {header: values[field] for header, field in columns}


def feed_columns(profile: FeedProfile) -> list[tuple[str, str]]:
    return [(h, f) for h, f in profile.feed_columns] if profile.feed_columns else DEFAULT_COLUMNS


def render_csv(records: list[dict[str, str | float]], columns: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(header) for header, _ in columns])
    for record in records:
        writer.writerow([spreadsheet_safe(record[header]) for header, _ in columns])
    return out.getvalue()


def pull(
    session: Session, actor: Actor, link_id: uuid.UUID, count: int
) -> tuple[uuid.UUID, list["Canary | StoredCanary"], FeedProfile]:
    """Hand out `count` canaries for the link: replacements waiting `ready` first, then fresh
    ones. They stay `pending` until the dispatch system acknowledges them."""
    link = feedable_link(session, actor, link_id)
    batch_id = uuid.uuid4()
    waiting = list(
        session.exec(
            select(Canary)
            .where(
                Canary.link_id == link.id,
                Canary.status == CanaryStatus.READY,
                col(Canary.batch_id).is_(None),  # not claimed by a streaming feed
            )
            .order_by(col(Canary.minted_at))
            .limit(count)
        ).all()
    )
    now = utcnow()
    for canary in waiting:
        canary.status = CanaryStatus.PENDING
        canary.batch_id = batch_id
        canary.handed_out_at = now  # it may have waited for days: the ack's day starts now
        session.add(canary)
    canaries: list[Canary | StoredCanary] = list(waiting)
    if len(waiting) < count:
        minted = mint_canaries(
            session,
            actor,
            link.id,
            count - len(waiting),
            None,
            status=CanaryStatus.PENDING,
            batch_id=batch_id,
        )
        canaries += minted.planted
    session.flush()
    record_audit(
        session, actor, "feed.pull", "link", link.id, {"batch_id": str(batch_id), "count": count}
    )
    return batch_id, canaries, feed_profile(session, link.id)


# An ack that names waybills not in its batch is told the first few of them, and how many.
UNKNOWN_NAMED = 10


def _unknown_waybills(spliced: Sequence[str], in_batch: set[str]) -> NotFoundError:
    unknown: dict[str, int] = {}
    for index, waybill in enumerate(spliced):
        if waybill not in in_batch:
            unknown.setdefault(waybill, index)
    named = list(unknown.items())[:UNKNOWN_NAMED]
    listed = ", ".join(waybill for waybill, _ in named)
    more = len(unknown) - len(named)
    noun = "number is" if len(unknown) == 1 else "numbers are"
    detail = f"{len(unknown)} acknowledged waybill {noun} not in the batch: {listed}"
    detail += f" and {more} more." if more else "."
    errors = [field_error(f"spliced.{i}", f"{waybill} is not in the batch") for waybill, i in named]
    return NotFoundError(detail, errors=errors)


def acknowledge(
    session: Session, actor: Actor, batch_id: uuid.UUID, spliced: Sequence[str]
) -> tuple[int, int]:
    """Plant the batch's canaries that were spliced in; the rest never left and expire."""
    batch = list(
        session.exec(
            select(Canary).where(Canary.batch_id == batch_id, Canary.status == CanaryStatus.PENDING)
        ).all()
    )
    if not batch or not actor.may_feed(batch[0].link_id):
        raise NotFoundError("No pending pull batch with that id.")
    wanted = set(spliced)
    in_batch = {c.waybill_no for c in batch}
    if wanted - in_batch:
        raise _unknown_waybills(spliced, in_batch)
    taken = [c for c in batch if c.waybill_no in wanted]
    left = [c for c in batch if c.waybill_no not in wanted]
    for canary in left:
        canary.status = CanaryStatus.EXPIRED
        canary.batch_id = None
        session.add(canary)
    session.flush()
    plant(session, actor, [c.id for c in taken], batch[0].link_id, PlantChannel.PULL)
    record_audit(
        session,
        actor,
        "feed.ack",
        "link",
        batch[0].link_id,
        {"batch_id": str(batch_id), "planted": len(taken), "expired": len(left)},
    )
    return len(taken), len(left)


def columns_by_content(source: Source) -> dict[str, str]:
    """Fields of the columns whose headers say nothing (客户, 列3), found from their cells as
    the dump reader finds them; the first rows are read and dropped."""
    rows = header_rows(source, GUESS_ROWS + 1)
    if isinstance(source, io.IOBase):
        source.seek(0)
    if len(rows) < 2:
        return {}
    header = rows[0]
    known = header_fields(header) or tuple(None for _ in header)
    guessed = guess_fields(rows[1:], known)
    return {h: f for h, f in zip(header, guessed, strict=False) if f is not None}


def style_from_sample(sample: bytes) -> StyleProfile:
    """The statistics of a sample of a link's own records; the sample itself is read once,
    in memory, and dropped (no transaction is open while it is read)."""
    stream = io.BytesIO(sample)
    try:
        columns = columns_by_content(stream)
        style = style_of(stream, columns)
    except ReferenceSampleError as exc:
        raise InvalidError(f"The sample cannot be read: {exc}") from None
    if style.records == 0:
        raise InvalidError("The sample holds no records.")
    return style


def keep_style(session: Session, actor: Actor, link_id: uuid.UUID, style: StyleProfile) -> None:
    """Keep a learned style on the link's feed profile: its canaries are drawn from it."""
    link = get_link(session, actor, link_id)
    profile = feed_profile(session, link.id)
    profile.style = style.as_json()
    profile.updated_at = utcnow()  # a new version: minters parse it again (service._style_of)
    session.add(profile)
    session.flush()
    record_audit(session, actor, "feed_profile.style", "link", link.id, {"records": style.records})
