"""A stand-in for Twilio's REST API (the one part of the world tests cannot reach), served on
loopback, and the http client that points the real twilio `Client` at it.

It answers `GET /2010-04-01/Accounts/{sid}/Calls.json` and `/Messages.json` in Twilio's own
JSON shapes: resources with RFC 2822 times, newest first, filtered by `To` and by
`StartTime>`/`StartTime<` or `DateSent>`/`DateSent<` (inclusive, as Twilio's are), in
pages of at most `max_page_size` linked by `next_page_uri`. Requests must carry HTTP basic
auth with the account SID and auth token, or get Twilio's 401.
"""

import base64
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

API = "https://api.twilio.com"
VERSION = "2010-04-01"


def _rfc2822(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=False)


def call_resource(
    account_sid: str, sid: str, to: str, caller: str, when: datetime
) -> dict[str, Any]:
    """A completed inbound call as `Calls.json` lists it."""
    uri = f"/{VERSION}/Accounts/{account_sid}/Calls/{sid}"
    return {
        "account_sid": account_sid,
        "annotation": None,
        "answered_by": None,
        "api_version": VERSION,
        "caller_name": None,
        "date_created": _rfc2822(when),
        "date_updated": _rfc2822(when),
        "direction": "inbound",
        "duration": "14",
        "end_time": _rfc2822(when),
        "forwarded_from": None,
        "from": caller,
        "from_formatted": caller,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": "PN" + "0" * 32,
        "price": "-0.00850",
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": _rfc2822(when),
        "status": "completed",
        "subresource_uris": {
            "notifications": f"{uri}/Notifications.json",
            "recordings": f"{uri}/Recordings.json",
            "transcriptions": f"{uri}/Transcriptions.json",
        },
        "to": to,
        "to_formatted": to,
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }


def message_resource(
    account_sid: str, sid: str, to: str, sender: str, body: str, when: datetime
) -> dict[str, Any]:
    """A received SMS as `Messages.json` lists it."""
    uri = f"/{VERSION}/Accounts/{account_sid}/Messages/{sid}"
    return {
        "account_sid": account_sid,
        "api_version": VERSION,
        "body": body,
        "date_created": _rfc2822(when),
        "date_sent": _rfc2822(when),
        "date_updated": _rfc2822(when),
        "direction": "inbound",
        "error_code": None,
        "error_message": None,
        "from": sender,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "received",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": to,
        "uri": f"{uri}.json",
    }


def _parse_filter(value: str) -> datetime:
    """Twilio takes a date (`2024-05-01`) or a time (`2024-05-01T08:00:00Z`)."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    max_page_size: int = 2
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()
        listings = {
            "Calls": ("calls", self.calls, "StartTime", "start_time"),
            "Messages": ("messages", self.messages, "DateSent", "date_sent"),
        }

        @app.get("/2010-04-01/Accounts/{account_sid}/{resource}.json")
        def listing(account_sid: str, resource: str, request: Request) -> JSONResponse:
            query = dict(request.query_params)
            self.requests.append((request.url.path, query))
            if not self._authorised(request.headers.get("authorization", ""), account_sid):
                return JSONResponse(
                    {
                        "code": 20003,
                        "message": "Authenticate",
                        "more_info": "https://www.twilio.com/docs/errors/20003",
                        "status": 401,
                    },
                    status_code=401,
                )
            if resource not in listings:
                return JSONResponse({"code": 20404, "status": 404}, status_code=404)
            key, items, time_filter, time_field = listings[resource]
            chosen = [
                item
                for item in sorted(
                    items, key=lambda i: parsedate_to_datetime(i[time_field]), reverse=True
                )
                if self._wanted(item, query, time_filter, time_field)
            ]
            size = min(int(query.get("PageSize", "50")), self.max_page_size)
            page = int(query.get("Page", "0"))
            start = page * size
            body = chosen[start : start + size]
            path = request.url.path
            here = {**query, "PageSize": str(size), "Page": str(page)}
            following = None
            if start + size < len(chosen):
                token = "PA" + body[-1]["sid"]
                following = {**here, "Page": str(page + 1), "PageToken": token}
            return JSONResponse(
                {
                    key: body,
                    "end": start + len(body) - 1,
                    "first_page_uri": f"{path}?{urlencode({**here, 'Page': '0'})}",
                    "next_page_uri": f"{path}?{urlencode(following)}" if following else None,
                    "page": page,
                    "page_size": size,
                    "previous_page_uri": None,
                    "start": start,
                    "uri": f"{path}?{urlencode(here)}",
                }
            )

        return app

    def _authorised(self, header: str, account_sid: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded, validate=True)
        except ValueError:
            return False
        expected = f"{self.account_sid}:{self.auth_token}".encode()
        return hmac.compare_digest(given, expected) and account_sid == self.account_sid

    @staticmethod
    def _wanted(item: dict[str, Any], query: dict[str, str], name: str, time_field: str) -> bool:
        if "To" in query and item["to"] != query["To"]:
            return False
        when = parsedate_to_datetime(item[time_field])
        if f"{name}>" in query and when < _parse_filter(query[f"{name}>"]):
            return False
        return not (f"{name}<" in query and when > _parse_filter(query[f"{name}<"]))


class LoopbackHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no hints
    """Twilio's own http client, sending what it would send to api.twilio.com to `base`."""

    def __init__(self, base: str) -> None:
        super().__init__(timeout=10)
        self.base = base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(API):
            url = self.base + url.removeprefix(API)
        answer: Response = super().request(method, url, *args, **kwargs)
        return answer


def loopback_client(base: str, account_sid: str, auth_token: str) -> Client:
    return Client(account_sid, auth_token, http_client=LoopbackHttpClient(base))
