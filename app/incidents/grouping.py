"""Which incident a sighting belongs to: one leak, one incident, whatever the channel.

The rules are attribution.grouping's (pure, stated there): a sighting joins an open
incident seen within GROUP_WINDOW of it, unless an investigator split them apart, when they
share a source key, or a planted canary, or when the links their canaries point at could be
one leak (an outlet's dump, a listing pasted from it, an SMS campaign to its numbers and
brushing orders to its addresses are one incident; two unrelated leaks stay two). Open
incidents a sighting bridges are merged into one, without an investigator and audited.
Sightings filed by partners group only among themselves (rule 3: see partner_reported).
Closed incidents take no new sightings. Each open incident keeps what the rules need of it
between sightings (`profile`: its canaries, the links they were planted at, its channels).

The source keys:
- `url:` the same listing or page (a trading site's listing URL, a report's URL);
- `file:` the same file by sha256 (a scanned dump, a reported file, a listing's sample);
- `phone:` the same caller or sender number (a scam campaign's calls and SMS, a number
  given in a report);
- `line:` the same pool number called or messaged (repeated calls to one canary's number,
  from whatever caller ids);
- `template:` the same SMS or call text once the canary's own name, digits and Latin text
  are taken out (one campaign sending one text to many numbers);
- `merchant:` / `sender:` the same brushing merchant or sender id on orders;
- `report:` the same report reference (a person filing what they saw under one id).
"""

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select

from app.db import utcnow
from app.incidents.titles import file_name
from app.models.canaries import Canary
from app.models.incidents import Incident, IncidentKey, IncidentSighting, IncidentStatus
from app.models.sightings import Sighting, SightingSource
from attribution.grouping import (
    IncidentProfile,
    SightingProfile,
    StoredProfile,
    profile,
    restore,
)
from attribution.kinds import Channel
from attribution.tree import ExposureTree

PARTNER_ROLE = "partner"
PARTNER_KEYS = "partner|"  # the group keys of partner-reported sightings, kept apart
# A template shorter than this (in Chinese characters) is too common to name a campaign.
TEMPLATE_MIN_CHARS = 8
TEMPLATE_MAX_CHARS = 120
SHOWN_KEYS = 50
_NOT_CJK = re.compile(r"[^\u3400-\u9fff]+")
_NOT_DIGIT = re.compile(r"\D+")

TITLES = {
    "url": "数据交易帖 / Listing",
    "file": "文件 / File",
    "phone": "来电短信 / Calls and SMS from",
    "line": "诱饵号码 / Calls and SMS to",
    "template": "短信模板 / Message template",
    "merchant": "刷单 / Brushing orders, merchant",
    "sender": "刷单 / Brushing orders, sender",
    "report": "报告 / Report",
    "source": "来源 / Source",
}


def phone_key(number: object) -> str | None:
    """A phone number as digits, the +86 country code dropped; None if it is not one."""
    digits = _NOT_DIGIT.sub("", str(number or ""))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if len(digits) >= 5 else None


def text_template(text: str, name: str | None) -> str | None:
    """What a campaign's messages share: the Chinese text without the recipient's name."""
    template = _NOT_CJK.sub("", text)
    for char in name or "":
        template = template.replace(char, "")
    if len(template) < TEMPLATE_MIN_CHARS:
        return None
    return template[:TEMPLATE_MAX_CHARS]


def source_keys(sighting: Sighting, canary_name: str | None = None) -> list[str]:
    """The sighting's group keys (see the module), most specific first."""
    location: Mapping[str, Any] = sighting.location
    source = SightingSource(sighting.source)
    found: list[tuple[str, object]] = [("url", location.get("url"))]
    if source == SightingSource.DUMP:
        found.append(("file", sighting.evidence_sha256))
    found += [
        ("file", location.get("file_sha256")),
        ("file", location.get("attachment_sha256")),
        ("phone", phone_key(location.get("from"))),
        ("phone", phone_key(location.get("phone_number"))),
        ("merchant", location.get("merchant_id")),
        ("sender", location.get("sender_id")),
    ]
    if source in (SightingSource.SMS, SightingSource.CALL):
        found.append(("template", text_template(sighting.excerpt, canary_name)))
        found.append(("line", phone_key(location.get("to"))))
    if "report_kind" in location:
        found.append(("report", location.get("source_id")))
    keys = list(dict.fromkeys(f"{kind}:{value}" for kind, value in found if value))
    if not keys:
        keys = [f"source:{source}:{location.get('source_id') or sighting.dedup_key}"]
    if partner_reported(sighting):
        keys = [PARTNER_KEYS + key for key in keys]
    return keys


def partner_reported(sighting: Sighting) -> bool:
    """Filed by a partner key: such sightings group only among themselves, into incidents no
    partner sees, so that reporting never tells a partner which records were canaries: it
    never opens an incident the partner sees, nor changes one (rule 3)."""
    return sighting.location.get("reporter_role") == PARTNER_ROLE


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def title_for(keys: list[str], control: bool, name: str | None = None) -> str:
    """The stored title (the API's and the CLI's; the pages render theirs per language from
    the parts, app.incidents.titles). A leaked file is named by its file name when known."""
    kind, _, value = keys[0].removeprefix(PARTNER_KEYS).partition(":")
    if kind == "file" and name:
        value = name
    title = f"{TITLES[kind]} {value}"
    if control:
        title = f"对照 / Control: {title}"
    return title[:200]


def canary_names(session: Session, sightings: Iterable[Sighting]) -> dict[uuid.UUID, str]:
    """The names of the canaries behind messages and calls (for their text templates)."""
    ids = {s.canary_id for s in sightings if s.source in (SightingSource.SMS, SightingSource.CALL)}
    if not ids:
        return {}
    rows = session.exec(select(Canary.id, Canary.name).where(col(Canary.id).in_(ids))).all()
    return dict(rows)


def sighting_profile(sighting: Sighting, keys: list[str]) -> SightingProfile:
    """What the grouping rules (attribution.grouping) take of a sighting: its keys hashed,
    as incidents keep theirs."""
    return SightingProfile(
        id=sighting.id,
        canary_id=sighting.canary_id,
        link_id=None if sighting.control else sighting.link_id,
        observed_at=sighting.observed_at,
        channel=Channel(sighting.source),
        keys=frozenset(key_sha256(k) for k in keys),
        score=sighting.score,
    )


def keep_profile(incident: Incident, merged: IncidentProfile, partner: bool) -> None:
    """Store what grouping needs of the incident until its next sighting."""
    stored = StoredProfile.of(merged)
    incident.profile = {
        "canaries": sorted(map(str, stored.canaries)),
        "strong_at": sorted(map(str, stored.strong_at)),
        "weak_at": sorted(map(str, stored.weak_at)),
        "strong": stored.strong,
        "first_seen": stored.first_seen.isoformat(),
        "last_seen": stored.last_seen.isoformat(),
        "channels": sorted(stored.channels),
        "partner": partner,
    }


def _stored(profile: dict[str, Any]) -> StoredProfile:
    def ids(name: str) -> frozenset[uuid.UUID]:
        return frozenset(uuid.UUID(value) for value in profile[name])

    return StoredProfile(
        canaries=ids("canaries"),
        strong_at=ids("strong_at"),
        weak_at=ids("weak_at"),
        strong=int(profile["strong"]),
        first_seen=datetime.fromisoformat(profile["first_seen"]),
        last_seen=datetime.fromisoformat(profile["last_seen"]),
        channels=frozenset(Channel(c) for c in profile["channels"]),
    )


def apart_of(incident: Incident) -> frozenset[uuid.UUID]:
    return frozenset(uuid.UUID(value) for value in incident.apart or [])


def open_profiles(
    session: Session, tree: ExposureTree, since: datetime, until: datetime, partner: bool
) -> list[tuple[Incident, IncidentProfile]]:
    """The open incidents seen between `since` and `until`, of partner reports or of
    everything else (the two never mix: app.incidents.grouping.partner_reported), each with
    its profile; one missing (an incident from before profiles were kept) is rebuilt."""
    rows = session.exec(
        select(Incident).where(
            Incident.status == IncidentStatus.OPEN,
            col(Incident.merged_into_id).is_(None),
            col(Incident.first_seen_at) <= until,
            col(Incident.last_seen_at) >= since,
        )
    ).all()
    if not rows:
        return []
    keys: dict[uuid.UUID, set[str]] = {}
    held = select(IncidentKey.incident_id, IncidentKey.key_sha256).where(
        col(IncidentKey.incident_id).in_([row.id for row in rows])
    )
    for incident_id, digest in session.exec(held):
        keys.setdefault(incident_id, set()).add(digest)
    found = []
    for row in rows:
        if row.profile is None:
            rebuilt = rebuild_profile(session, row, tree)
            if rebuilt is None:
                continue
        assert row.profile is not None  # noqa: S101 (rebuild_profile stored it)
        if bool(row.profile.get("partner")) != partner:
            continue
        mine = frozenset(keys.get(row.id, ()))
        found.append((row, restore(row.id, _stored(row.profile), mine, apart_of(row), tree)))
    return found


def rebuild_profile(
    session: Session, incident: Incident, tree: ExposureTree
) -> IncidentProfile | None:
    """The incident's profile from its sightings (after a merge or a split, or for an
    incident from before profiles were kept), stored on it; None when it holds none."""
    sightings = incident_sightings(session, incident.id)
    if not sightings:
        incident.profile = None
        return None
    names = canary_names(session, sightings)
    rebuilt = profile(
        [sighting_profile(s, source_keys(s, names.get(s.canary_id))) for s in sightings],
        tree,
        incident.id,
        apart_of(incident),
    )
    keep_profile(incident, rebuilt, any(partner_reported(s) for s in sightings))
    session.add(incident)
    return rebuilt


def open_incident(sighting: Sighting, keys: list[str]) -> Incident:
    now = utcnow()
    return Incident(
        title=title_for(keys, sighting.control, file_name(sighting.location)),
        first_seen_at=sighting.observed_at,
        last_seen_at=sighting.observed_at,
        created_at=now,
        updated_at=now,
    )


def attach(session: Session, incident: Incident, sighting: Sighting, keys: list[str]) -> None:
    """Make the sighting the incident's, with its keys and times."""
    session.add(IncidentSighting(sighting_id=sighting.id, incident_id=incident.id))
    known = set(
        session.exec(
            select(IncidentKey.key_sha256).where(IncidentKey.incident_id == incident.id)
        ).all()
    )
    for key in keys:
        digest = key_sha256(key)
        if digest not in known:
            known.add(digest)
            session.add(IncidentKey(incident_id=incident.id, key_sha256=digest))
    shown = list(dict.fromkeys([*incident.keys, *(k[:300] for k in keys)]))
    incident.keys = shown[:SHOWN_KEYS]
    incident.first_seen_at = min(incident.first_seen_at, sighting.observed_at)
    incident.last_seen_at = max(incident.last_seen_at, sighting.observed_at)
    incident.sighting_count += 1
    incident.control = incident.control or sighting.control
    session.add(incident)
    session.flush()


def incident_sightings(session: Session, incident_id: uuid.UUID) -> list[Sighting]:
    query = (
        select(Sighting)
        .join(IncidentSighting, col(IncidentSighting.sighting_id) == col(Sighting.id))
        .where(IncidentSighting.incident_id == incident_id)
        .order_by(col(Sighting.observed_at), col(Sighting.id))
    )
    return list(session.exec(query).all())


def regroup(session: Session, incident: Incident) -> list[Sighting]:
    """After a merge or a split: the incident's keys, times and counts from its sightings
    as they now are (its grouping profile is rebuilt when next needed); its sightings."""
    sightings = incident_sightings(session, incident.id)
    session.exec(delete(IncidentKey).where(col(IncidentKey.incident_id) == incident.id))
    incident.keys = []
    incident.sighting_count = 0
    incident.control = False
    incident.profile = None
    if sightings:
        incident.first_seen_at = min(s.observed_at for s in sightings)
        incident.last_seen_at = max(s.observed_at for s in sightings)
    names = canary_names(session, sightings)
    digests: set[str] = set()
    shown: list[str] = []
    for sighting in sightings:
        keys = source_keys(sighting, names.get(sighting.canary_id))
        for key in keys:
            if key_sha256(key) not in digests:
                digests.add(key_sha256(key))
                session.add(IncidentKey(incident_id=incident.id, key_sha256=key_sha256(key)))
                shown.append(key[:300])
        incident.control = incident.control or sighting.control
    incident.keys = shown[:SHOWN_KEYS]
    incident.sighting_count = len(sightings)
    incident.updated_at = utcnow()
    session.add(incident)
    session.flush()
    return sightings
