"""What each role may do. Routes ask for a permission, never for a role by name."""

from enum import StrEnum

from app.auth.models import Role


class Permission(StrEnum):
    LINKS_READ = "links:read"
    LINKS_WRITE = "links:write"
    KEYS_MANAGE = "keys:manage"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SECURITY: frozenset({Permission.LINKS_READ, Permission.LINKS_WRITE}),
    Role.INVESTIGATOR: frozenset({Permission.LINKS_READ}),
    Role.INTEGRATION: frozenset({Permission.METRICS_READ}),
    # Partners act only inside their scope sub-tree; app.links.service enforces the scope.
    Role.PARTNER: frozenset({Permission.LINKS_READ, Permission.LINKS_WRITE}),
}


def roles_with(permission: Permission) -> frozenset[Role]:
    return frozenset(role for role, granted in ROLE_PERMISSIONS.items() if permission in granted)
