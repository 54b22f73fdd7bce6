"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from sqlmodel import SQLModel

metadata = SQLModel.metadata

__all__ = [
    *("ApiKey", "AuditEntry", "Canary", "FeedProfile", "Link", "Plant", "Scan", "Sighting"),
    "metadata",
]
