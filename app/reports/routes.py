"""POST /v1/sightings: reports filed by people (a pasted listing, an SMS, a call note, a file).

A partner may report what it saw but is never told whether it matched: otherwise it could
paste its own records and learn which are canaries (rule 3).
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Form, UploadFile, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import Session, col, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.auth.deps import SightingReporter
from app.db import utcnow
from app.intake.deps import IntakeDep
from app.intake.matching import seen_in_file
from app.intake.record import Recorded
from app.intake.sightings import Seen
from app.models.keys import Role
from app.models.sightings import Sighting
from app.problems import InvalidError, field_error
from app.ratelimit import RATE_LIMITED_RESPONSES, RateLimited
from app.resources import ReadSession, SettingsDep
from app.sightings.schemas import SightingRead
from app.text import FreeText, SafeText
from watchers.reports import FileReport, PastedReport
from watchers.scan import ScanResult

router = APIRouter(prefix="/v1/sightings", tags=["sightings"])
FILES_PATH = "/v1/sightings/files"
Text = Annotated[FreeText, StringConstraints(min_length=1, max_length=1_000_000)]


class ReportCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "listing",
                    "text": "出售快递数据 浙江 新鲜 张伟 13800138000 浙江省杭州市西湖区文三路90号",
                    "url": "https://forum.example/thread/123",
                    "observed_at": "2026-03-01T14:05:09+08:00",
                    "reference": "forum-123",
                }
            ]
        },
    )

    kind: Literal["listing", "sms", "call_note"] = Field(
        description="A listing's text, an SMS as received, or a note of what a caller said."
    )
    text: Text
    url: (
        Annotated[SafeText, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")] | None
    ) = None
    phone_number: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 \-]{5,20}$")] | None = None
    observed_at: AwareDatetime | None = Field(None, description="When it was seen; now if unset.")
    reference: Annotated[SafeText, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="Your id for what you saw; the same reference is one observation."
    )


class ReportResult(BaseModel):
    source_id: str
    # Withheld from partners (null): see the module docstring.
    matches: int | None = None
    sightings: list[SightingRead] | None = None
    # A reported file that could not be read to its end (a ZIP bomb, a truncated archive,
    # binary junk): why, and how far it got. What was read before is matched all the same.
    read_error: str | None = None
    rows_read: int | None = None


def _when(observed_at: datetime | None) -> datetime:
    when = observed_at or utcnow()
    if when > utcnow() + timedelta(minutes=5):
        raise InvalidError(
            "A sighting cannot be observed in the future.",
            errors=[field_error("observed_at", "in the future")],
        )
    return when


def _audited(actor: Actor, kind: str) -> Callable[[Session, Sequence[Seen], Recorded], None]:
    def audit(session: Session, seen: Sequence[Seen], recorded: Recorded) -> None:
        source_ids = [s.observation.source_id for s in seen]
        detail = {"source_id": source_ids[0], "kind": kind, "added": len(recorded.added)}
        record_audit(session, actor, "sighting.report", "sighting", None, detail)

    return audit


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[RateLimited],
    responses=RATE_LIMITED_RESPONSES,
)
def report(
    intake: IntakeDep,
    settings: SettingsDep,
    session: ReadSession,
    actor: SightingReporter,
    body: ReportCreate,
) -> ReportResult:
    """File what you saw: it is matched against every canary, and matches become sightings
    (source `report`, `sms` or `call`) with the report kept as evidence."""
    if len(body.text) > settings.max_report_chars:
        raise InvalidError(
            f"The text is over {settings.max_report_chars} characters; upload a file to "
            "POST /v1/scans instead.",
            errors=[field_error("text", "too long")],
        )
    pasted = PastedReport(
        kind=body.kind,
        text=body.text,
        reporter=actor.name,
        observed_at=_when(body.observed_at),
        url=body.url,
        phone_number=body.phone_number,
        reference=body.reference,
        reporter_role=actor.role.value,
    )
    seen, _ = intake.take(actor, pasted.observations(), then=_audited(actor, body.kind))
    return _result(session, actor, seen[0])


def _result(
    session: Session, actor: Actor, seen: Seen, read: ScanResult | None = None
) -> ReportResult:
    """What a reporter is told: whether a file could be read, and, but to a partner
    (rule 3), what it matched."""
    told = ReportResult(source_id=seen.observation.source_id)
    if read is not None:
        told.rows_read = read.report.rows
        told.read_error = read.error
    if actor.role is Role.PARTNER:
        return told
    keys = set(seen.keys())
    mine = session.exec(select(Sighting).where(col(Sighting.dedup_key).in_(keys))).all()
    told.matches = len({f.canary_id for f in seen.found})
    told.sightings = [SightingRead.of(s) for s in mine]
    return told


@router.post(
    "/files",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[RateLimited],
    responses=RATE_LIMITED_RESPONSES,
)
def report_file(
    intake: IntakeDep,
    session: ReadSession,
    actor: SightingReporter,
    file: UploadFile,
    url: Annotated[
        SafeText | None,
        Form(max_length=2000, pattern=r"^https?://\S+$", description="Where it was."),
    ] = None,
    observed_at: Annotated[AwareDatetime | None, Form()] = None,
    reference: Annotated[SafeText | None, Form(min_length=1, max_length=200)] = None,
) -> ReportResult:
    """File a sample or dump you were sent (CSV, XLSX, TXT, JSON, ZIP; up to
    HONEYTRACE_MAX_UPLOAD_BYTES): it is read like `POST /v1/scans` and its matches become
    sightings (source `report`). Only its hash and the matched rows are kept (rule 5)."""
    when = _when(observed_at)
    name = (file.filename or "upload")[:255]
    result = intake.scan(file.file, name)
    filed = FileReport(
        name, actor.name, when, result, url=url, reference=reference, reporter_role=actor.role.value
    )
    (observation,) = filed.observations()
    seen = seen_in_file(observation, result, rows_apart=False)
    with intake.database.write() as unit:
        recorded = intake.record(unit, actor, [seen])
        _audited(actor, "file")(unit, [seen], recorded)
    return _result(session, actor, seen, result)
