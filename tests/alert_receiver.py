"""A webhook receiver for alert tests, served on loopback: it records every POST and answers
with the statuses and bodies it is told to, in order (then 200 and DingTalk's "ok")."""

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response

OK = {"errcode": 0, "errmsg": "ok"}


@dataclass(frozen=True)
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


class AlertReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: deque[tuple[int, Any]] = deque()
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.add_api_route("/{path:path}", self._receive, methods=["POST"])

    def answer(self, *answers: tuple[int, Any]) -> None:
        """Answer the next requests with these (status, body): a dict is sent as JSON, a
        str as text."""
        with self._lock:
            self.answers.extend(answers)

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.answers.clear()

    async def _receive(self, request: Request, path: str) -> Response:
        body = await request.body()
        with self._lock:
            self.received.append(
                Received(
                    path="/" + path,
                    query=dict(request.query_params),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                    at=time.monotonic(),
                )
            )
            status, answer = self.answers.popleft() if self.answers else (200, OK)
        if isinstance(answer, str):
            return Response(answer, status_code=status, media_type="text/plain")
        return Response(json.dumps(answer), status_code=status, media_type="application/json")

    def wait_for(self, count: int, seconds: float = 20.0) -> list[Received]:
        """The first `count` requests, once they have come."""
        deadline = time.monotonic() + seconds
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} requests came"
            time.sleep(0.05)
        return self.received[:count]
