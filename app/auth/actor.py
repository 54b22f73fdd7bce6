"""Who is acting: an API key over HTTP, or the operator at the CLI."""

import uuid
from dataclasses import dataclass

from app.models.keys import ApiKey, Role


@dataclass(frozen=True)
class Actor:
    key_id: uuid.UUID | None
    name: str
    role: Role
    scope_link_id: uuid.UUID | None = None
    # An integration key scoped to a link (an outlet's dispatch system) uses that link's
    # feeds and nothing else; partner scoping (scope_link_id) means something else.
    feed_link_id: uuid.UUID | None = None

    @classmethod
    def from_key(cls, key: ApiKey) -> "Actor":
        return cls.scoped(key.id, f"key:{key.prefix}", Role(key.role), key.scope_link_id)

    @classmethod
    def scoped(
        cls, key_id: uuid.UUID | None, name: str, role: Role, scope: uuid.UUID | None
    ) -> "Actor":
        """The actor of a key whose stored scope is `scope`: an integration key's scope is
        the one link whose feeds it may use, any other key's the sub-tree it acts in."""
        if role is Role.INTEGRATION:
            return cls(key_id, name, role, None, scope)
        return cls(key_id, name, role, scope)

    @classmethod
    def cli(cls) -> "Actor":
        """The operator at the CLI, who holds the database itself and so acts as admin."""
        return cls(None, "cli", Role.ADMIN)

    @classmethod
    def scheduler(cls) -> "Actor":
        """Jobs the service runs by itself on a schedule."""
        return cls(None, "scheduler", Role.ADMIN)

    @classmethod
    def matcher(cls) -> "Actor":
        """Burns the canaries that surfaced, whoever reported them (a partner may not see
        the canary it reported, nor learn from an error that it was one)."""
        return cls(None, "matcher", Role.ADMIN)

    @classmethod
    def webhook(cls, provider: str) -> "Actor":
        """A provider calling back with a verified signature."""
        return cls(None, f"webhook:{provider}", Role.ADMIN)

    @property
    def is_scoped(self) -> bool:
        return self.scope_link_id is not None

    def may_feed(self, link_id: uuid.UUID) -> bool:
        """The actor may use the feeds of `link_id` (if its role allows feeds at all)."""
        return self.feed_link_id is None or self.feed_link_id == link_id

    def to_json(self) -> dict[str, str | None]:
        """The actor as a job argument: whoever started a job is who it acts as."""
        return {
            "key_id": None if self.key_id is None else str(self.key_id),
            "name": self.name,
            "role": self.role.value,
            "scope_link_id": None if self.scope_link_id is None else str(self.scope_link_id),
            "feed_link_id": None if self.feed_link_id is None else str(self.feed_link_id),
        }

    @classmethod
    def from_json(cls, value: dict[str, str | None]) -> "Actor":
        key_id, name, role, scope = (value[k] for k in ("key_id", "name", "role", "scope_link_id"))
        if name is None or role is None:
            raise ValueError("a job's actor needs a name and a role")
        feed = value.get("feed_link_id")
        return cls(
            None if key_id is None else uuid.UUID(key_id),
            name,
            Role(role),
            None if scope is None else uuid.UUID(scope),
            None if feed is None else uuid.UUID(feed),
        )
