"""What the API accepts and returns for canaries, plants, feed profiles and pulls."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models.canaries import Canary, FeedProfile, MintJob, MintJobStatus, Plant
from canaries.style import StyleProfile

# The JSONL/CSV fields of a minted canary, in order (the CLI's and the API's shape).
CANARY_FIELDS = (
    "id", "link_id", "courier", "waybill_no", "name", "mobile", "province", "city",
    "district", "address", "item", "weight_kg", "created_at", "control",
)  # fmt: skip
FEED_FIELDS = frozenset(CANARY_FIELDS) - {"id", "link_id", "control"}


@dataclass(frozen=True, slots=True)
class StoredCanary:
    """A canary just written, as the API and feeds show it (no ORM object: bulk-friendly)."""

    id: uuid.UUID
    link_id: uuid.UUID
    control: bool
    courier: str
    waybill_no: str
    name: str
    mobile: str
    province: str
    city: str
    district: str
    address: str
    item: str
    weight_kg: float
    record_created_at: datetime


class CanaryRead(BaseModel):
    id: uuid.UUID
    link_id: uuid.UUID
    courier: str
    waybill_no: str
    name: str
    mobile: str
    province: str
    city: str
    district: str
    address: str
    item: str
    weight_kg: float
    created_at: datetime
    control: bool

    @classmethod
    def of(cls, canary: Canary | StoredCanary) -> "CanaryRead":
        return cls(
            id=canary.id,
            link_id=canary.link_id,
            courier=canary.courier,
            waybill_no=canary.waybill_no,
            name=canary.name,
            mobile=canary.mobile,
            province=canary.province,
            city=canary.city,
            district=canary.district,
            address=canary.address,
            item=canary.item,
            weight_kg=canary.weight_kg,
            created_at=canary.record_created_at,
            control=canary.control,
        )


class MintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"count": 20}]})

    count: Annotated[
        int,
        Field(
            ge=1,
            le=100_000,
            description="How many canaries (controls come on top). Up to 1,000 are minted "
            "in the request (201, the canaries); more are minted by a job (202, the job).",
        ),
    ]


class MintJobRead(BaseModel):
    """A big mint's progress and, once `done`, where its canaries are."""

    id: uuid.UUID
    link_id: uuid.UUID
    status: MintJobStatus
    count: int = Field(description="How many canaries were asked for.")
    minted: int = Field(description="How many are stored and planted so far (controls apart).")
    controls: int = Field(description="Control canaries stored so far (never listed).")
    error: str | None = Field(description="Why a `failed` mint stopped; what it stored stays.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    canaries: str = Field(description="The canaries stored so far, a page at a time.")

    @classmethod
    def of(cls, job: MintJob) -> "MintJobRead":
        return cls(
            id=job.id,
            link_id=job.link_id,
            status=job.status,
            count=job.count,
            minted=job.minted,
            controls=job.controls,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            canaries=f"/v1/mints/{job.id}/canaries",
        )


class PlantRead(BaseModel):
    link_id: uuid.UUID
    planted_at: datetime
    channel: str

    @classmethod
    def of(cls, plant: Plant) -> "PlantRead":
        return cls(link_id=plant.link_id, planted_at=plant.planted_at, channel=plant.channel)


class CanaryDetail(BaseModel):
    canary: CanaryRead
    status: str
    plant: PlantRead | None
    exposure: list[uuid.UUID] = Field(
        description="The link it was planted at and every link above it that can read its data"
    )


FeedColumn = tuple[
    # A header a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is refused.
    Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^=+\-@\t\r]")],
    Literal[
        "courier", "waybill_no", "name", "mobile", "province", "city", "district", "address",
        "full_address", "item", "weight_kg", "created_at",
    ],
]  # fmt: skip


class FeedProfileBody(BaseModel):
    """How the link's feed looks. `feed_columns` pairs each header with a canary field."""

    model_config = ConfigDict(extra="forbid")

    mobile_form: Literal["masked", "full", "privacy"] = "masked"
    category_mix: dict[str, Annotated[float, Field(gt=0)]] | None = None
    feed_format: Literal["json", "csv"] = "json"
    feed_encoding: Literal["utf-8", "gb18030"] = "utf-8"
    feed_columns: Annotated[list[FeedColumn], Field(min_length=1, max_length=64)] | None = None
    interleave_rate: Annotated[float, Field(gt=0, le=0.2)] = 0.002
    rotation_days: Annotated[
        int,
        Field(
            ge=1,
            le=365,
            description="Ready canaries older than this expire; with rotation_batch, the floor",
        ),
    ] = 30
    rotation_batch: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="The floor: this many canaries every rotation_days, one at a time (one "
            "is made ready when the link has gone rotation_days / rotation_batch days without "
            "a plant)",
        ),
    ] = 10
    control_share: Annotated[float, Field(ge=0, le=0.5)] = 0.05

    @classmethod
    def of(cls, profile: FeedProfile) -> "FeedProfileBody":
        return cls.model_validate(profile, from_attributes=True)


class StyleRead(BaseModel):
    """What was learned from the link's sample: shares only, never a record."""

    learned: bool = Field(
        description="False: the link has no sample and mints in the default style"
    )
    records: int
    top_forms: dict[str, float] = Field(
        description="Address part sequences (T town, R road, N number, C compound, B building, "
        "U unit, M room, V village, G group, O company, S school, K market, I park, H shop, "
        "P parentheses) and their shares"
    )
    divisions_repeated: float
    spaced: float
    name_masks: dict[str, float]
    mobile_masks: dict[str, float]
    address_masked: float

    @classmethod
    def of(cls, style: StyleProfile, learned: bool) -> "StyleRead":
        return cls(learned=learned, **style.summary())


class PullRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"count": 5}]})

    count: Annotated[int, Field(ge=1, le=1000)]


class PullBatch(BaseModel):
    batch_id: uuid.UUID
    link_id: uuid.UUID
    records: list[dict[str, str | float]]


class AckRequest(BaseModel):
    """The waybill numbers of the batch that were spliced into the feed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"spliced": ["ZT1234567890123", "ZT1234567890456"]}]},
    )

    spliced: Annotated[
        list[Annotated[str, StringConstraints(max_length=40)]], Field(max_length=1000)
    ]


class AckReport(BaseModel):
    planted: int
    expired: int
