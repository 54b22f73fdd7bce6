"""Request dependencies: the session (committed when the route returns) and who is calling.

Route signatures name their caller by permission, e.g. `actor: LinkWriter`.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.keys import authenticate
from app.auth.permissions import ROLE_PERMISSIONS, Permission
from app.db import unit_of_work
from app.incidents.refresh import RefreshLater, refresh_later
from app.problems import ForbiddenError, UnauthorizedError
from app.settings import Settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def refresh_in_request_jobs(request: Request, session: Session) -> Session:
    """Incidents that the session's sightings touch get their attribution recomputed by a
    job when the app has a job queue (its lifespan made one), not inside the request
    (app.incidents.refresh)."""
    later: RefreshLater | None = getattr(request.app.state, "refresh_later", None)
    if later is not None:
        refresh_later(session, later)
    return session


def get_session(
    request: Request, engine: Annotated[Engine, Depends(get_engine)]
) -> Iterator[Session]:
    """One unit of work per request: commit when the route returns, roll back if it raises."""
    with Session(unit_of_work(engine), expire_on_commit=False) as session:
        refresh_in_request_jobs(request, session)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ht_...`")


def current_actor(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None:
        raise UnauthorizedError("A valid API key is required.")
    return Actor.from_key(authenticate(session, credentials.credentials))


class PermissionGuard:
    """Lets through only callers whose role grants `permission`."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if self.permission not in ROLE_PERMISSIONS[actor.role]:
            raise ForbiddenError(f"The {actor.role} role may not do this ({self.permission}).")
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
