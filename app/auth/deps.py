"""Who is calling: the bearer key, and the permission guards route signatures name.

Route signatures name their caller by permission, e.g. `actor: LinkWriter`. Authentication
reads in a session of its own, ended before the route runs; a key's last-used time is
written in a short unit of work of its own, once a minute at most.
"""

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.actor import Actor
from app.auth.keys import authenticate, touch_key
from app.auth.permissions import Permission, require
from app.problems import UnauthorizedError
from app.resources import DatabaseDep

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ht_...`")


def current_actor(
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None:
        raise UnauthorizedError("A valid API key is required.")
    with database.read() as session:
        key = authenticate(session, credentials.credentials)
    if key.stale_use():
        with database.write() as session:
            touch_key(session, key.id)
    return Actor.from_key(key)


class PermissionGuard:
    """Lets through only callers whose role grants `permission`."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        require(actor, self.permission)
        return actor


LinkReader = Annotated[Actor, Depends(PermissionGuard(Permission.LINKS_READ))]
LinkWriter = Annotated[Actor, Depends(PermissionGuard(Permission.LINKS_WRITE))]
KeyAdmin = Annotated[Actor, Depends(PermissionGuard(Permission.KEYS_MANAGE))]
AuditReader = Annotated[Actor, Depends(PermissionGuard(Permission.AUDIT_READ))]
MetricsReader = Annotated[Actor, Depends(PermissionGuard(Permission.METRICS_READ))]
CanaryMinter = Annotated[Actor, Depends(PermissionGuard(Permission.CANARIES_MINT))]
CanaryReader = Annotated[Actor, Depends(PermissionGuard(Permission.CANARIES_READ))]
ProfileWriter = Annotated[Actor, Depends(PermissionGuard(Permission.PROFILES_WRITE))]
FeedClient = Annotated[Actor, Depends(PermissionGuard(Permission.FEEDS))]
Scanner = Annotated[Actor, Depends(PermissionGuard(Permission.SCANS))]
SightingReporter = Annotated[Actor, Depends(PermissionGuard(Permission.SIGHTINGS_REPORT))]
SightingReader = Annotated[Actor, Depends(PermissionGuard(Permission.SIGHTINGS_READ))]
OrderScreener = Annotated[Actor, Depends(PermissionGuard(Permission.SCREEN))]
NumberManager = Annotated[Actor, Depends(PermissionGuard(Permission.NUMBERS_MANAGE))]
SiteReader = Annotated[Actor, Depends(PermissionGuard(Permission.SITES_READ))]
SiteManager = Annotated[Actor, Depends(PermissionGuard(Permission.SITES_MANAGE))]
AlertManager = Annotated[Actor, Depends(PermissionGuard(Permission.ALERTS_MANAGE))]
IncidentReader = Annotated[Actor, Depends(PermissionGuard(Permission.INCIDENTS_READ))]
IncidentManager = Annotated[Actor, Depends(PermissionGuard(Permission.INCIDENTS_MANAGE))]
