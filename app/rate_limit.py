"""An optional per-client rate limit (`STANCEGRAPH_RATE_LIMIT`, e.g. "20/second;600/minute"), with `limits`.

Off by default: behind a reverse proxy the proxy should limit (SECURITY.md). When set, each client address
gets a moving window per rule; a request beyond it is answered 429 with `Retry-After` before any work is
done. Liveness checks are never limited. Behind a proxy, run uvicorn with `--proxy-headers` so that the
address is the client's, not the proxy's.
"""

import math
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from limits import RateLimitItem, parse_many, storage, strategies

from app.http_common import plain_error

EXEMPT = ("/health",)


class RateLimit:
    """Moving windows per client address for every rule."""

    def __init__(self, rules: str):
        self.rules: list[RateLimitItem] = parse_many(rules)
        self._windows = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def retry_after(self, client: str) -> int | None:
        """None if the request may go ahead (and count it), else the seconds until it may."""
        refused = [rule for rule in self.rules if not self._windows.test(rule, client)]
        if refused:
            reset = max(self._windows.get_window_stats(rule, client).reset_time for rule in refused)
            return max(1, math.ceil(reset - time.time()))
        for rule in self.rules:
            self._windows.hit(rule, client)
        return None


def add_rate_limit(app: FastAPI, rules: str | None) -> None:
    """Install the limit as middleware when rules are configured (a bad rule is a start-up error)."""
    if not rules:
        return
    try:
        limit = RateLimit(rules)
    except ValueError as err:
        raise ValueError(f"STANCEGRAPH_RATE_LIMIT {rules!r} is not a rate like '20/second;600/minute': {err}") from None

    async def limit_rate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path in EXEMPT:
            return await call_next(request)
        client = request.client.host if request.client else "-"
        wait = limit.retry_after(client)
        if wait is not None:
            return plain_error(
                429, f"rate limit {rules} exceeded for {client}: retry in {wait} s", {"Retry-After": str(wait)}
            )
        return await call_next(request)

    app.middleware("http")(limit_rate)
