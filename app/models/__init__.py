"""The schema: every table, one module per domain, below every domain's code.

Tables are one layer of their own (as in Polar's `models/` package): attribution reads plants,
links and sightings, the coverage report reads canaries and incidents, link deletion asks
whether canaries are planted there. With the tables kept inside each domain's package those
reads ran back up the layers; here any domain may read any table. Imported together here so
Alembic and the tests see the whole schema.
"""

from sqlmodel import SQLModel

from app.models.alerts import AlertDelivery, AlertSubscription, AlertThrottle
from app.models.audit import AuditEntry
from app.models.canaries import Canary, FeedProfile, MintJob, Plant
from app.models.evidence import EvidenceEntry
from app.models.incidents import Incident, IncidentCandidate, IncidentKey, IncidentSighting
from app.models.keys import ApiKey
from app.models.links import Link, LinkReader
from app.models.sightings import Scan, Sighting
from app.models.sites import Site, SiteListing
from app.models.telephony import PhoneAssignment, PhoneContact, PhoneNumber
from app.models.web import WebSession

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
    "MintJob",
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
