"""What the API accepts and returns for links; unknown fields are refused."""

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.models.links import Link
from app.text import Label
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.divisions import division_table

LinkName = Annotated[Label, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# `format` names what the pattern cannot say: the code must be in the division table.
RegionCode = Annotated[
    str,
    StringConstraints(pattern=r"^\d{6}$"),
    Field(json_schema_extra={"format": "gbt2260-code"}, examples=["330106"]),
]
ExternalRef = Annotated[
    Label, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
RecordsPerDay = Annotated[
    float,
    Field(gt=0, le=1e9, description="Records it sees a day; unset: its kind's default"),
]


class LinkCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "杭州西湖网点",
                    "kind": "outlet",
                    "region": "330106",
                    "courier": "zto",
                    "external_ref": "HZ-XH-001",
                    "records_per_day": 1200,
                }
            ]
        },
    )

    name: LinkName
    kind: LinkKind
    region: RegionCode = Field(description="GB/T 2260 administrative division code")
    courier: Courier
    parent_id: uuid.UUID | None = None
    external_ref: ExternalRef | None = Field(None, description="Your own id for this link")
    records_per_day: RecordsPerDay | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _interval(self) -> Self:
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class LinkUpdate(BaseModel):
    """Only the fields sent are changed; `parent_id: null` makes the link a root."""

    model_config = ConfigDict(extra="forbid")

    name: LinkName | None = None
    kind: LinkKind | None = None
    region: RegionCode | None = None
    courier: Courier | None = None
    parent_id: uuid.UUID | None = None
    external_ref: ExternalRef | None = None
    records_per_day: RecordsPerDay | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class LinkRead(BaseModel):
    id: uuid.UUID
    name: str
    kind: LinkKind
    region: str
    region_name: str
    courier: Courier
    parent_id: uuid.UUID | None
    external_ref: str | None
    records_per_day: float | None
    valid_from: datetime
    valid_until: datetime | None
    active: bool
    deactivated_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, link: Link) -> "LinkRead":
        divisions = reversed(division_table().ancestors(link.region_code))
        return cls(
            id=link.id,
            name=link.name,
            kind=LinkKind(link.kind),
            region=link.region_code,
            region_name=" ".join(d.name for d in divisions),
            courier=Courier(link.courier),
            parent_id=link.parent_id,
            external_ref=link.external_ref,
            records_per_day=link.records_per_day,
            valid_from=link.valid_from,
            valid_until=link.valid_until,
            active=link.deactivated_at is None,
            deactivated_at=link.deactivated_at,
            created_at=link.created_at,
            updated_at=link.updated_at,
        )
