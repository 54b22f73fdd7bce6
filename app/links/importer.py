"""Bulk link import from CSV: every row checked first, then all written or none.

Columns (English or Chinese headers, any order): name 名称, kind 类型, region 行政区划代码,
courier 快递品牌, parent 上级 (an existing link's id, or the ref of a link in the file or
already registered), ref 编号 (your own id), valid_from 生效时间, valid_until 失效时间.
Times without a zone are China Standard Time (UTC+8), as Chinese exports write them.
"""

import csv
import hashlib
import io
import uuid
from collections import deque
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlmodel import Session, col, select

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import utcnow
from app.evidence.facts import LinkChange
from app.evidence.log import log_links
from app.links.schemas import ExternalRef, LinkName, RegionCode
from app.links.tree import subtree_ids
from app.models.links import Link
from app.problems import InvalidError, field_error, validation_errors
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from canaries.divisions import division_table

T = TypeVar("T")
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))
MAX_REPORTED_ERRORS = 1000
HEADERS: dict[str, str] = {
    "name": "name", "名称": "name", "链路名称": "name", "网点名称": "name",
    "kind": "kind", "类型": "kind", "链路类型": "kind",
    "region": "region", "region_code": "region", "行政区划代码": "region", "地区代码": "region",
    "courier": "courier", "快递品牌": "courier", "品牌": "courier", "快递公司": "courier",
    "parent": "parent", "parent_id": "parent", "parent_ref": "parent", "上级": "parent",
    "上级编号": "parent",
    "ref": "ref", "external_ref": "ref", "编号": "ref",
    "valid_from": "valid_from", "生效时间": "valid_from",
    "valid_until": "valid_until", "失效时间": "valid_until",
}  # fmt: skip
REQUIRED = ("name", "kind", "region", "courier")


class ImportRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: LinkName
    kind: LinkKind
    region: RegionCode
    courier: Courier
    parent: str | None = None
    ref: ExternalRef | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @field_validator("valid_from", "valid_until", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parsed = datetime.fromisoformat(value.strip())
        if len(value.strip()) == 10:
            parsed = datetime.combine(date.fromisoformat(value.strip()), datetime.min.time())
        return parsed.replace(tzinfo=CHINA_STANDARD_TIME) if parsed.tzinfo is None else parsed

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in division_table():
            raise ValueError(f"{value} is not a GB/T 2260 division code")
        return value


class ImportReport(BaseModel):
    created: int
    ids: list[uuid.UUID]


def decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidError("The file is neither UTF-8 nor GB18030 text.")


def _read_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise InvalidError("The file is empty.")
    fields = []
    for raw in header:
        name = HEADERS.get(raw.strip().lower())
        if name is None:
            raise InvalidError(
                f"Unknown column {raw.strip()!r}.", errors=[field_error(raw.strip(), "unknown")]
            )
        fields.append(name)
    missing = [f for f in REQUIRED if f not in fields]
    if missing:
        raise InvalidError(
            "Required columns are missing.",
            errors=[field_error(f, "column missing") for f in missing],
        )
    rows: list[dict[str, str]] = []
    for values in reader:
        if not any(v.strip() for v in values):
            rows.append({})
            continue
        rows.append({"__width__": str(len(values)), **dict(zip(fields, values, strict=False))})
    return fields, rows


def import_links_csv(session: Session, actor: Actor, data: bytes) -> ImportReport:
    fields, raw_rows = _read_rows(decode_csv(data))
    errors: list[dict[str, Any]] = []
    parsed: dict[int, ImportRow] = {}

    def fail(line: int, field: str, message: str) -> None:
        errors.append({"row": line, "field": field, "message": message})

    for index, raw in enumerate(raw_rows):
        line = index + 2  # the header is line 1
        if not raw:
            continue
        if int(raw.pop("__width__")) != len(fields):
            fail(line, "row", f"has a different number of columns than the header ({len(fields)})")
            continue
        values = {k: v.strip() for k, v in raw.items() if v.strip() != ""}
        try:
            parsed[line] = ImportRow.model_validate(values)
        except ValidationError as exc:
            for problem in validation_errors(exc.errors()):
                fail(line, problem["field"], problem["message"])
    if not parsed and not errors:
        raise InvalidError("The file has a header but no rows.")

    ids = {line: uuid.uuid4() for line in parsed}
    by_ref = _index_refs(session, parsed, ids, fail)
    parents = _resolve_parents(session, actor, parsed, ids, by_ref, fail)
    order = _parents_first(parsed, ids, parents, fail)

    if errors:
        errors.sort(key=lambda e: e["row"])
        raise InvalidError(
            f"{len(errors)} problem(s) in the file; nothing was imported.",
            errors=errors[:MAX_REPORTED_ERRORS],
            error_count=len(errors),
        )
    now = utcnow()
    records = [
        {
            "id": ids[line],
            "name": parsed[line].name,
            "kind": parsed[line].kind.value,
            "region_code": parsed[line].region,
            "courier": parsed[line].courier.value,
            "parent_id": parents.get(line),
            "external_ref": parsed[line].ref,
            "valid_from": parsed[line].valid_from or now,
            "valid_until": parsed[line].valid_until,
            "deactivated_at": None,
            "created_at": now,
            "updated_at": now,
        }
        for line in order
    ]
    # Core executemany: the ORM's bulk path would cost twice the time for nothing used here.
    table = Link.__table__  # type: ignore[attr-defined]
    for chunk in _chunks(records):
        session.connection().execute(table.insert(), chunk)
    log_links(session, [ids[line] for line in order], LinkChange.CREATED)
    record_audit(
        session,
        actor,
        "link.import",
        "link",
        None,
        {"created": len(records), "sha256": hashlib.sha256(data).hexdigest()},
    )
    return ImportReport(created=len(records), ids=[ids[line] for line in sorted(parsed)])


def _index_refs(
    session: Session, parsed: dict[int, ImportRow], ids: dict[int, uuid.UUID], fail: Any
) -> dict[str, uuid.UUID]:
    """Refs of the file's rows and of links already registered that the file names."""
    by_ref: dict[str, uuid.UUID] = {}
    first_line: dict[str, int] = {}
    for line, row in parsed.items():
        if row.ref is None:
            continue
        if row.ref in first_line:
            fail(line, "ref", f"{row.ref!r} is used again (first on line {first_line[row.ref]})")
            continue
        first_line[row.ref] = line
        by_ref[row.ref] = ids[line]
    wanted = set(first_line) | {r.parent for r in parsed.values() if r.parent}
    existing: dict[str, uuid.UUID] = {}
    for chunk in _chunks(sorted(wanted)):
        rows = session.exec(
            select(Link.external_ref, Link.id).where(col(Link.external_ref).in_(chunk))
        ).all()
        existing.update((ref, link_id) for ref, link_id in rows if ref is not None)
    for ref, line in first_line.items():
        if ref in existing:
            fail(line, "ref", f"{ref!r} is already used by a registered link")
    for ref, link_id in existing.items():
        by_ref.setdefault(ref, link_id)
    return by_ref


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _chunks(values: list[T], size: int = 5000) -> Iterator[list[T]]:
    """Slices small enough for the bound-parameter limits of SQLite and PostgreSQL."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _resolve_parents(
    session: Session,
    actor: Actor,
    parsed: dict[int, ImportRow],
    ids: dict[int, uuid.UUID],
    by_ref: dict[str, uuid.UUID],
    fail: Any,
) -> dict[int, uuid.UUID]:
    in_file = set(ids.values())
    named_ids: set[uuid.UUID] = set()
    for row in parsed.values():
        if row.parent and row.parent not in by_ref and (named := _as_uuid(row.parent)):
            named_ids.add(named)
    registered = set(by_ref.values()) - in_file | named_ids
    if actor.scope_link_id is not None:
        visible = set(session.exec(subtree_ids(actor.scope_link_id)).all())
    else:
        visible = set(session.exec(select(Link.id).where(col(Link.id).in_(list(registered)))).all())
    parents: dict[int, uuid.UUID] = {}
    for line, row in parsed.items():
        if row.parent is None:
            if actor.is_scoped:
                fail(line, "parent", "required for a partner key")
            continue
        target = by_ref.get(row.parent) or _as_uuid(row.parent)
        if target is None or (target not in in_file and target not in visible):
            fail(line, "parent", f"{row.parent!r} is neither a link nor a ref in the file")
            continue
        parents[line] = target
    return parents


def _parents_first(
    parsed: dict[int, ImportRow],
    ids: dict[int, uuid.UUID],
    parents: dict[int, uuid.UUID],
    fail: Any,
) -> list[int]:
    """Rows ordered so every parent in the file is inserted before its children."""
    line_of_id = {ids[line]: line for line in parsed}
    children: dict[int, list[int]] = {}
    queue: deque[int] = deque()
    for line in sorted(parsed):
        parent_line = line_of_id.get(parents[line]) if line in parents else None
        if parent_line is None:
            queue.append(line)
        else:
            children.setdefault(parent_line, []).append(line)
    order: list[int] = []
    while queue:
        line = queue.popleft()
        order.append(line)
        queue.extend(children.pop(line, ()))
    for line in sorted(set(parsed) - set(order)):
        fail(line, "parent", "the parents of this row form a cycle")
    return order
