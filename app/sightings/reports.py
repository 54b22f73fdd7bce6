"""/v1/sightings: reports filed by people, and the list of every sighting.

A partner may report what it saw but is never told whether it matched: otherwise it could
paste its own records and learn which are canaries (rule 3).
"""

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request, UploadFile, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import Session, col, func, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import utcnow
from app.deps import SessionDep, SightingReader, SightingReporter
from app.evidence.store import EvidenceStore
from app.models.keys import Role
from app.models.sightings import Sighting, SightingSource
from app.problems import InvalidError, field_error
from app.ratelimit import RateLimited
from app.settings import Settings
from app.sightings.index import IndexHolder
from app.sightings.observe import dedup_key, record_matches, record_observation
from canaries.matching import Matcher
from canaries.scoring import Match
from watchers.dumps import DumpLimits
from watchers.observations import Evidence, Observation, SourceKind
from watchers.scan import scan_stream

router = APIRouter(prefix="/v1/sightings", tags=["sightings"])
FILES_PATH = "/v1/sightings/files"
Text = Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["listing", "sms", "call_note"] = Field(
        description="A listing's text, an SMS as received, or a note of what a caller said."
    )
    text: Text
    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")] | None = None
    phone_number: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 \-]{5,20}$")] | None = None
    observed_at: AwareDatetime | None = Field(None, description="When it was seen; now if unset.")
    reference: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="Your id for what you saw; the same reference is one observation."
    )


class SightingRead(BaseModel):
    id: uuid.UUID
    canary_id: uuid.UUID
    link_id: uuid.UUID
    control: bool
    source: SightingSource
    observed_at: datetime
    score: float | None = Field(
        description="Bits of the match; null for a call or message that named the canary "
        "only by the number it reached (weighed against the number's background rate)."
    )
    fields: dict[str, Any]
    evidence_sha256: str | None
    location: dict[str, Any]
    excerpt: str

    @classmethod
    def of(cls, s: Sighting) -> "SightingRead":
        return cls(
            id=s.id,
            canary_id=s.canary_id,
            link_id=s.link_id,
            control=s.control,
            source=s.source,
            observed_at=s.observed_at,
            score=None if s.score is None else round(s.score, 2),
            fields=s.fields,
            evidence_sha256=s.evidence_sha256,
            location=s.location,
            excerpt=s.excerpt,
        )


class ReportResult(BaseModel):
    source_id: str
    # Withheld from partners (null): see the module docstring.
    matches: int | None = None
    sightings: list[SightingRead] | None = None


class SightingPage(BaseModel):
    items: list[SightingRead]
    total: int
    limit: int
    offset: int


def _when(observed_at: datetime | None) -> datetime:
    when = observed_at or utcnow()
    if when > utcnow() + timedelta(minutes=5):
        raise InvalidError(
            "A sighting cannot be observed in the future.",
            errors=[field_error("observed_at", "in the future")],
        )
    return when


def _observation(body: ReportCreate, reporter: str) -> Observation:
    observed_at = _when(body.observed_at)
    record = {
        "kind": body.kind,
        "text": body.text,
        "url": body.url,
        "phone_number": body.phone_number,
        "observed_at": observed_at.isoformat(),
        "reporter": reporter,
    }
    raw = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
    content = json.dumps([body.kind, body.text, body.url, body.phone_number], ensure_ascii=False)
    source_id = body.reference or "sha256:" + hashlib.sha256(content.encode()).hexdigest()
    context = {"report_kind": body.kind, "reporter": reporter}
    if body.url:
        context["url"] = body.url
    if body.phone_number:
        context["phone_number"] = body.phone_number
    kind = {"sms": SourceKind.SMS, "call_note": SourceKind.CALL}.get(body.kind, SourceKind.REPORT)
    return Observation(
        kind=kind,
        source_id=source_id,
        observed_at=observed_at,
        text=body.text,
        evidence=Evidence(raw, "application/json"),
        context=context,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, dependencies=[RateLimited])
def report(
    request: Request, session: SessionDep, actor: SightingReporter, body: ReportCreate
) -> ReportResult:
    """File what you saw: it is matched against every canary, and matches become sightings
    (source `report`, `sms` or `call`) with the report kept as evidence."""
    settings: Settings = request.app.state.settings
    if len(body.text) > settings.max_report_chars:
        raise InvalidError(
            f"The text is over {settings.max_report_chars} characters; upload a file to "
            "POST /v1/scans instead.",
            errors=[field_error("text", "too long")],
        )
    observation = _observation(body, actor.name)
    holder: IndexHolder = request.app.state.index_holder
    holder.refresh(session)
    # Match outside the transaction (a long text takes a while; SQLite has one writer):
    # record_observation's first query begins the next one after matching.
    session.commit()
    store = EvidenceStore(settings.evidence_path)
    observed = record_observation(session, actor, Matcher(holder.index), store, observation)
    record_audit(
        session,
        actor,
        "sighting.report",
        "sighting",
        None,
        {"source_id": observation.source_id, "kind": body.kind, "added": len(observed.added)},
    )
    return _result(session, actor, observation, observed.matches)


def _result(
    session: Session, actor: Actor, observation: Observation, matches: list[tuple[str, Match]]
) -> ReportResult:
    """What a reporter is told: nothing, to a partner (rule 3)."""
    if actor.role is Role.PARTNER:
        return ReportResult(source_id=observation.source_id)
    keys = {dedup_key(observation, uuid.UUID(bytes=m.canary.id)) for _, m in matches}
    mine = session.exec(select(Sighting).where(col(Sighting.dedup_key).in_(keys))).all()
    return ReportResult(
        source_id=observation.source_id,
        matches=len(keys),
        sightings=[SightingRead.of(s) for s in mine],
    )


@router.post("/files", status_code=status.HTTP_202_ACCEPTED, dependencies=[RateLimited])
def report_file(
    request: Request,
    session: SessionDep,
    actor: SightingReporter,
    file: UploadFile,
    url: Annotated[
        str | None, Form(max_length=2000, pattern=r"^https?://\S+$", description="Where it was.")
    ] = None,
    observed_at: Annotated[AwareDatetime | None, Form()] = None,
    reference: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
) -> ReportResult:
    """File a sample or dump you were sent (CSV, XLSX, TXT, JSON, ZIP; up to
    HONEYTRACE_MAX_UPLOAD_BYTES): it is read like `POST /v1/scans` and its matches become
    sightings (source `report`). Only its hash and the matched rows are kept (rule 5)."""
    settings: Settings = request.app.state.settings
    when = _when(observed_at)
    name = (file.filename or "upload")[:255]
    holder: IndexHolder = request.app.state.index_holder
    holder.refresh(session)
    session.commit()  # read the file outside the transaction, as reports do
    result = scan_stream(file.file, name, Matcher(holder.index), DumpLimits())
    context = {"report_kind": "file", "reporter": actor.name, "file": name}
    context |= {"file_sha256": result.sha256, "rows": str(result.report.rows)}
    if url:
        context["url"] = url
    if result.error:
        context["read_error"] = result.error[:200]
    observation = Observation(
        kind=SourceKind.REPORT,
        source_id=reference or f"sha256:{result.sha256}",
        observed_at=when,
        text=f"file {name}",
        context=context,
    )
    store = EvidenceStore(settings.evidence_path)
    matches = [(m.line, m.match) for m in result.matches]
    added = record_matches(session, actor, store, observation, matches)
    record_audit(
        session,
        actor,
        "sighting.report",
        "sighting",
        None,
        {"source_id": observation.source_id, "kind": "file", "added": len(added)},
    )
    return _result(session, actor, observation, matches)


@router.get("")
def list_sightings(
    session: SessionDep,
    actor: SightingReader,
    source: SightingSource | None = None,
    canary_id: uuid.UUID | None = None,
    link_id: uuid.UUID | None = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SightingPage:
    """Sightings, newest first, with their canaries, links, scores and evidence hashes."""
    query = select(Sighting)
    if source is not None:
        query = query.where(Sighting.source == source)
    if canary_id is not None:
        query = query.where(Sighting.canary_id == canary_id)
    if link_id is not None:
        query = query.where(Sighting.link_id == link_id)
    if since is not None:
        query = query.where(col(Sighting.observed_at) >= since)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = session.exec(
        query.order_by(col(Sighting.observed_at).desc(), col(Sighting.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return SightingPage(
        items=[SightingRead.of(s) for s in page], total=total, limit=limit, offset=offset
    )
