"""One POST of one alert to a URL somebody typed in: checked by the SSRF guard, sent to the
address the guard checked, bounded in time and bytes, and judged by what the vendor answers.

The request goes through an httpx transport, not a client: the client logs every request's
URL, and alert URLs are credentials (a Slack path, a DingTalk access_token, a WeCom key).
A transport never follows redirects either, so no hop escapes the guard.
"""

import asyncio
import json
from dataclasses import dataclass

import httpx

from app.alerts.shapes import Outgoing
from app.models.alerts import ChannelKind
from watchers.fetching import FetchError, IPAddress, UnsafeURLError, check_public_url

DEADLINE_SECONDS = 15.0  # the whole exchange, however slowly the receiver drips its answer
TIMEOUTS = {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 5.0}
MAX_ANSWER_BYTES = 65_536  # what is read of an answer; the rest is never waited for
# DingTalk's "send too fast" (20 a minute per robot) and WeCom's "api freq out of limit":
# the message was fine, the next attempt may pass.
RATE_LIMIT_ERRCODES = frozenset({130101, 45009})


class SendError(Exception):
    """An alert not delivered; the message says why and holds no credential."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most MAX_ANSWER_BYTES


async def check_target(url: str, *, allow_private: bool) -> list[IPAddress]:
    """The addresses an alert to `url` may go to: https to a public address, or with
    `allow_private` (HONEYTRACE_ALERT_PRIVATE_ADDRESSES) also http and private ones."""
    if not allow_private and not url.lower().startswith("https://"):
        raise SendError("only https URLs are allowed", retry=False)
    try:
        return await check_public_url(url, allow_private=allow_private)
    except UnsafeURLError as error:
        raise SendError(f"refused by the SSRF guard: {error}", retry=False) from None
    except FetchError as error:  # the name does not resolve (now)
        raise SendError(str(error), retry=True) from None


async def post(outgoing: Outgoing, *, allow_private: bool) -> Answer:
    """POST the alert to the first address of its host that takes the connection."""
    addresses = await check_target(outgoing.url, allow_private=allow_private)
    target = httpx.URL(outgoing.url)
    headers = {**outgoing.headers, "Host": target.netloc.decode("ascii")}
    extensions: dict[str, object] = {"timeout": TIMEOUTS}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.host  # the certificate is checked for the name
    refused: Exception | None = None
    async with httpx.AsyncHTTPTransport() as transport:
        for address in addresses:
            request = httpx.Request(
                "POST",
                target.copy_with(host=str(address)),
                headers=headers,
                content=outgoing.body,
                extensions=extensions,
            )
            try:
                async with asyncio.timeout(DEADLINE_SECONDS):
                    return await _exchange(transport, request)
            except httpx.ConnectError as error:
                refused = error  # the host's next address may answer
            except (TimeoutError, httpx.TimeoutException):
                raise SendError(f"no answer within {DEADLINE_SECONDS:g} s", retry=True) from None
            except httpx.HTTPError as error:
                raise SendError(f"network error: {error!r}", retry=True) from None
    raise SendError(f"cannot connect to {target.host}: {refused!r}", retry=True)


async def _exchange(transport: httpx.AsyncHTTPTransport, request: httpx.Request) -> Answer:
    response = await transport.handle_async_request(request)
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) >= MAX_ANSWER_BYTES:
                break
    finally:
        await response.aclose()
    return Answer(response.status_code, bytes(body[:MAX_ANSWER_BYTES]))


def judge(kind: ChannelKind, answer: Answer) -> None:
    """Raise SendError unless the answer says the alert was taken.

    5xx, 408 and 429 may pass later; other 4xx (and 3xx: redirects are not followed) will
    not. DingTalk and WeCom answer HTTP 200 with a non-zero `errcode` when they refuse.
    """
    status = answer.status
    if status >= 500 or status in (408, 429):
        raise SendError(f"HTTP {status}", retry=True)
    if not 200 <= status < 300:
        raise SendError(f"HTTP {status}{_word(answer.body)}", retry=False)
    if kind in (ChannelKind.DINGTALK, ChannelKind.WECOM):
        try:
            answered = json.loads(answer.body)
            errcode, errmsg = answered["errcode"], str(answered.get("errmsg", ""))[:200]
        except (ValueError, TypeError, KeyError, AttributeError):
            raise SendError("the robot's answer has no errcode", retry=False) from None
        if errcode != 0:
            retry = errcode in RATE_LIMIT_ERRCODES
            raise SendError(f"errcode {errcode}: {errmsg}", retry=retry)


def _word(body: bytes) -> str:
    """Slack's answer to a refused webhook is one word (`invalid_payload`, `no_service`);
    anything longer is left out, as it may echo what was sent."""
    text = body[:64].decode("utf-8", errors="replace").strip()
    return f": {text}" if text and len(text) < 64 and text.replace("_", "").isalnum() else ""
