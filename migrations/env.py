"""Alembic environment: runs on a connection handed over by app.db, or on sqlalchemy.url."""

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from app.models import metadata

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    run(given)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from app.settings import get_settings

        url = get_settings().database_url
    engine = create_engine(url)
    with engine.begin() as connection:
        run(connection)
    engine.dispose()
