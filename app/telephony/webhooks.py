"""Twilio's webhooks: scam calls and SMS to pool numbers.

Each request must carry a valid `X-Twilio-Signature` over `HONEYTRACE_PUBLIC_URL` + path and
the posted form, checked with the twilio library's `RequestValidator` (a constant-time
comparison); a missing or forged one gets 403 and an audit entry. Deliveries are idempotent
by CallSid / MessageSid. Voice answers with TwiML: the greeting, a recording with a
transcription, hang up; SMS with an empty response.
"""

from typing import Annotated
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import session_scope
from app.deps import refresh_in_request_jobs
from app.evidence.store import EvidenceStore
from app.problems import ForbiddenError, InvalidError, ServiceUnavailableError, field_error
from app.settings import Settings
from app.sightings.index import IndexHolder
from app.telephony.contacts import contact_by_sid, record_contact
from watchers.observations import SourceKind

router = APIRouter(prefix="/v1/webhooks/twilio", tags=["webhooks"])
PROVIDER = "twilio"
FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class SignedForm:
    """The posted form, once its Twilio signature checks out."""

    def __init__(self, params: dict[str, str], raw: bytes) -> None:
        self.params = params
        self.raw = raw

    def require(self, *names: str) -> list[str]:
        missing = [n for n in names if not self.params.get(n)]
        if missing:
            raise InvalidError(
                "The webhook lacks required fields.",
                errors=[field_error(n, "required") for n in missing],
            )
        return [self.params[n] for n in names]


async def signed_form(request: Request) -> SignedForm:
    settings: Settings = request.app.state.settings
    token = settings.twilio_auth_token.get_secret_value()
    if not token:
        raise ServiceUnavailableError("Twilio webhooks are not configured on this service.")
    raw = await request.body()
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(token).validate(url, params, signature):
        await run_in_threadpool(_audit_refusal, request.app.state.engine, request.url.path)
        raise ForbiddenError("The request's Twilio signature does not verify.")
    return SignedForm(params, raw)


def _audit_refusal(engine: Engine, path: str) -> None:
    with session_scope(engine) as session:
        record_audit(session, Actor.webhook(PROVIDER), "webhook.refused", "webhook", None,
                     {"path": path, "reason": "signature"})  # fmt: skip


Signed = Annotated[SignedForm, Depends(signed_form)]


def _record(request: Request, form: SignedForm, kind: SourceKind, sid: str, text: str | None,
            to: str | None = None) -> None:  # fmt: skip
    settings: Settings = request.app.state.settings
    holder: IndexHolder = request.app.state.index_holder
    with session_scope(request.app.state.engine) as session:
        refresh_in_request_jobs(request, session)
        record_contact(
            session,
            holder,
            EvidenceStore(settings.evidence_path),
            provider=PROVIDER,
            kind=kind,
            sid=sid,
            to_number=to or form.params.get("To", ""),
            from_number=form.params.get("From", ""),
            text=text,
            raw=form.raw,
            content_type=FORM,
        )


@router.post("/sms")
async def sms(request: Request, form: Signed) -> Response:
    """A message to a pool number: its body is matched with the number it was sent to."""
    sid, _to = form.require("MessageSid", "To")
    await run_in_threadpool(_record, request, form, SourceKind.SMS, sid, form.params.get("Body"))
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/voice")
async def voice(request: Request, form: Signed) -> Response:
    """A call to a pool number: greet, record (with a transcription), hang up."""
    sid, _to = form.require("CallSid", "To")
    await run_in_threadpool(_record, request, form, SourceKind.CALL, sid, None)
    settings: Settings = request.app.state.settings
    base = settings.public_url.rstrip("/") + "/v1/webhooks/twilio"
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Say language="zh-CN">{escape(settings.voice_greeting)}</Say>'
        f'<Record maxLength="120" playBeep="true" transcribe="true" '
        f"transcribeCallback={quoteattr(base + '/transcription')} "
        f"recordingStatusCallback={quoteattr(base + '/recording')}/>"
        "<Hangup/></Response>"
    )
    return Response(twiml, media_type="text/xml")


@router.post("/transcription", status_code=204)
async def transcription(request: Request, form: Signed) -> None:
    """The transcript of a recorded call, matched with the number that was called."""
    (sid,) = form.require("CallSid")
    text = form.params.get("TranscriptionText", "")

    def lookup() -> str | None:
        with session_scope(request.app.state.engine) as session:
            contact = contact_by_sid(session, PROVIDER, sid)
            return contact.to_number if contact else None

    to = form.params.get("To") or await run_in_threadpool(lookup)
    if not to:
        raise InvalidError("Unknown call and no `To`.", errors=[field_error("To", "required")])
    await run_in_threadpool(_record, request, form, SourceKind.CALL, sid, text, to)


@router.post("/status", status_code=204)
async def call_status(request: Request, form: Signed) -> None:
    """Call and message status callbacks: the contact is kept (once) if it was missed."""
    sid = form.params.get("CallSid") or form.params.get("MessageSid")
    if not sid or not form.params.get("To"):
        raise InvalidError("A status callback names its CallSid or MessageSid and To.")
    kind = SourceKind.CALL if form.params.get("CallSid") else SourceKind.SMS
    await run_in_threadpool(_record, request, form, kind, sid, None)


@router.post("/recording", status_code=204)
async def recording(request: Request, form: Signed) -> None:
    """The recording is ready; its transcription arrives separately."""
    form.require("CallSid")
