"""The request each kind of subscription gets for an event, rendered afresh at each attempt
(timestamps and signatures are checked against the receiver's clock).

- webhook: our JSON, signed as providers sign the webhooks we receive
  (app.telephony.provider_webhooks): `X-Honeytrace-Timestamp` (Unix seconds) and
  `X-Honeytrace-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">`.
- slack: an incoming webhook's `{"text", "blocks"}`; `text` is the notification's fallback.
- dingtalk: a custom robot's `{"msgtype": "markdown", "markdown": {"title", "text"}}`; with
  a secret (加签), `timestamp` (ms) and `sign` = base64(HMAC-SHA256(secret,
  "<timestamp>\\n<secret>")) as query parameters, within an hour of DingTalk's clock.
- wecom: a group robot's `{"msgtype": "markdown", "markdown": {"content"}}`, at most 4096
  bytes of UTF-8.
"""

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from app.alerts.events import AlertEvent, Severity
from app.models.alerts import ChannelKind

USER_AGENT = "honeytrace-alerts"
SEVERITY_ZH = {
    Severity.LOW: "低",
    Severity.MEDIUM: "中",
    Severity.HIGH: "高",
    Severity.CRITICAL: "严重",
}
# Chat markdown is rendered by the vendor: text that came from outside (a listing's title in
# a summary) must not become a link or a mention, so these become their full-width forms.
_CHAT_NEUTRAL = str.maketrans({"[": "［", "]": "］", "<": "＜", ">": "＞"})
SLACK_SECTION_CHARS = 3000  # Slack's limit on a section block's text
SLACK_HEADER_CHARS = 150  # and on a header block's
WECOM_MARKDOWN_BYTES = 4096


@dataclass(frozen=True)
class Outgoing:
    """One POST, ready to send; its URL (and a webhook's body headers) carry credentials."""

    url: str
    headers: dict[str, str]
    body: bytes


def render(
    kind: ChannelKind,
    url: str,
    secret: str | None,
    event: AlertEvent,
    *,
    delivery_id: uuid.UUID,
    public_url: str,
    now: datetime,
) -> Outgoing:
    page = public_url.rstrip("/") + event.page_path
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Honeytrace-Event": str(event.kind),
        # The same at every attempt: a receiver that saw it already can drop a retry.
        "X-Honeytrace-Delivery": str(delivery_id),
    }
    if kind == ChannelKind.WEBHOOK:
        body = _json(generic_body(event, page, now))
        if secret:
            timestamp = str(int(now.timestamp()))
            headers["X-Honeytrace-Timestamp"] = timestamp
            headers["X-Honeytrace-Signature"] = webhook_signature(secret, timestamp, body)
        return Outgoing(url, headers, body)
    if kind == ChannelKind.SLACK:
        return Outgoing(url, headers, _json(slack_body(event, page)))
    if kind == ChannelKind.DINGTALK:
        if secret:
            url = str(httpx.URL(url).copy_merge_params(dingtalk_sign(secret, now)))
        return Outgoing(url, headers, _json(dingtalk_body(event, page)))
    return Outgoing(url, headers, _json(wecom_body(event, page)))


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The scheme app.telephony.provider_webhooks checks on the webhooks we receive, so one
    verifier serves both directions."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def generic_body(event: AlertEvent, page: str, now: datetime) -> dict[str, Any]:
    return {
        "event": str(event.kind),
        "incident_id": None if event.incident_id is None else str(event.incident_id),
        "title": event.title,
        "summary_zh": event.summary_zh,
        "summary_en": event.summary_en,
        "severity": str(event.severity),
        "url": page,
        "payload": event.payload,
        "sent_at": now.isoformat(),
    }


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reads &, < and > as control characters (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(event: AlertEvent, page: str) -> dict[str, Any]:
    severity = str(event.severity).upper()
    summary = f"*{severity}* · {_slack_escape(event.summary_en)}\n{_slack_escape(event.summary_zh)}"
    return {
        "text": f"[{severity}] {_slack_escape(event.title)}: {_slack_escape(event.summary_en)}",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": event.title[:SLACK_HEADER_CHARS]},
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": summary[:SLACK_SECTION_CHARS]},
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"`{event.kind}` · <{page}|honeytrace>"},
                ],
            },
        ],
    }


def _chat_markdown(event: AlertEvent, page: str) -> tuple[str, str]:
    """A title and a markdown text for DingTalk and WeCom, Chinese first."""
    title = event.title.translate(_CHAT_NEUTRAL)
    severity = f"{SEVERITY_ZH[event.severity]} / {event.severity}"
    text = (
        f"#### {title}\n\n"
        f"**级别 / Severity**: {severity}\n\n"
        f"> {event.summary_zh.translate(_CHAT_NEUTRAL)}\n\n"
        f"> {event.summary_en.translate(_CHAT_NEUTRAL)}\n\n"
        f"[查看 / Open]({page})"
    )
    return title, text


def dingtalk_body(event: AlertEvent, page: str) -> dict[str, Any]:
    title, text = _chat_markdown(event, page)
    return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}


def dingtalk_sign(secret: str, now: datetime) -> dict[str, str]:
    """The robot's 加签 parameters; httpx URL-encodes `sign` as DingTalk asks."""
    timestamp = str(int(now.timestamp() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return {"timestamp": timestamp, "sign": base64.b64encode(digest.digest()).decode()}


def wecom_body(event: AlertEvent, page: str) -> dict[str, Any]:
    _, text = _chat_markdown(event, page)
    link = f"\n\n[查看 / Open]({page})"
    if len(text.encode()) > WECOM_MARKDOWN_BYTES:
        room = WECOM_MARKDOWN_BYTES - len(link.encode()) - len("…".encode())
        text = text.encode()[:room].decode(errors="ignore") + "…" + link
    return {"msgtype": "markdown", "markdown": {"content": text}}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
