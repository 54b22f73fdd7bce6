"""Walking the link tree with recursive queries (the same SQL on SQLite and PostgreSQL)."""

import uuid

from sqlalchemy import literal
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.models.links import Link, LinkReader

# Deeper than any real chain (head office -> region -> ... -> courier); stops a runaway walk.
MAX_DEPTH = 64


def ancestor_ids(session: Session, link_id: uuid.UUID) -> list[uuid.UUID]:
    """The link and every link above it, nearest first: the links that can read its data."""
    up = (
        select(Link.id, Link.parent_id, literal(0).label("depth"))
        .where(Link.id == link_id)
        .cte("up", recursive=True)
    )
    up = up.union_all(
        select(Link.id, Link.parent_id, (up.c.depth + 1).label("depth")).where(
            Link.id == up.c.parent_id, up.c.depth < MAX_DEPTH
        )
    )
    rows = session.exec(select(up.c.id).order_by(up.c.depth)).all()
    return list(rows)


def subtree_ids(root_id: uuid.UUID) -> SelectOfScalar[uuid.UUID]:
    """A query for the root and every link below it."""
    down = (
        select(Link.id, literal(0).label("depth"))
        .where(Link.id == root_id)
        .cte("down", recursive=True)
    )
    down = down.union_all(
        select(Link.id, (down.c.depth + 1).label("depth")).where(
            Link.parent_id == down.c.id, down.c.depth < MAX_DEPTH
        )
    )
    return select(down.c.id)


def exposure_ids(session: Session, link_id: uuid.UUID) -> list[uuid.UUID]:
    """The link and every link that can read its data: its ancestors, the readers of any of
    them (a vendor reads its clients'), and theirs in turn; nearest first."""
    seen: list[uuid.UUID] = []
    todo = [link_id]
    while todo:
        chain = [a for a in ancestor_ids(session, todo.pop(0)) if a not in seen]
        seen.extend(chain)
        if chain:
            readers = session.exec(
                select(LinkReader.reader_id).where(col(LinkReader.link_id).in_(chain))
            ).all()
            todo.extend(r for r in readers if r not in seen and r not in todo)
    return seen
