"""What a process makes once (the database, the canary index, the evidence store, the job
queue, the crawler) and how routes receive it: as typed dependencies, never by reading the
app's state.

The FastAPI lifespan fills one `Resources` per app; a route names what it needs by type
(`DatabaseDep`, `IntakeDep`, each defined beside its class as
`Annotated[X, Depends(resource(X))]`). Jobs and CLI commands are handed the same objects
directly. This module is the only one that reads `app.state`.
"""

from collections.abc import Callable
from typing import Any, TypeVar, cast

from fastapi import FastAPI, Request

from app.problems import ServiceUnavailableError

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
