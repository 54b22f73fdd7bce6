"""What a person may type where the CLI wants a record: the full id, a short id, a ref, a name.

One resolver for every command that takes an id (`mint --link`, `incidents show`, `keys
revoke`, ...): a full UUID must exist; anything else is looked up as a short id (6 or more
hex digits of the id's start, as the CLI prints them), and for links as the ref given at
import or the exact name, for keys as the name or the key's prefix. More than one match is
refused, never guessed, and the refusal names what matched.
"""

import re
import uuid
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel, col, select

from app.models.canaries import Canary
from app.models.incidents import Incident
from app.models.keys import ApiKey
from app.models.links import Link
from app.models.sites import Site

SHORT_ID_DIGITS = 6  # fewer would often match several records of a busy database
SHOWN_ID_DIGITS = 8  # what the CLI prints as a record's short id
_HEX = re.compile(r"[0-9a-f]+")
_LISTED = 5  # matches named in an ambiguity error

Row = TypeVar("Row", bound=SQLModel)


class UnidentifiedError(Exception):
    """Nothing, or more than one record, answers to what was typed; the message says which."""


class AmbiguousError(UnidentifiedError):
    """More than one record answers to what was typed."""


def short_id(record_id: uuid.UUID) -> str:
    return record_id.hex[:SHOWN_ID_DIGITS]


def link_names(session: Session, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of these links, to show in place of their ids."""
    if not ids:
        return {}
    return dict(session.exec(select(Link.id, Link.name).where(col(Link.id).in_(ids))).all())


def waybills(session: Session, canary_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The waybill numbers of these canaries, to show in place of their ids."""
    if not canary_ids:
        return {}
    query = select(Canary.id, Canary.waybill_no).where(col(Canary.id).in_(canary_ids))
    return dict(session.exec(query).all())


def resolve_link(session: Session, typed: str) -> uuid.UUID:
    """A link by full id, short id, ref (from the import) or exact name."""
    return _resolve(
        session,
        Link,
        "link",
        typed,
        [col(Link.external_ref) == typed.strip(), col(Link.name) == typed.strip()],
        "ref or name",
        _link_label,
    )


def resolve_incident(session: Session, typed: str) -> uuid.UUID:
    """An incident by full or short id."""
    return _resolve(session, Incident, "incident", typed, [], None, _incident_label)


def resolve_key(session: Session, typed: str) -> uuid.UUID:
    """An API key by full or short id, its name, or its prefix (`ht_<prefix>_...`)."""
    text = typed.strip()
    prefix = text.removeprefix("ht_").split("_", 1)[0]
    return _resolve(
        session,
        ApiKey,
        "key",
        typed,
        [col(ApiKey.name) == text, col(ApiKey.prefix) == prefix],
        "name or prefix",
        _key_label,
    )


def resolve_site(session: Session, typed: str) -> uuid.UUID:
    """A trading site by full or short id, or its name."""
    name = col(Site.name) == typed.strip()
    return _resolve(session, Site, "site", typed, [name], "name", _site_label)


def _resolve(
    session: Session,
    model: type[Row],
    what: str,
    typed: str,
    other_ways: Sequence[ColumnElement[bool]],
    other_names: str | None,
    label: Callable[[Row], str],
) -> uuid.UUID:
    text = typed.strip()
    if not text:
        raise UnidentifiedError(f"no {what} given")
    identity: Any = model.id  # type: ignore[attr-defined]
    try:
        full = uuid.UUID(text)
    except ValueError:
        full = None
    if full is not None:
        if session.get(model, full) is None:
            raise UnidentifiedError(f"no {what} has the id {full}")
        return full
    ways = list(other_ways)
    digits = _id_digits(text)
    if digits is not None:
        # Ids sort as their hex digits on both databases (SQLite keeps 32 hex digits,
        # PostgreSQL a uuid): a short id is a range of the primary key, read from its index.
        low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
        ways.append(and_(identity >= low, identity <= high))
    tried = f"id, short id ({SHORT_ID_DIGITS}+ hex digits)" + (
        f", {other_names}" if other_names else ""
    )
    if not ways:
        raise UnidentifiedError(f"no {what} matches {text!r} (tried its {tried})")
    found = session.exec(select(model).where(or_(*ways)).limit(_LISTED + 1)).all()
    if len(found) == 1:
        return uuid.UUID(str(found[0].id))  # type: ignore[attr-defined]
    if not found:
        raise UnidentifiedError(f"no {what} matches {text!r} (tried its {tried})")
    named = "; ".join(label(row) for row in found[:_LISTED])
    more = ", and more" if len(found) > _LISTED else ""
    raise AmbiguousError(
        f"{text!r} matches more than one {what}: {named}{more}; give the full or a longer id"
    )


def _id_digits(text: str) -> str | None:
    digits = text.lower().replace("-", "")
    if SHORT_ID_DIGITS <= len(digits) <= 32 and _HEX.fullmatch(digits):
        return digits
    return None


def _link_label(link: Link) -> str:
    ref = f", ref {link.external_ref}" if link.external_ref else ""
    return f"{link.name} (id {short_id(link.id)}{ref})"


def _incident_label(incident: Incident) -> str:
    return f"{short_id(incident.id)} {incident.title}"


def _key_label(key: ApiKey) -> str:
    return f"{key.name} (id {short_id(key.id)}, ht_{key.prefix}_…)"


def _site_label(site: Site) -> str:
    return f"{site.name} (id {short_id(site.id)})"
