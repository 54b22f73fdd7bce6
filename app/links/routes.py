"""/v1/links: thin routes over app.links.service."""

import uuid
from typing import Annotated

from fastapi import APIRouter, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import LinkReader, LinkWriter
from app.links import service
from app.links.importer import ImportReport, import_links_csv
from app.links.schemas import LinkCreate, LinkRead, LinkUpdate
from app.paging import Offset, Page, limit_query
from app.problems import PayloadTooLargeError
from app.resources import ReadSession, SettingsDep, WriteSession
from attribution.kinds import LinkKind

router = APIRouter(prefix="/v1/links", tags=["links"])
IMPORT_PATH = "/v1/links/import"


@router.get("")
def list_links(
    session: ReadSession,
    actor: LinkReader,
    kind: LinkKind | None = None,
    parent_id: uuid.UUID | None = None,
    active: bool | None = None,
    limit: Annotated[int, limit_query(1000)] = 100,
    offset: Offset = 0,
) -> Page[LinkRead]:
    """The links the caller may see (a partner: its own and those below it), filtered by kind,
    parent or whether they are active, one page at a time."""
    links, total = service.list_links(
        session, actor, kind=kind, parent_id=parent_id, active=active, limit=limit, offset=offset
    )
    return Page[LinkRead](
        items=[LinkRead.of(x) for x in links], total=total, limit=limit, offset=offset
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_link(session: WriteSession, actor: LinkWriter, body: LinkCreate) -> LinkRead:
    """Register a link (an outlet, region, vendor, merchant, ...) under its parent; a partner
    creates links only below its own."""
    return LinkRead.of(service.create_link(session, actor, body))


@router.post("/import")
def import_links(
    session: WriteSession, actor: LinkWriter, settings: SettingsDep, file: UploadFile
) -> ImportReport:
    """Import a CSV (UTF-8 or GB18030); all rows or none, with every bad row reported."""
    data = file.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PayloadTooLargeError(f"The file is over {settings.max_upload_bytes} bytes.")
    return import_links_csv(session, actor, data)


@router.get("/{link_id}")
def get_link(session: ReadSession, actor: LinkReader, link_id: uuid.UUID) -> LinkRead:
    """One link; a link outside the caller's scope answers 404 as if it did not exist."""
    return LinkRead.of(service.get_link(session, actor, link_id))


@router.patch("/{link_id}")
def update_link(
    session: WriteSession, actor: LinkWriter, link_id: uuid.UUID, body: LinkUpdate
) -> LinkRead:
    """Change the fields sent (name, kind, region, courier, parent, reference, volume, validity);
    the tree stays a tree (a link never moves below itself)."""
    return LinkRead.of(service.update_link(session, actor, link_id, body))


@router.post("/{link_id}/deactivate")
def deactivate_link(session: WriteSession, actor: LinkWriter, link_id: uuid.UUID) -> LinkRead:
    """Stop minting and feeding canaries for the link; those already planted are still matched."""
    return LinkRead.of(service.deactivate_link(session, actor, link_id))


@router.post("/{link_id}/reactivate")
def reactivate_link(session: WriteSession, actor: LinkWriter, link_id: uuid.UUID) -> LinkRead:
    """Let a deactivated link receive canaries again."""
    return LinkRead.of(service.reactivate_link(session, actor, link_id))


@router.delete("/{link_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_link(session: WriteSession, actor: LinkWriter, link_id: uuid.UUID) -> None:
    """Delete a link entered by mistake: refused (409) while links sit below it, it has canaries,
    keys are scoped to it or history names it; deactivate it instead."""
    service.delete_link(session, actor, link_id)


class ReaderAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reader_id: uuid.UUID = Field(description="The link that reads this one's data.")


@router.get("/{link_id}/readers")
def list_readers(session: ReadSession, actor: LinkReader, link_id: uuid.UUID) -> list[LinkRead]:
    """Links that read this one's data besides those above it (a printing-software vendor
    reads its clients'): its canaries are in their exposure sets."""
    return [LinkRead.of(x) for x in service.list_readers(session, actor, link_id)]


@router.post("/{link_id}/readers", status_code=status.HTTP_201_CREATED)
def add_reader(
    session: WriteSession, actor: LinkWriter, link_id: uuid.UUID, body: ReaderAdd
) -> LinkRead:
    """Record that another link reads this one's data (a printing-software vendor reads its
    clients'): this link's canaries join that reader's exposure."""
    return LinkRead.of(service.add_reader(session, actor, link_id, body.reader_id))


@router.delete("/{link_id}/readers/{reader_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_reader(
    session: WriteSession, actor: LinkWriter, link_id: uuid.UUID, reader_id: uuid.UUID
) -> None:
    """Stop counting a link as a reader of this one's data."""
    service.remove_reader(session, actor, link_id, reader_id)
