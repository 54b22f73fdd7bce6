"""What every watcher produces: observations of the outside world, before any matching.

Every source of sightings is a watcher with one small shape (`Watcher`): a trading-site
listing (watchers.sites), a call or message to a pool number (watchers.telephony), a report
a person files (watchers.reports), an order being placed (watchers.orders), a leaked file
read as a dump (watchers.scan). Each turns what it saw into `Observation`s; the app's one
intake (app.intake) matches them against the canaries and stores the sightings with the
evidence. `source_id` names the observation for deduplication: the same listing, CallSid,
MessageSid, order or file always gets the same one, so seeing it again (a retry, a second
delivery, a re-poll) never makes a second sighting.

An observation's text, fields and context are cleaned when it is made (canaries.hostile:
no NUL or control characters reach a stored sighting); its evidence keeps the raw bytes.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from canaries.hostile import clean_text

# The fields a structured observation may carry (the names `canaries.matching` reads).
FIELDS = frozenset({"name", "mobile", "address", "province", "city", "district", "waybill_no"})


class SourceKind(StrEnum):
    DUMP = "dump"  # a leaked file
    SITE = "site"  # a listing on a data-trading site
    SMS = "sms"  # a message to a canary number
    CALL = "call"  # a call to a canary number (its transcript or a note of it)
    ORDER = "order"  # a new order addressed to a canary (brushing)
    REPORT = "report"  # filed by a person: pasted text, a call note


@dataclass(frozen=True, slots=True)
class Evidence:
    """The raw material, kept as it was received."""

    content: bytes
    content_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True, slots=True)
class Observation:
    kind: SourceKind
    source_id: str
    observed_at: datetime
    text: str | None = None  # free text: a listing, an SMS body, a transcript, a note
    fields: Mapping[str, str] = field(default_factory=dict)  # structured, keys in FIELDS
    evidence: Evidence | None = None
    # Where it came from, for the investigator: a URL, the number called, the sender.
    context: Mapping[str, str] = field(default_factory=dict)
    # A file read but never kept (a leaked dump, rule 5): its sha256 stands as the evidence.
    file_sha256: str | None = None

    def __post_init__(self) -> None:
        # Frozen, so the cleaned values are set the way dataclasses set them.
        object.__setattr__(self, "source_id", clean_text(self.source_id))
        if self.text is not None:
            object.__setattr__(self, "text", clean_text(self.text))
        object.__setattr__(self, "fields", {k: clean_text(v) for k, v in self.fields.items()})
        object.__setattr__(self, "context", {k: clean_text(v) for k, v in self.context.items()})
        if not self.source_id or len(self.source_id) > 500:
            raise ValueError("an observation needs a source id of 1 to 500 characters")
        unknown = set(self.fields) - FIELDS
        if unknown:
            raise ValueError(f"unknown observation fields: {', '.join(sorted(unknown))}")
        if self.text is None and not self.fields:
            raise ValueError("an observation needs text or fields")


class Watcher(Protocol):
    """A source of sightings as it saw the world; pure: no database, no web framework."""

    def observations(self) -> Iterable[Observation]: ...
