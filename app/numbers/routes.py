"""/v1/numbers: the operator's own numbers, and which link holds each."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.auth.deps import NumberManager
from app.models.telephony import PhoneNumber
from app.numbers import service
from app.numbers.background import background_rates
from app.paging import Offset, Page, limit_query, page_of
from app.resources import ReadSession, WriteSession
from app.text import SafeText

router = APIRouter(prefix="/v1/numbers", tags=["numbers"])


class NumberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Annotated[
        SafeText,
        StringConstraints(min_length=5, max_length=24),
        Field(json_schema_extra={"format": "cn-mobile"}, examples=["+8617000000001"]),
    ]
    provider: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,31}$")] = "twilio"
    capabilities: Annotated[list[Literal["voice", "sms"]], Field(min_length=1)] = ["voice", "sms"]
    home_district: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = None
    privacy: bool = Field(False, description="A privacy number: canaries get an extension.")
    control: bool = Field(False, description="Never planted: measures background noise.")


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    link_id: uuid.UUID


class NumberRead(BaseModel):
    id: uuid.UUID
    number: str
    provider: str
    capabilities: list[str]
    home_district: str | None
    privacy: bool
    control: bool
    link_id: uuid.UUID | None
    assigned_at: datetime | None
    background_per_day: float | None = Field(
        None, description="Calls and messages without content a day, over the last 30 days."
    )

    @classmethod
    def of(cls, p: PhoneNumber, background: float | None = None) -> "NumberRead":
        return cls(
            id=p.id,
            number=p.number,
            provider=p.provider,
            capabilities=p.capabilities,
            home_district=p.home_district,
            privacy=p.privacy,
            control=p.control,
            link_id=p.link_id,
            assigned_at=p.assigned_at,
            background_per_day=background,
        )


@router.post("", status_code=status.HTTP_201_CREATED)
def register(session: WriteSession, actor: NumberManager, body: NumberCreate) -> NumberRead:
    """Register a number the operator owns (mainland mobile numbers only)."""
    return NumberRead.of(
        service.register_number(
            session,
            actor,
            body.number,
            body.provider,
            list(body.capabilities),
            body.home_district,
            body.privacy,
            body.control,
        )
    )


@router.get("")
def list_numbers(
    session: ReadSession,
    actor: NumberManager,
    link_id: uuid.UUID | None = None,
    limit: Annotated[int, limit_query(1000)] = 100,
    offset: Offset = 0,
) -> Page[NumberRead]:
    """The numbers, with each one's background rate of contacts that said nothing."""
    rates = background_rates(session)
    numbers = service.list_numbers(session, link_id)
    return page_of([NumberRead.of(p, rates.get(p.id, 0.0)) for p in numbers], limit, offset)


@router.post("/{number_id}/assign")
def assign(
    session: WriteSession, actor: NumberManager, number_id: uuid.UUID, body: Assign
) -> NumberRead:
    """Give the number to a link (one link at a time); its canaries may then carry it."""
    return NumberRead.of(service.assign_number(session, actor, number_id, body.link_id))


@router.post("/{number_id}/release")
def release(session: WriteSession, actor: NumberManager, number_id: uuid.UUID) -> NumberRead:
    """Take the number back from its link (the assignment's history is kept); releasing a
    free number changes nothing."""
    return NumberRead.of(service.release_number(session, actor, number_id))
