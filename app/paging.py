"""One paging envelope for every list the API returns: `{items, total, limit, offset}`."""

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

# Far beyond any list honeytrace keeps, far below what a database integer holds (an offset
# of 2^63 once reached the database and failed there).
MAX_OFFSET = 1_000_000_000
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="How many items to skip (the page's start).")
]


def limit_query(maximum: int) -> object:
    return Query(ge=1, le=maximum, description=f"How many items at most (1 to {maximum}).")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int  # items in the whole list, all pages
    limit: int
    offset: int


def page_of(items: Sequence[T], limit: int, offset: int) -> Page[T]:
    """A page of a list short enough to be read whole (sites, subscriptions, keys, numbers)."""
    return Page[T](items=list(items[offset : offset + limit]), total=len(items), limit=limit,
                   offset=offset)  # fmt: skip
