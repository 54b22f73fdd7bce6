"""Minting canaries for a link, storing them, and planting each at exactly one link.

Secrecy (DESIGN rule 3): a partner mints only for links strictly below its scope root and
sees only the canaries its own keys minted there, never those of its own link or above;
feeds (pull, interleave) are for the integration role only.
"""

import hashlib
import random
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import Database, utcnow
from app.evidence.log import IDS_PER_QUERY, log_minted, log_planted
from app.links.service import get_link
from app.links.tree import ancestor_ids, exposure_ids
from app.models.canaries import Canary, CanaryStatus, FeedProfile, Plant, PlantChannel
from app.models.links import Link
from app.numbers.service import pool_for
from app.planting.schemas import FeedProfileBody, StoredCanary
from app.problems import ConflictError, InvalidError, NotFoundError, field_error
from attribution.kinds import LinkKind
from canaries import mint
from canaries.couriers import Courier
from canaries.items import ItemMinter
from canaries.mobiles import MobileForm
from canaries.style import StyleProfile

# Links whose recipients live in their own region; the others deliver across the country.
LOCAL_KINDS = frozenset({LinkKind.REGION, LinkKind.OUTLET, LinkKind.COURIER_STAFF})


def identity_key(canary: mint.MintedCanary) -> str:
    """A stored digest of name + address: no two canaries may share one."""
    return hashlib.sha256("|".join(canary.name_address_key).encode()).hexdigest()


def feed_profile(session: Session, link_id: uuid.UUID) -> FeedProfile:
    return session.get(FeedProfile, link_id) or FeedProfile(link_id=link_id)


def visible_feed_profile(session: Session, actor: Actor, link_id: uuid.UUID) -> FeedProfile:
    get_link(session, actor, link_id)
    return feed_profile(session, link_id)


def set_feed_profile(
    session: Session, actor: Actor, link_id: uuid.UUID, body: FeedProfileBody
) -> FeedProfile:
    link = get_link(session, actor, link_id)
    form = MobileForm(body.mobile_form)
    if form is not MobileForm.MASKED and pool_for(session, link, form) is None:
        # Rule 2: a full number must be one the operator owns: the link's assigned numbers.
        kind = "privacy" if form is MobileForm.PRIVACY else "ordinary (not privacy)"
        raise InvalidError(
            f"{form.value} mobiles come only from the operator's own numbers: assign "
            f"{kind} numbers to this link first (POST /v1/numbers/{{id}}/assign).",
            errors=[field_error("mobile_form", "no numbers of that kind assigned to the link")],
        )
    if body.category_mix is not None:
        try:
            ItemMinter(body.category_mix)
        except ValueError as exc:
            raise InvalidError(str(exc), errors=[field_error("category_mix", str(exc))]) from None
    profile = feed_profile(session, link_id)
    for name, value in body.model_dump().items():
        setattr(profile, name, value)
    profile.updated_at = utcnow()
    session.add(profile)
    session.flush()
    record_audit(session, actor, "feed_profile.set", "link", link_id, body.model_dump())
    return profile


def feedable_link(session: Session, actor: Actor, link_id: uuid.UUID) -> Link:
    """The link, if the actor may use its feeds and it is live now: a key scoped to another
    link's feeds is told no more than that the link is not found."""
    if not actor.may_feed(link_id):
        raise NotFoundError(f"Link {link_id} not found.")
    return mintable_link(session, actor, link_id)


def mintable_link(session: Session, actor: Actor, link_id: uuid.UUID) -> Link:
    """The link, if the actor may mint for it and it is live now."""
    link = get_link(session, actor, link_id)
    if actor.scope_link_id is not None and link.id == actor.scope_link_id:
        # A partner never receives canaries for its own link: it could then tell them apart.
        raise NotFoundError(f"Link {link_id} not found.")
    now = utcnow()
    if (
        link.deactivated_at is not None
        or link.valid_from > now
        or (link.valid_until is not None and link.valid_until <= now)
    ):
        raise ConflictError("The link is inactive or outside its validity interval.")
    return link


def minter_for(
    session: Session, link: Link, rng: random.Random | None = None
) -> tuple[mint.Minter, FeedProfile]:
    profile = feed_profile(session, link.id)
    area = link.region_code if link.kind in LOCAL_KINDS else None
    form = MobileForm(profile.mobile_form)
    pure = mint.LinkProfile(
        courier=Courier(link.courier),
        area=area,
        category_mix=profile.category_mix,
        mobile_form=form,
        pool=pool_for(session, link, form),
        style=_style_of(profile),
    )
    return mint.Minter(pure, rng, control_share=profile.control_share), profile


_STYLES: dict[tuple[uuid.UUID, datetime], StyleProfile] = {}
_STYLES_HELD = 256
_STYLES_LOCK = threading.Lock()


def _style_of(profile: FeedProfile) -> StyleProfile | None:
    """The profile's learned style, one object per version (`updated_at`): the minter of a
    burned canary's replacement then reuses what its forms were prepared into
    (canaries.addresses.street_minter) instead of preparing them again."""
    if not profile.style:
        return None
    key = (profile.link_id, profile.updated_at)
    with _STYLES_LOCK:
        style = _STYLES.get(key)
    if style is None:
        style = StyleProfile.from_json(profile.style)
        with _STYLES_LOCK:
            if len(_STYLES) >= _STYLES_HELD:
                del _STYLES[next(iter(_STYLES))]
            _STYLES[key] = style
    return style


@dataclass(frozen=True)
class MintResult:
    planted: list["StoredCanary"]  # or ready/pending, when no channel plants them at once
    controls: int


@dataclass(frozen=True)
class MintPlan:
    """What a mint for a link will make, read before anything is written."""

    link_id: uuid.UUID
    minter: mint.Minter
    count: int
    controls: int

    @property
    def pooled(self) -> bool:
        """Whether its mobiles come from the operator's number pool, whose free numbers must
        be read and taken inside the unit of work that stores them."""
        return self.minter.profile.pool is not None

    def records(
        self, on_progress: Callable[[int, int], None] | None = None
    ) -> list[mint.MintedCanary]:
        """The records (CPU only, no database): `count` canaries and the controls;
        `on_progress(done, total)` hears of each hundred."""
        minter, total = self.minter, self.count + self.controls
        minted: list[mint.MintedCanary] = []
        try:
            for control in [False] * self.count + [True] * self.controls:
                minted.append(minter.mint_one(control=control))
                if on_progress is not None and len(minted) % 100 == 0:
                    on_progress(len(minted), total)
        except mint.MintError as error:
            raise self.refusal(error) from None
        if on_progress is not None:
            on_progress(len(minted), total)
        return minted

    def refusal(self, error: mint.MintError) -> ConflictError:
        # A number pool too small for the count: say so rather than invent a number.
        return ConflictError(f"Cannot mint {self.count} canaries for this link: {error}.")


def plan_mint(
    session: Session,
    actor: Actor,
    link_id: uuid.UUID,
    count: int,
    *,
    rng: random.Random | None = None,
) -> MintPlan:
    link = mintable_link(session, actor, link_id)
    minter, profile = minter_for(session, link, rng)
    return MintPlan(link.id, minter, count, round(count * profile.control_share))


def mint_canaries(
    session: Session,
    actor: Actor,
    link_id: uuid.UUID,
    count: int,
    channel: PlantChannel | None,
    *,
    rng: random.Random | None = None,
    status: CanaryStatus = CanaryStatus.PLANTED,
    batch_id: uuid.UUID | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> MintResult:
    """Mint `count` canaries for the link plus its share of controls, and plant them now if a
    channel is given (otherwise they wait, `ready` or `pending`, for a feed to take them).

    Minting is most of the time: `on_progress(done, total)` hears of each hundred."""
    plan = plan_mint(session, actor, link_id, count, rng=rng)
    minted = plan.records(on_progress)
    return store_minted(session, actor, plan, minted, channel, status, batch_id)


def mint_apart(
    database: Database,
    actor: Actor,
    link_id: uuid.UUID,
    count: int,
    channel: PlantChannel,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> MintResult:
    """`mint_canaries` for a command or a request: the records are minted before the unit
    of work opens (seconds for a big mint, the first in a process building its tables),
    so the write lock is held only to check, store and plant them. Mobiles from a number
    pool are minted inside the unit, where the pool's free numbers are taken."""
    with database.read() as session:
        plan = plan_mint(session, actor, link_id, count)
    if plan.pooled:
        with database.write() as session:
            return mint_canaries(session, actor, link_id, count, channel, on_progress=on_progress)
    minted = plan.records(on_progress)
    with database.write() as session:
        mintable_link(session, actor, link_id)  # still live now
        return store_minted(session, actor, plan, minted, channel)


def store_minted(
    session: Session,
    actor: Actor,
    plan: MintPlan,
    minted: list[mint.MintedCanary],
    channel: PlantChannel | None,
    status: CanaryStatus = CanaryStatus.PLANTED,
    batch_id: uuid.UUID | None = None,
    mint_id: uuid.UUID | None = None,
) -> MintResult:
    """Store minted records (any now taken replaced), plant them if a channel is given, and
    audit the mint, in the caller's unit of work; `mint_id` names the mint job storing them."""
    try:
        minted = unique_against_store(session, plan.minter, minted)
    except mint.MintError as error:
        raise plan.refusal(error) from None
    status = status if channel is None else CanaryStatus.PLANTED
    rows = store_canaries(session, actor, plan.link_id, minted, status, batch_id, mint_id)
    live = [row for row in rows if not row.control]
    if channel is not None:
        held = pooled_of(rows, minted)
        record_plants(session, actor, [row.id for row in live], plan.link_id, channel, held)
    record_audit(
        session,
        actor,
        "canary.mint",
        "link",
        plan.link_id,
        {
            "count": plan.count,
            "controls": plan.controls,
            "channel": channel,
            "batch_id": str(batch_id),
            **({} if mint_id is None else {"mint_id": str(mint_id)}),
        },
    )
    return MintResult(live, plan.controls)


def unique_against_store(
    session: Session, minter: mint.Minter, minted: list[mint.MintedCanary]
) -> list[mint.MintedCanary]:
    """Replace any canary whose waybill number or name + address is already stored."""
    while True:
        waybills = [c.waybill_no for c in minted]
        keys = [identity_key(c) for c in minted]
        clash_w = set(
            session.exec(select(Canary.waybill_no).where(col(Canary.waybill_no).in_(waybills)))
        )
        clash_k = set(
            session.exec(select(Canary.identity_key).where(col(Canary.identity_key).in_(keys)))
        )
        if not clash_w and not clash_k:
            return minted
        minted = [
            minter.mint_one(control=c.control)
            if c.waybill_no in clash_w or identity_key(c) in clash_k
            else c
            for c in minted
        ]


def store_canaries(
    session: Session,
    actor: Actor,
    link_id: uuid.UUID,
    minted: Sequence[mint.MintedCanary],
    status: CanaryStatus,
    batch_id: uuid.UUID | None = None,
    mint_id: uuid.UUID | None = None,
) -> list[StoredCanary]:
    """Insert in bulk (Core executemany: building ORM objects would cost most of the time)."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "link_id": link_id,
            "status": CanaryStatus.CONTROL.value if c.control else status.value,
            "control": c.control,
            "courier": c.courier.value,
            "waybill_no": c.waybill_no,
            "name": c.name,
            "mobile": c.mobile,
            "mobile_form": c.mobile_form.value,
            "mobile_secret": c.mobile_secret,
            "province": c.province,
            "city": c.city,
            "district": c.district,
            "district_code": c.district_code,
            "address": c.address,
            "identity_key": identity_key(c),
            "item": c.item,
            "weight_kg": c.weight_kg,
            "record_created_at": c.created_at,
            "minted_at": now,
            "minted_by": actor.key_id,
            "batch_id": None if c.control else batch_id,
            "retired_at": None,
            # Left to its default (none) unless a mint job stores them, as replacement_owed.
            **({} if mint_id is None else {"mint_id": mint_id}),
        }
        for c in minted
    ]
    if rows:
        session.connection().execute(insert(Canary), rows)
        log_minted(session, rows)
    fields = StoredCanary.__slots__
    return [StoredCanary(**{f: row[f] for f in fields}) for row in rows]


def plant(
    session: Session,
    actor: Actor,
    canary_ids: Sequence[uuid.UUID],
    link_id: uuid.UUID,
    channel: PlantChannel,
) -> int:
    """Record that these canaries entered the link's feed now. A control is never planted."""
    if not canary_ids:
        return 0
    ids = list(canary_ids)
    controls = session.exec(
        select(func.count())
        .select_from(Canary)
        .where(col(Canary.id).in_(ids), col(Canary.control).is_(True))
    ).one()
    if controls:
        raise ValueError("a control canary is never planted")
    session.connection().execute(
        update(Canary)
        .where(col(Canary.id).in_(ids))
        .values(status=CanaryStatus.PLANTED.value, batch_id=None)
    )
    record_plants(session, actor, ids, link_id, channel)
    # ORM copies loaded earlier in this session must not keep showing the old status.
    planted = set(ids)
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Canary) and loaded.id in planted:
            session.expire(loaded)
    return len(ids)


def record_plants(
    session: Session,
    actor: Actor,
    canary_ids: Sequence[uuid.UUID],
    link_id: uuid.UUID,
    channel: PlantChannel,
    pooled: Collection[uuid.UUID] | None = None,
) -> None:
    """The plants and their evidence entries of canaries stored `planted` (not controls),
    such as a mint's just inserted: `plant` for those that waited for a feed. `pooled`: those
    among them with a pool number, when the caller holds the records (else they are read)."""
    if not canary_ids:
        return
    now = utcnow()
    session.connection().execute(
        insert(Plant),
        [
            {
                "canary_id": canary_id,
                "link_id": link_id,
                "planted_at": now,
                "channel": channel.value,
                "actor": actor.name,
            }
            for canary_id in canary_ids
        ],
    )
    # The rest keep the default (masked).
    by_phone = sorted(_pooled(session, canary_ids) if pooled is None else pooled)
    for at in range(0, len(by_phone), IDS_PER_QUERY):
        session.connection().execute(
            update(Plant)
            .where(col(Plant.canary_id).in_(by_phone[at : at + IDS_PER_QUERY]))
            .values(by_phone=True)
        )
    log_planted(session, canary_ids, link_id, now, channel.value, actor.name)


def pooled_of(rows: Sequence[StoredCanary], minted: Sequence[mint.MintedCanary]) -> set[uuid.UUID]:
    """The stored canaries (rows in the order of their records) that carry a pool number."""
    return {
        row.id
        for row, record in zip(rows, minted, strict=True)
        if record.mobile_form is not MobileForm.MASKED
    }


def _pooled(session: Session, canary_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """The canaries among these that carry a pool number (a full or privacy mobile)."""
    found: set[uuid.UUID] = set()
    ids = list(canary_ids)
    for at in range(0, len(ids), IDS_PER_QUERY):
        found.update(
            session.exec(
                select(Canary.id).where(
                    col(Canary.id).in_(ids[at : at + IDS_PER_QUERY]),
                    col(Canary.mobile_form) != MobileForm.MASKED.value,
                )
            )
        )
    return found


def _visible_canary(session: Session, actor: Actor, canary: Canary | None) -> Canary:
    if canary is None or not _may_see(session, actor, canary):
        raise NotFoundError("Canary not found.")
    return canary


def _may_see(session: Session, actor: Actor, canary: Canary) -> bool:
    if actor.scope_link_id is None:
        return True
    if canary.control or canary.minted_by != actor.key_id:
        return False
    return actor.scope_link_id in ancestor_ids(session, canary.link_id)[1:]


def get_canary(
    session: Session, actor: Actor, canary_id: uuid.UUID
) -> tuple[Canary, Plant | None, list[uuid.UUID]]:
    canary = _visible_canary(session, actor, session.get(Canary, canary_id))
    planted = session.exec(select(Plant).where(Plant.canary_id == canary.id)).first()
    exposure = exposure_ids(session, planted.link_id) if planted else []
    return canary, planted, exposure


def exposure_set(session: Session, canary_id: uuid.UUID) -> list[uuid.UUID]:
    """The link the canary was planted at and every link that reads its data (above it, or
    a reader such as its printing-software vendor): who could have leaked it."""
    planted = session.exec(select(Plant).where(Plant.canary_id == canary_id)).first()
    return exposure_ids(session, planted.link_id) if planted else []


def list_canaries(
    session: Session, actor: Actor, link_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[Canary], int]:
    get_link(session, actor, link_id)
    query = select(Canary).where(Canary.link_id == link_id)
    if actor.scope_link_id is not None:
        if link_id == actor.scope_link_id:
            return [], 0
        query = query.where(Canary.minted_by == actor.key_id, col(Canary.control).is_(False))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Canary.minted_at), col(Canary.id)).limit(limit).offset(offset)
    ).all()
    return list(page), total


def burn_canary(
    session: Session, actor: Actor, canary_id: uuid.UUID, reason: str, *, replace: bool = True
) -> tuple[Canary, list[StoredCanary]]:
    """Retire a canary that surfaced (buyers now know it) and give its link a fresh one.

    The replacement waits `ready` for the link's feed; a burned canary is still matched. A
    replacement that cannot be minted now (the link's number pool is used up) never undoes
    the burn, nor whatever recorded it: the canary is marked `replacement_owed`, the coverage
    report shows the link short, and rotation mints the replacement once it can.
    """
    canary = _visible_canary(session, actor, session.get(Canary, canary_id))
    if canary.status == CanaryStatus.BURNED:
        return canary, []
    was_planted = canary.status == CanaryStatus.PLANTED
    canary.status = CanaryStatus.BURNED
    canary.retired_at = utcnow()
    session.add(canary)
    detail: dict[str, Any] = {"reason": reason}
    fresh: list[StoredCanary] = []
    if replace and was_planted:
        fresh, problem = replace_canary(session, actor, canary)
        if problem is not None:
            detail["replacement_error"] = problem
    detail["replacements"] = [str(c.id) for c in fresh]
    record_audit(session, actor, "canary.burn", "canary", canary.id, detail)
    session.flush()
    return canary, fresh


def replace_canary(
    session: Session, actor: Actor, burned: Canary
) -> tuple[list[StoredCanary], str | None]:
    """A fresh canary for the burned one's link, waiting `ready`; or none and why, the
    burned canary then owed a replacement (see burn_canary)."""
    link = session.get(Link, burned.link_id)
    if link is None or link.deactivated_at is not None:
        burned.replacement_owed = False
        return [], None
    try:
        with session.begin_nested():
            minter, _ = minter_for(session, link)
            minted = unique_against_store(session, minter, [minter.mint_one()])
            fresh = store_canaries(session, actor, link.id, minted, CanaryStatus.READY)
    except mint.MintError as error:
        burned.replacement_owed = True
        session.add(burned)
        return [], str(error)
    burned.replacement_owed = False
    session.add(burned)
    return fresh, None


def audit_sample(
    session: Session, link_id: uuid.UUID | None, limit: int
) -> list[mint.MintedCanary]:
    """The most recently minted canaries (controls included: they must look the same), as the
    pure library's records, hidden mobile middles and all, for the realism audit."""
    query = select(Canary)
    if link_id is not None:
        query = query.where(Canary.link_id == link_id)
    rows = session.exec(query.order_by(col(Canary.minted_at).desc()).limit(limit)).all()
    return [minted_of(row) for row in rows]


def minted_of(row: Canary) -> mint.MintedCanary:
    """A stored canary as the pure library's record."""
    return mint.MintedCanary(
        waybill_no=row.waybill_no,
        courier=Courier(row.courier),
        name=row.name,
        mobile=row.mobile,
        mobile_form=MobileForm(row.mobile_form),
        mobile_secret=row.mobile_secret,
        province=row.province,
        city=row.city,
        district=row.district,
        district_code=row.district_code,
        address=row.address,
        item=row.item,
        weight_kg=row.weight_kg,
        created_at=row.record_created_at,
        control=row.control,
    )
