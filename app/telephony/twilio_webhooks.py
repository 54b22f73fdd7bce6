"""Twilio's webhooks: scam calls and SMS to pool numbers.

Each request must carry a valid `X-Twilio-Signature` over `HONEYTRACE_PUBLIC_URL` + path and
the posted form, checked with the twilio library's `RequestValidator` (a constant-time
comparison); a missing or forged one gets 403 and an audit entry. Only what was signed is
read or kept: the body must be a URL-encoded form (Twilio posts nothing else) in which no
field appears twice, since the validator signs one value per field and a second one in
front would be unsigned text landing in the evidence. Deliveries are idempotent by CallSid /
MessageSid. Voice answers with TwiML: the greeting, a recording with a transcription, hang
up; SMS with an empty response.
"""

from typing import Annotated
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import Database, utcnow
from app.intake.deps import IntakeDep
from app.problems import ForbiddenError, InvalidError, ServiceUnavailableError, field_error
from app.resources import DatabaseDep, SettingsDep
from app.telephony.contacts import contact_by_sid, record_contacts
from watchers.observations import SourceKind
from watchers.telephony import TWILIO as PROVIDER
from watchers.telephony import Contact

router = APIRouter(prefix="/v1/webhooks/twilio", tags=["webhooks"])
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

    def contact(
        self, kind: SourceKind, sid: str, text: str | None, to: str | None = None
    ) -> Contact:
        return Contact(
            provider=PROVIDER,
            kind=kind,
            sid=sid,
            to_number=to or self.params.get("To", ""),
            from_number=self.params.get("From", ""),
            received_at=utcnow(),
            raw=self.raw,
            content_type=FORM,
            text=text,
        )


def _form(request: Request, raw: bytes) -> dict[str, str] | None:
    """The form's fields, or None if it is not one Twilio could have signed."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM:
        return None
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        return None
    params = dict(pairs)
    return params if len(params) == len(pairs) else None


async def signed_form(request: Request, settings: SettingsDep, database: DatabaseDep) -> SignedForm:
    token = settings.twilio_auth_token.get_secret_value()
    if not token:
        raise ServiceUnavailableError("Twilio webhooks are not configured on this service.")
    raw = await request.body()
    params = _form(request, raw)
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if (
        params is None
        or not signature
        or not RequestValidator(token).validate(url, params, signature)
    ):
        reason = "signature" if params is not None else "not a form Twilio signs"
        await run_in_threadpool(_audit_refusal, database, request.url.path, reason)
        raise ForbiddenError("The request's Twilio signature does not verify.")
    return SignedForm(params, raw)


def _audit_refusal(database: Database, path: str, reason: str) -> None:
    with database.write() as session:
        record_audit(session, Actor.webhook(PROVIDER), "webhook.refused", "webhook", None,
                     {"path": path, "reason": reason})  # fmt: skip


Signed = Annotated[SignedForm, Depends(signed_form)]


@router.post("/sms")
async def sms(intake: IntakeDep, form: Signed) -> Response:
    """A message to a pool number: its body is matched with the number it was sent to."""
    sid, _to = form.require("MessageSid", "To")
    contact = form.contact(SourceKind.SMS, sid, form.params.get("Body"))
    await run_in_threadpool(record_contacts, intake, [contact])
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/voice")
async def voice(intake: IntakeDep, settings: SettingsDep, form: Signed) -> Response:
    """A call to a pool number: greet, record (with a transcription), hang up."""
    sid, _to = form.require("CallSid", "To")
    await run_in_threadpool(record_contacts, intake, [form.contact(SourceKind.CALL, sid, None)])
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
async def transcription(intake: IntakeDep, database: DatabaseDep, form: Signed) -> None:
    """The transcript of a recorded call, matched with the number that was called."""
    (sid,) = form.require("CallSid")
    text = form.params.get("TranscriptionText", "")

    def lookup() -> str | None:
        with database.read() as session:
            contact = contact_by_sid(session, PROVIDER, sid)
            return contact.to_number if contact else None

    to = form.params.get("To") or await run_in_threadpool(lookup)
    if not to:
        raise InvalidError("Unknown call and no `To`.", errors=[field_error("To", "required")])
    contact = form.contact(SourceKind.CALL, sid, text, to)
    await run_in_threadpool(record_contacts, intake, [contact])


@router.post("/status", status_code=204)
async def call_status(intake: IntakeDep, form: Signed) -> None:
    """Call and message status callbacks: the contact is kept (once) if it was missed."""
    sid = form.params.get("CallSid") or form.params.get("MessageSid")
    if not sid or not form.params.get("To"):
        raise InvalidError("A status callback names its CallSid or MessageSid and To.")
    kind = SourceKind.CALL if form.params.get("CallSid") else SourceKind.SMS
    await run_in_threadpool(record_contacts, intake, [form.contact(kind, sid, None)])


@router.post("/recording", status_code=204)
async def recording(form: Signed) -> None:
    """The recording is ready; its transcription arrives separately."""
    form.require("CallSid")
