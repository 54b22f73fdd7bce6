"""From an observation to sightings: match it, keep its evidence if it matched, store once.

Every watcher's observations come through here (manual reports, order screening, and the
telephony and site watchers as they arrive), so matching, deduplication and evidence are
the same for all of them.
"""

import hashlib
import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.evidence.store import EvidenceStore
from app.models.canaries import Canary
from app.models.sightings import Sighting, SightingSource
from app.sightings.service import EXCERPT_CHARS, add_sightings
from canaries.matching import Matcher
from canaries.scoring import Match
from watchers.observations import Observation


@dataclass(frozen=True)
class Observed:
    """What one observation came to: the sightings it made now, and every match it holds
    (an observation seen before matches again but adds no sighting)."""

    matches: list[tuple[str, Match]]
    added: list[Sighting]


def match_observation(matcher: Matcher, observation: Observation) -> list[tuple[str, Match]]:
    """(excerpt, match) per canary, the best per canary, from the fields and the text."""
    best: dict[bytes, tuple[str, Match]] = {}
    found: list[tuple[str, Match]] = []
    if observation.fields:
        record = dict(observation.fields)
        excerpt = " ".join(f"{k}={v}" for k, v in record.items())
        found.extend((excerpt, match) for _, match in matcher.match_records([record]))
        if observation.text:
            excerpt = f"{excerpt} | {observation.text}"
            found.extend((excerpt, m) for m in matcher.match_combined(record, observation.text))
    if observation.text:
        found.extend(matcher.match_text(observation.text))
    for excerpt, match in found:
        kept = best.get(match.canary.id)
        if kept is None or match.score > kept[1].score:
            best[match.canary.id] = (excerpt, match)
    return sorted(best.values(), key=lambda pair: -pair[1].score)


def dedup_key(observation: Observation, canary_id: uuid.UUID) -> str:
    text = f"{observation.kind}|{observation.source_id}|{canary_id}"
    return hashlib.sha256(text.encode()).hexdigest()


def record_observation(
    session: Session,
    actor: Actor,
    matcher: Matcher,
    evidence: EvidenceStore,
    observation: Observation,
) -> Observed:
    matches = match_observation(matcher, observation)
    return Observed(matches, record_matches(session, actor, evidence, observation, matches))


def record_matches(
    session: Session,
    actor: Actor,
    evidence: EvidenceStore,
    observation: Observation,
    matches: list[tuple[str, Match]],
) -> list[Sighting]:
    """Store an observation's matches as sightings, with its evidence; the ones added."""
    if not matches:
        return []
    ids = [uuid.UUID(bytes=m.canary.id) for _, m in matches]
    rows = session.exec(select(Canary.id, Canary.link_id).where(col(Canary.id).in_(ids))).all()
    links = {canary_id: link_id for canary_id, link_id in rows}
    digest = evidence.put(observation.evidence) if observation.evidence is not None else None
    location: dict[str, str] = {"source_id": observation.source_id, **observation.context}
    if observation.evidence is not None:
        location["evidence_type"] = observation.evidence.content_type
    pending = [
        Sighting(
            canary_id=canary_id,
            link_id=links[canary_id],
            control=match.canary.control,
            source=SightingSource(observation.kind.value),
            dedup_key=dedup_key(observation, canary_id),
            observed_at=observation.observed_at,
            score=match.score,
            fields=match.explanation(),
            evidence_sha256=digest,
            location=location,
            excerpt=excerpt[:EXCERPT_CHARS],
        )
        for canary_id, (excerpt, match) in zip(ids, matches, strict=True)
        if canary_id in links
    ]
    reason = f"seen in {observation.kind} {observation.source_id[:60]}"
    return add_sightings(session, actor, pending, reason)
