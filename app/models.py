"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from sqlmodel import SQLModel

from app.alerts.models import AlertDelivery, AlertSubscription, AlertThrottle
from app.audit.models import AuditEntry
from app.auth.models import ApiKey
from app.evidence.models import EvidenceEntry
from app.incidents.models import Incident, IncidentCandidate, IncidentKey, IncidentSighting
from app.links.models import Link, LinkReader
from app.planting.models import Canary, FeedProfile, Plant
from app.sightings.models import Scan, Sighting
from app.sites.models import Site, SiteListing
from app.telephony.models import PhoneAssignment, PhoneContact, PhoneNumber
from app.web.models import WebSession

metadata = SQLModel.metadata

__all__ = [
    "AlertDelivery",
    "AlertSubscription",
    "AlertThrottle",
    "ApiKey",
    "AuditEntry",
    "Canary",
    "EvidenceEntry",
    "FeedProfile",
    "Incident",
    "IncidentCandidate",
    "IncidentKey",
    "IncidentSighting",
    "Link",
    "LinkReader",
    "PhoneAssignment",
    "PhoneContact",
    "PhoneNumber",
    "Plant",
    "Scan",
    "Sighting",
    "Site",
    "SiteListing",
    "WebSession",
    "metadata",
]
