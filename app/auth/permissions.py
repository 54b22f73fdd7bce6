"""What each role may do. Routes ask for a permission, never for a role by name."""

from enum import StrEnum

from app.auth.actor import Actor
from app.models.keys import Role
from app.problems import ForbiddenError


class Permission(StrEnum):
    LINKS_READ = "links:read"
    LINKS_WRITE = "links:write"
    KEYS_MANAGE = "keys:manage"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"
    CANARIES_MINT = "canaries:mint"
    CANARIES_READ = "canaries:read"
    PROFILES_WRITE = "profiles:write"
    FEEDS = "feeds"
    # Matching leaked data against the canaries: trusted internal roles only (rule 3).
    SCANS = "scans"
    SIGHTINGS_REPORT = "sightings:report"
    SIGHTINGS_READ = "sightings:read"
    # Orders checked against the canaries as they are placed: the order platform only.
    SCREEN = "screen"
    NUMBERS_MANAGE = "numbers:manage"
    SITES_READ = "sites:read"
    SITES_MANAGE = "sites:manage"
    ALERTS_MANAGE = "alerts:manage"
    INCIDENTS_READ = "incidents:read"
    INCIDENTS_MANAGE = "incidents:manage"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SECURITY: frozenset(
        {
            Permission.LINKS_READ,
            Permission.LINKS_WRITE,
            Permission.CANARIES_MINT,
            Permission.CANARIES_READ,
            Permission.PROFILES_WRITE,
            Permission.SCANS,
            Permission.SIGHTINGS_REPORT,
            Permission.SIGHTINGS_READ,
            Permission.NUMBERS_MANAGE,
            Permission.SITES_READ,
            Permission.SITES_MANAGE,
            Permission.ALERTS_MANAGE,
            Permission.INCIDENTS_READ,
        }
    ),
    Role.INVESTIGATOR: frozenset(
        {
            Permission.LINKS_READ,
            Permission.CANARIES_READ,
            Permission.SCANS,
            Permission.SIGHTINGS_REPORT,
            Permission.SIGHTINGS_READ,
            Permission.SITES_READ,
            Permission.INCIDENTS_READ,
            Permission.INCIDENTS_MANAGE,
        }
    ),
    Role.INTEGRATION: frozenset({Permission.METRICS_READ, Permission.FEEDS, Permission.SCREEN}),
    # Partners act only inside their scope sub-tree (app.links.service enforces it) and see
    # only canaries they minted for links strictly below it (app.planting.service).
    Role.PARTNER: frozenset(
        {
            Permission.LINKS_READ,
            Permission.LINKS_WRITE,
            Permission.CANARIES_MINT,
            Permission.CANARIES_READ,
            # A partner may report what it saw, but is never told whether it matched.
            Permission.SIGHTINGS_REPORT,
            # Only incidents all of whose sightings are inside its scope (app.incidents.service).
            Permission.INCIDENTS_READ,
        }
    ),
}


# An integration key scoped to a link (app.auth.actor) uses that link's feeds and nothing
# else: not the screening of every order, nor the service's metrics.
FEED_SCOPED_PERMISSIONS = frozenset({Permission.FEEDS})


def granted(role: Role, *, feed_scoped: bool = False) -> frozenset[Permission]:
    """What a key of `role` may do; `feed_scoped` for an integration key scoped to a link."""
    permissions = ROLE_PERMISSIONS[role]
    return permissions & FEED_SCOPED_PERMISSIONS if feed_scoped else permissions


def roles_with(permission: Permission) -> frozenset[Role]:
    return frozenset(role for role, granted in ROLE_PERMISSIONS.items() if permission in granted)


def require(actor: Actor, permission: Permission) -> None:
    """ForbiddenError unless the actor's role grants `permission`: a route's guard, and a
    job's check that whoever started it still may (app.auth.keys.reauthorise)."""
    if permission not in granted(actor.role, feed_scoped=actor.feed_link_id is not None):
        if permission in granted(actor.role):
            raise ForbiddenError(
                f"A key scoped to one link's feeds may not do this ({permission})."
            )
        raise ForbiddenError(f"The {actor.role} role may not do this ({permission}).")
