"""An incident's title, rendered in each language from its parts: the kind of its first
group key (a listing, a leaked file, a phone number, ...), the value, and whether a control
canary is among its sightings. A leaked file is named by its file name, not its sha256.

The words are the glossary's (app.web.i18n): a listing is 数据交易帖, never 清单.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath

from sqlmodel import Session, col, select

from app.models.incidents import Incident, IncidentSighting
from app.models.sightings import Sighting

PARTNER_KEYS = "partner|"
# The words before the value, by the kind of group key (app.incidents.grouping).
KINDS: dict[str, dict[str, str]] = {
    "url": {"zh": "数据交易帖", "en": "Listing"},
    "file": {"zh": "泄露文件", "en": "Leaked file"},
    "phone": {"zh": "来电和短信，来自", "en": "Calls and SMS from"},
    "line": {"zh": "来电和短信，打到诱饵号码", "en": "Calls and SMS to"},
    "template": {"zh": "短信模板", "en": "Message template"},
    "merchant": {"zh": "刷单订单，商家", "en": "Brushing orders, merchant"},
    "sender": {"zh": "刷单订单，发件人", "en": "Brushing orders, sender"},
    "report": {"zh": "举报", "en": "Report"},
    "source": {"zh": "来源", "en": "Source"},
}
CONTROL = {"zh": "对照", "en": "Control"}
SHA256_CHARS = 64
NAME_LOOKUP_ROWS = 50


@dataclass(frozen=True)
class Title:
    kind: str
    value: str
    control: bool

    def text(self, lang: str) -> str:
        words = KINDS.get(self.kind, KINDS["source"])[lang]
        separator = "：" if lang == "zh" else ": "
        title = f"{words}{separator}{self.value}"
        if self.control:
            title = f"{CONTROL[lang]}{separator}{title}"
        return title


def key_parts(key: str) -> tuple[str, str]:
    kind, _, value = key.removeprefix(PARTNER_KEYS).partition(":")
    return kind, value


def file_name(location: Mapping[str, object]) -> str | None:
    """The file name (no folders) a sighting's location gives, if any."""
    name = location.get("file")
    if not isinstance(name, str) or not name:
        return None
    return PurePath(name.replace("\\", "/")).name or None


def _named_file(session: Session, incident_id: uuid.UUID, digest: str) -> str | None:
    rows = session.exec(
        select(Sighting.location, Sighting.evidence_sha256)
        .join(IncidentSighting, col(IncidentSighting.sighting_id) == col(Sighting.id))
        .where(IncidentSighting.incident_id == incident_id)
        .order_by(col(Sighting.observed_at))
        .limit(NAME_LOOKUP_ROWS)
    ).all()
    for location, evidence in rows:
        if digest in (evidence, location.get("file_sha256"), location.get("attachment_sha256")):
            name = file_name(location)
            if name:
                return name
    return None


def titles(session: Session, incidents: Iterable[Incident]) -> dict[uuid.UUID, Title]:
    """Each incident's title parts; a leaked file's name read from its sightings."""
    found: dict[uuid.UUID, Title] = {}
    for incident in incidents:
        if not incident.keys:
            found[incident.id] = Title("source", incident.title, incident.control)
            continue
        kind, value = key_parts(incident.keys[0])
        if kind == "file" and len(value) == SHA256_CHARS:
            value = _named_file(session, incident.id, value) or f"sha256 {value[:12]}…"
        found[incident.id] = Title(kind, value, incident.control)
    return found
