"""Walking the link tree with recursive queries (the same SQL on SQLite and PostgreSQL)."""

import uuid

from sqlalchemy import literal
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from app.links.models import Link

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
