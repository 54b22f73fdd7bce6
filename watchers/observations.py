"""What every watcher produces: observations of the outside world, before any matching.

A watcher (a trading site, a telephony webhook, a brushing-order screen, a person filing a
report) turns what it saw into `Observation`s; the app matches each against the canaries
and stores the sightings with the evidence. `source_id` names the observation for
deduplication: the same listing, CallSid, MessageSid or order always gets the same one, so
seeing it again (a retry, a second delivery, a re-poll) never makes a second sighting.
"""

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

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

    def __post_init__(self) -> None:
        if not self.source_id or len(self.source_id) > 500:
            raise ValueError("an observation needs a source id of 1 to 500 characters")
        unknown = set(self.fields) - FIELDS
        if unknown:
            raise ValueError(f"unknown observation fields: {', '.join(sorted(unknown))}")
        if self.text is None and not self.fields:
            raise ValueError("an observation needs text or fields")


class Watcher(Protocol):
    """Anything that yields observations; pure: no database, no web framework."""

    def observations(self) -> Iterator[Observation]: ...
