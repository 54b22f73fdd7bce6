"""`POST /v1/webhooks/telephony/{provider}`: other providers' calls and messages.

Chinese privacy-number services call back with caller, callee, extension, time, a recording
URL and sometimes a transcript. Any of them plugs in by posting this JSON, signed:
`X-Honeytrace-Timestamp` (Unix seconds, within five minutes) and `X-Honeytrace-Signature:
sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">` with the provider's secret from
`HONEYTRACE_TELEPHONY_SECRETS`. Unsigned, forged, stale or unknown-provider requests get
403 and an audit entry.
"""

import hashlib
import hmac
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError
from starlette.concurrency import run_in_threadpool

from app.audit.service import record_audit
from app.auth.actor import Actor
from app.db import utcnow
from app.intake.deps import IntakeDep
from app.problems import ForbiddenError, InvalidError
from app.resources import DatabaseDep, SettingsDep
from app.settings import Settings
from app.telephony.contacts import record_contacts
from app.text import FreeText, SafeText
from watchers.observations import SourceKind
from watchers.telephony import Contact

router = APIRouter(prefix="/v1/webhooks/telephony", tags=["webhooks"])
MAX_SKEW_SECONDS = 300
ProviderName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{1,31}$")]
Number = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 \-]{5,24}$")]


class ProviderEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: Annotated[SafeText, StringConstraints(min_length=1, max_length=64)]
    kind: Literal["call", "sms"]
    caller: Number
    callee: Number
    extension: Annotated[str, StringConstraints(pattern=r"^\d{1,6}$")] | None = None
    time: AwareDatetime | None = None
    text: Annotated[FreeText, StringConstraints(max_length=100_000)] | None = None
    recording_url: Annotated[SafeText, StringConstraints(max_length=2000)] | None = None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _verify(settings: Settings, provider: str, request_headers: dict[str, str], body: bytes) -> str:
    """The reason the request is refused, or "" when it verifies."""
    secret = settings.telephony_secrets.get(provider)
    if secret is None:
        return "unknown provider"
    timestamp = request_headers.get("x-honeytrace-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
        return "missing or stale timestamp"
    given = request_headers.get("x-honeytrace-signature", "")
    expected = signature(secret.get_secret_value(), timestamp, body)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return "signature"
    return ""


@router.post("/{provider}", status_code=204)
async def provider_event(
    request: Request,
    provider: ProviderName,
    settings: SettingsDep,
    database: DatabaseDep,
    intake: IntakeDep,
) -> None:
    """A call or message to a pool number, from a provider other than Twilio."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    reason = _verify(settings, provider, headers, body)
    if reason:

        def audit() -> None:
            with database.write() as session:
                detail = {"path": request.url.path, "reason": reason}
                actor = Actor.webhook(provider)
                record_audit(session, actor, "webhook.refused", "webhook", None, detail)

        await run_in_threadpool(audit)
        raise ForbiddenError("The request's signature does not verify.")
    try:
        event = ProviderEvent.model_validate_json(body)
    except ValidationError as error:
        raise InvalidError(
            "The event is not valid.",
            errors=[{"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                    for e in error.errors()],
        ) from None  # fmt: skip
    contact = Contact(
        provider=provider,
        kind=SourceKind.SMS if event.kind == "sms" else SourceKind.CALL,
        sid=event.event_id,
        to_number=event.callee,
        from_number=event.caller,
        received_at=event.time or utcnow(),
        raw=body,
        content_type="application/json",
        text=event.text,
        extension=event.extension,
    )
    await run_in_threadpool(record_contacts, intake, [contact])
