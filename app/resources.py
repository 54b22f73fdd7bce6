"""What a process makes once (the database, the canary index, the evidence store, the job
queue, the crawler) and how routes receive it: as typed dependencies, never by reading the
app's state.

The FastAPI lifespan fills one `Resources` per app; a route names what it needs by type
(`DatabaseDep`, `IntakeDep`: `Annotated[X, Depends(resource(X))]`). Jobs and CLI commands are
handed the same objects directly. This module is the only one that reads `app.state`.

The aliases live where only routes import them: here for the database, its sessions, the
settings and the job queue, and in a package's `deps` module for what the package makes
(app.evidence.deps, app.intake.deps, app.sites.deps). The modules that define the classes
never import FastAPI, so a CLI command that uses them does not pay for it
(tests/test_cli_startup.py).
"""

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, FastAPI, Request
from sqlmodel import Session

from app.db import Database
from app.problems import ServiceUnavailableError
from app.queueing.jobs import JobQueue
from app.settings import Settings

T = TypeVar("T")


class Resources:
    """The process's shared objects, keyed by the type routes ask them by."""

    def __init__(self) -> None:
        self._held: dict[type, object] = {}

    def provide(self, kind: type[T], thing: T) -> T:
        self._held[kind] = thing
        return thing

    def get(self, kind: type[T]) -> T:
        thing = self._held.get(kind)
        if thing is None:
            raise ServiceUnavailableError(
                f"This service was started without a {kind.__name__}; it cannot do this."
            )
        return cast(T, thing)

    def find(self, kind: type[T]) -> T | None:
        return cast(T | None, self._held.get(kind))


def app_resources(app: FastAPI) -> Resources:
    """The app's resources (made by `install_resources`)."""
    held: Resources = app.state.resources
    return held


def install_resources(app: FastAPI) -> Resources:
    app.state.resources = held = Resources()
    return held


_getters: dict[type, Callable[[Request], Any]] = {}


def resource(kind: type[T]) -> Callable[[Request], T]:
    """A dependency that hands a route the app's `kind` (one function per kind, so a test
    may override it)."""
    getter = _getters.get(kind)
    if getter is None:

        def get(request: Request) -> Any:
            return app_resources(request.app).get(kind)

        get.__name__ = f"{kind.__name__.lower()}_resource"
        getter = _getters[kind] = get
    return cast(Callable[[Request], T], getter)


DatabaseDep = Annotated[Database, Depends(resource(Database))]
SettingsDep = Annotated[Settings, Depends(resource(Settings))]
JobsDep = Annotated[JobQueue, Depends(resource(JobQueue))]


def read_session(database: DatabaseDep) -> Iterator[Session]:
    with database.read() as session:
        yield session


def write_session(database: DatabaseDep) -> Iterator[Session]:
    with database.write() as session:
        yield session


# A route's signature says whether it writes: `ReadSession` reads and never commits;
# `WriteSession` is the request's unit of work, committed when the route returns (before
# the response is sent) and rolled back if it raises.
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]
