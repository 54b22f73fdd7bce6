"""What an entry says about the row it chains (its `data`), made from the row's values.

An entry is made from its row when the row is written, and `verify` makes the same data
again from the row as it now stands (app.evidence.rows): each table's fields are named once
here, so what is chained and what is checked cannot drift apart.
"""

import uuid
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

PLANT_FIELDS = ("canary_id", "link_id", "planted_at", "channel", "actor")
SIGHTING_FIELDS = (
    "id", "canary_id", "link_id", "control", "source", "observed_at", "score", "fields",
    "evidence_sha256", "location", "excerpt", "scan_id", "dedup_key",
)  # fmt: skip
MEMBERSHIP_FIELDS = ("sighting_id", "incident_id")
# What attribution reads of a link (app.incidents.exposures): its place in the tree, kind,
# name and volume, and the links besides its ancestors that read its data.
LINK_FIELDS = ("id", "name", "kind", "parent_id", "records_per_day", "reader_ids")
AUDIT_FIELDS = (
    "id", "at", "actor", "actor_key_id", "action", "target_type", "target_id", "detail",
    "request_id",
)  # fmt: skip


class LinkChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"  # the entry holds the link's last state; its row must be gone
    FOUND = "found"  # as it stood when the chain began to cover links (migration 0016)


class Grouping(StrEnum):
    """Why a sighting is in an incident."""

    GROUPED = "grouped"  # stored and grouped by its keys (app.incidents.grouping)
    MERGED = "merged"  # its incident was merged into another
    SPLIT = "split"  # split off into a new incident
    FOUND = "found"  # as it stood when the chain began to cover incidents (migration 0016)


def fields_of(values: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    return {f: values[f] for f in fields}


def link_data(state: Mapping[str, Any], reader_ids: Iterable[uuid.UUID | str]) -> dict[str, Any]:
    """A link's state: its row's fields and its readers (`reader_ids`, sorted)."""
    return {**fields_of(state, LINK_FIELDS[:-1]), "reader_ids": sorted(str(r) for r in reader_ids)}


def membership_data(
    sighting_id: uuid.UUID,
    incident_id: uuid.UUID,
    grouping: Grouping,
    from_incident_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    return {
        "sighting_id": sighting_id,
        "incident_id": incident_id,
        "grouping": grouping.value,
        "from_incident_id": from_incident_id,
    }
