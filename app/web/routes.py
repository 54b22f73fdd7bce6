"""The investigator pages: thin routes over app.web.pages and app.coverage, rendered by Jinja2.

Pages answer to a session cookie (app.web.signin), not to a bearer key, so they live outside
the OpenAPI schema and outside app.main.ROUTERS; every page but the sign-in form requires a
session and sends the browser to sign in without one. Every POST carries a CSRF token.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context as JinjaContext
from sqlmodel import Session
from starlette.background import BackgroundTask

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.auth.keys import authenticate
from app.coverage.report import coverage_csv, coverage_report, coverage_summary
from app.db import utcnow
from app.evidence.deps import EvidenceDep
from app.identifiers import AmbiguousError, UnidentifiedError, resolve_incident
from app.incidents.schemas import MAX_IDS
from app.incidents.service import close_incident, merge_incidents, split_incident
from app.localtime import shown
from app.models.keys import ApiKey, Role
from app.problems import ConflictError, InvalidError, NotFoundError, UnauthorizedError
from app.resources import ReadSession, SettingsDep, WriteSession
from app.settings import Settings
from app.web import chart, incidents, pages
from app.web.i18n import LANG_COOKIE, LANGUAGES, language, requested_language, translator
from app.web.signin import (
    PRESESSION_COOKIE,
    PRESESSION_LIFETIME,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    WEB_ROLES,
    PageActor,
    SignInRequiredError,
    csrf_token,
    csrf_valid,
    end_session,
    new_presession,
    safe_next,
    signed_in_key,
    start_session,
)

HERE = Path(__file__).parent
STATIC = HERE / "static"
SECURITY_HEADERS = {
    # Everything from this origin only: no inline script or style, no framing, no plugins.
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # Pages carry investigation data and CSRF tokens: never kept by a browser or a proxy.
    "Cache-Control": "no-store",
}
# Evidence is attacker-controlled (a listing page, an SMS): downloaded, never rendered here.
DOWNLOAD_HEADERS = SECURITY_HEADERS | {"Content-Security-Policy": "default-src 'none'; sandbox"}
_PRESESSION = re.compile(r"^[A-Za-z0-9_-]{43}$")


@pass_context
def _when(context: JinjaContext, moment: datetime) -> str:
    """A time as people read it, in the configured zone (HONEYTRACE_TIME_ZONE)."""
    zone: ZoneInfo = context["zone"]
    return shown(moment, zone)


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = _when

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _secure(request: Request, settings: Settings) -> bool:
    """Cookies are Secure when the page is served over HTTPS (directly or behind a proxy)."""
    return request.url.scheme == "https" or settings.public_url.startswith("https://")


def render(
    request: Request,
    settings: Settings,
    template: str,
    *,
    status: int = 200,
    actor: Actor | None = None,
    csrf: str | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    # Links to this same page in each language, its other query parameters kept.
    params = dict(request.query_params)
    switches = {
        code: f"{request.url.path}?{urlencode(params | {'lang': code})}" for code in LANGUAGES
    }
    html = templates.get_template(template).render(
        t=translator(lang),
        key_name=getattr(request.state, "key_name", None),
        lang=lang,
        switches=switches,
        path=request.url.path,
        actor=actor,
        csrf=csrf,
        zone=settings.zone,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if requested_language(request):
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=_secure(request, settings),
        )
    return response


@dataclass(frozen=True)
class PageContext:
    """A signed-in request, able to render a page with the sign-out form's CSRF token."""

    request: Request
    settings: Settings
    actor: Actor

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        csrf = csrf_token(self.settings, self.request.cookies.get(SESSION_COOKIE, ""))
        return render(
            self.request,
            self.settings,
            template,
            status=status,
            actor=self.actor,
            csrf=csrf,
            **context,
        )

    def csrf_ok(self, presented: str) -> bool:
        return csrf_valid(self.settings, self.request.cookies.get(SESSION_COOKIE), presented)

    def not_found(self) -> HTMLResponse:
        return self.render(
            "error.html", status=404, title="error.not_found", message="error.not_found_detail"
        )


def _page(request: Request, settings: SettingsDep, actor: PageActor) -> PageContext:
    return PageContext(request, settings, actor)


PageDep = Annotated[PageContext, Depends(_page)]


def _redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=SECURITY_HEADERS)


def _refused(request: Request, settings: Settings) -> HTMLResponse:
    return render(
        request, settings, "error.html", status=403, title="error.forbidden", message="error.csrf"
    )


@router.get("/signin")
def signin_form(
    request: Request,
    session: ReadSession,
    settings: SettingsDep,
    next_path: Annotated[str, Query(alias="next")] = "/",
) -> Response:
    if signed_in_key(session, settings, request.cookies.get(SESSION_COOKIE)) is not None:
        return _redirect(safe_next(next_path))
    return _signin_page(request, settings, safe_next(next_path))


def _signin_page(
    request: Request,
    settings: Settings,
    next_path: str,
    *,
    status: int = 200,
    error: str | None = None,
    role: Role | None = None,
) -> HTMLResponse:
    presession = request.cookies.get(PRESESSION_COOKIE, "")
    if not _PRESESSION.match(presession):
        presession = new_presession()
    response = render(
        request,
        settings,
        "signin.html",
        status=status,
        csrf=csrf_token(settings, presession),
        next_path=next_path,
        error=error,
        refused_role=role,
    )
    response.set_cookie(
        PRESESSION_COOKIE,
        presession,
        max_age=int(PRESESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings),
    )
    return response


@router.post("/signin")
def signin(
    request: Request,
    session: WriteSession,
    settings: SettingsDep,
    api_key: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """Check the key as a bearer key would be; the session cookie names it, never holds it."""
    if not csrf_valid(settings, request.cookies.get(PRESESSION_COOKIE), csrf):
        return _refused(request, settings)
    next_path = safe_next(next_path)
    try:
        key = authenticate(session, api_key.strip())
    except UnauthorizedError:
        return _signin_page(request, settings, next_path, status=401, error="signin.invalid")
    actor = Actor.from_key(key)
    if actor.role not in WEB_ROLES:
        record_audit(session, actor, "web.signin.refused", "api_key", key.id)
        return _signin_page(
            request, settings, next_path, status=403, error="signin.refused_role", role=actor.role
        )
    record_audit(session, actor, "web.signin", "api_key", key.id)
    response = _redirect(next_path)
    response.set_cookie(
        SESSION_COOKIE,
        start_session(session, settings, key.id, utcnow()),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings),
    )
    response.delete_cookie(PRESESSION_COOKIE, httponly=True, samesite="strict")
    return response


@router.post("/signout")
def signout(
    request: Request,
    session: WriteSession,
    settings: SettingsDep,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """End the session on the server, so a copied cookie is no good either; then forget it."""
    token = request.cookies.get(SESSION_COOKIE)
    if not csrf_valid(settings, token, csrf):
        return _refused(request, settings)
    ended = end_session(session, settings, token, utcnow())
    key = session.get(ApiKey, ended.key_id) if ended is not None else None
    if key is not None:
        record_audit(session, Actor.from_key(key), "web.signout", "api_key", key.id)
    response = _redirect("/signin")
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


@router.get("/")
def dashboard(session: ReadSession, page: PageDep) -> HTMLResponse:
    return page.render(
        "dashboard.html",
        incidents=pages.open_incidents(session),
        sightings=pages.recent_sightings(session),
        coverage=coverage_summary(session),
        burned=pages.burned_canaries(session),
        trend=chart.chart(chart.recent_days(session, page.settings.zone, utcnow())),
    )


PageNumber = Annotated[str, Query(max_length=12)]


def _page_number(asked: str) -> int:
    """A page number from the query; anything else is the first page, not an error page."""
    return int(asked) if asked.isdecimal() and 0 < int(asked) < 10**9 else 1


def _uuid(text: str) -> uuid.UUID:
    """An ID from a page's path; a malformed one is not found (an HTML 404 page, not a JSON
    validation error)."""
    try:
        return uuid.UUID(text[:64])
    except ValueError:
        raise NotFoundError("No such record.") from None


@router.get("/links/{link_ref}")
def link_page(
    session: ReadSession,
    page: PageDep,
    link_ref: str,
    live: PageNumber = "1",
    burned: PageNumber = "1",
) -> HTMLResponse:
    """A link, its canaries a page of pages.PAGE_ROWS at a time (`?live=` and `?burned=`
    page each list)."""
    try:
        link_id = _uuid(link_ref)
        view = pages.link_view(
            session, page.actor, link_id, _page_number(live), _page_number(burned)
        )
    except NotFoundError:
        return page.not_found()
    return page.render("link.html", view=view)


@router.get("/canaries/{canary_ref}")
def canary_page(session: ReadSession, page: PageDep, canary_ref: str) -> HTMLResponse:
    try:
        view = pages.canary_view(session, page.actor, _uuid(canary_ref))
    except NotFoundError:
        return page.not_found()
    return page.render("canary.html", view=view)


@router.get("/watchers")
def watchers_page(session: ReadSession, page: PageDep) -> HTMLResponse:
    return page.render("watchers.html", status_view=pages.watcher_status(session))


@router.get("/coverage")
def coverage_page(session: ReadSession, page: PageDep) -> HTMLResponse:
    report = coverage_report(session)
    untested = sum(1 for row in report if row.never_tested)
    return page.render("coverage.html", report=report, untested=untested)


@router.get("/coverage.csv")
def coverage_download(session: ReadSession, _actor: PageActor) -> Response:
    # A byte-order mark, so spreadsheet programs read the Chinese names as UTF-8.
    body = "\ufeff" + coverage_csv(coverage_report(session))
    name = f"honeytrace-coverage-{utcnow():%Y%m%d}.csv"
    headers = SECURITY_HEADERS | {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body.encode(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/incidents")
def incidents_page(session: ReadSession, page: PageDep) -> HTMLResponse:
    return page.render("incidents.html", rows=incidents.incident_rows(session, page.actor))


@router.get("/incidents/{incident_ref}")
def incident_page(
    session: ReadSession, page: PageDep, store: EvidenceDep, incident_ref: str
) -> Response:
    """An incident by its full ID or a unique prefix (the short ID the pages print); a full
    ID is where a prefix redirects, so each incident has one address."""
    try:
        incident_id = resolve_incident(session, incident_ref[:64])
    except AmbiguousError:
        return page.render(
            "error.html", status=404, title="error.not_found", message="error.ambiguous_id"
        )
    except UnidentifiedError:
        return page.not_found()
    if incident_ref != str(incident_id):
        return _redirect(f"/incidents/{incident_id}")
    try:
        view = incidents.incident_view(session, page.actor, store, incident_id, page.settings.zone)
    except NotFoundError:
        return page.not_found()
    return page.render("incident.html", view=view)


IdList = Annotated[list[uuid.UUID], Form(max_length=MAX_IDS)]


def _change_incident(
    session: Session,
    page: PageContext,
    csrf: str,
    change: Callable[[], uuid.UUID],
) -> Response:
    """An investigator's merge, split or close, from a form: CSRF-checked, permitted to
    incidents:manage only; then on to the incident it leaves to look at."""
    if not page.csrf_ok(csrf):
        return _refused(page.request, page.settings)
    if not incidents.may_manage(page.actor):
        return page.render(
            "error.html", status=403, title="error.forbidden", message="incident.manage_refused"
        )
    try:
        shown = change()
    except NotFoundError:
        session.rollback()
        return page.not_found()
    except (ConflictError, InvalidError):
        session.rollback()
        return page.render(
            "error.html", status=409, title="error.forbidden", message="incident.change_failed"
        )
    return _redirect(f"/incidents/{shown}")


@router.post("/incidents/{incident_id}/close")
def incident_close(
    session: WriteSession,
    page: PageDep,
    incident_id: uuid.UUID,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    def close() -> uuid.UUID:
        return close_incident(session, page.actor, incident_id).id

    return _change_incident(session, page, csrf, close)


@router.post("/incidents/{incident_id}/merge")
def incident_merge(
    session: WriteSession,
    page: PageDep,
    incident_id: uuid.UUID,
    incident_ids: IdList,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    def merge() -> uuid.UUID:
        zone = page.settings.zone
        return merge_incidents(session, page.actor, incident_id, incident_ids, zone).incident.id

    return _change_incident(session, page, csrf, merge)


@router.post("/incidents/{incident_id}/split")
def incident_split(
    session: WriteSession,
    page: PageDep,
    incident_id: uuid.UUID,
    sighting_ids: IdList,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    def split() -> uuid.UUID:
        zone = page.settings.zone
        return split_incident(session, page.actor, incident_id, sighting_ids, zone).others[0].id

    return _change_incident(session, page, csrf, split)


@router.get("/incidents/{incident_id}/bundle", response_model=None)
def incident_bundle(
    session: WriteSession, page: PageDep, store: EvidenceDep, incident_id: uuid.UUID
) -> FileResponse | HTMLResponse:
    """The evidence bundle the API gives (app.incidents.bundle), under the page session."""
    try:
        incident, path = incidents.bundle_file(
            session, page.actor, store, incident_id, page.settings.zone
        )
    except NotFoundError:
        return page.not_found()
    record_audit(session, page.actor, "incident.bundle", "incident", incident.id, {"web": True})
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"incident-{incident.id}.zip",
        headers=DOWNLOAD_HEADERS,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get("/evidence/{digest}", response_model=None)
def evidence_download(
    session: WriteSession, page: PageDep, store: EvidenceDep, digest: str
) -> FileResponse | HTMLResponse:
    """A kept evidence blob, as an attachment of no particular type: a snapshot of a
    listing page must never run as this site's HTML. Its file name carries the extension of
    the media type it was kept as, so it opens in the right program once saved."""
    try:
        path, name = incidents.evidence_blob(session, page.actor, store, digest)
    except NotFoundError:
        return page.not_found()
    record_audit(session, page.actor, "evidence.download", "evidence", None, {"sha256": digest})
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=name,
        headers=DOWNLOAD_HEADERS,
    )


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    exc = cast(SignInRequiredError, exc)
    target = "/signin" if exc.next_path == "/" else f"/signin?next={quote(exc.next_path)}"
    response = _redirect(target)
    if SESSION_COOKIE in request.cookies:  # ended, expired, forged or revoked: forget it
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
    return response


def install_web(app: FastAPI) -> None:
    """The pages, their stylesheet, and the redirect to sign in."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInRequiredError, _sign_in_first)
