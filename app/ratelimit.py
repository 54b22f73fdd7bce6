"""Per-key token buckets for the matching routes (rule 3: rate-limited and audited).

In-process: each API process limits its own share; a key gets `per_second` requests a
second on average and a burst of as many.
"""

import threading
import time
from typing import Annotated, Any

from fastapi import Depends

from app.auth.actor import Actor
from app.auth.deps import current_actor
from app.problems import TooManyRequestsError
from app.resources import resource


class RateLimiter:
    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self.burst = max(1.0, per_second)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, since = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - since) * self.per_second)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True


def rate_limited(
    limiter: Annotated[RateLimiter, Depends(resource(RateLimiter))],
    actor: Annotated[Actor, Depends(current_actor)],
) -> None:
    if not limiter.allow(actor.name):
        raise TooManyRequestsError(
            f"Over {limiter.per_second:g} requests a second for this key; slow down."
        )


RateLimited = Depends(rate_limited)

# Declared by the routes that are rate-limited, so their documents list the 429 they answer.
RATE_LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"description": "Over the key's rate; retry after `Retry-After` seconds."}
}
