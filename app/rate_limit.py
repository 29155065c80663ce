"""An optional per-client rate limit (`STANCEGRAPH_RATE_LIMIT`, e.g. "20/second;600/minute"), with `limits`.

Off by default: behind a reverse proxy the proxy should limit (SECURITY.md). When set, each client address
gets a moving window per rule; a request beyond it is answered 429 with `Retry-After` before any work is
done. Liveness checks are never limited. Behind a proxy, run uvicorn with `--proxy-headers` so that the
address is the client's, not the proxy's.

The windows live in this process (`memory://`, the default) or in Redis (`STANCEGRAPH_RATE_LIMIT_STORAGE=
redis://host:6379/0`), which every process of `serve --workers N` and every app instance share, so a client
gets the configured rate from the whole deployment rather than N times it. Redis is reached with the asyncio
client (the event loop never waits on a socket) and short timeouts; if it fails while serving, requests go
through unlimited for a few seconds before it is asked again, and a warning is logged: losing the limiter
must not take the service down with it, nor slow every request by a timeout.
"""

import logging
import math
import time
from urllib.parse import urlsplit

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http_common import plain_error

EXEMPT = ("/health",)
SHARED_SCHEMES = ("redis", "rediss", "redis+unix")
KEY_PREFIX = "stancegraph"
REDIS_TIMEOUT = 0.5  # seconds: a Redis that hangs delays a request by at most this much
PAUSE_AFTER_FAILURE = 5.0  # seconds without asking a storage that failed: one slow request, not all of them
WARNING_INTERVAL = 60.0  # seconds between two warnings that the shared storage fails

log = logging.getLogger("stancegraph.rate_limit")


class RateLimitError(ValueError):
    """The rate limit settings cannot work: a rule or a storage URI that does not parse, Redis unreachable."""


def _rules(rules: str) -> list[RateLimitItem]:
    try:
        return parse_many(rules)
    except ValueError as err:
        raise RateLimitError(
            f"STANCEGRAPH_RATE_LIMIT {rules!r} is not a rate like '20/second;600/minute': {err}"
        ) from None


def shown(uri: str) -> str:
    """The storage URI as messages and logs show it: a password in it is masked."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _storage(uri: str, asynchronous: bool):
    """The `limits` storage of the windows (the asyncio one for the app, the blocking one for start-up checks)."""
    scheme = urlsplit(uri).scheme
    if scheme == "memory":
        return storage_from_string("async+memory://" if asynchronous else "memory://")
    if scheme not in SHARED_SCHEMES:
        raise RateLimitError(
            f"STANCEGRAPH_RATE_LIMIT_STORAGE {shown(uri)!r}: use memory:// (this process) or redis://host:port/db "
            "(shared by every process; also rediss:// and redis+unix://)"
        )
    options = {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
    try:
        if asynchronous:
            return storage_from_string(
                f"async+{uri}", implementation="redispy", key_prefix=KEY_PREFIX, wrap_exceptions=True, **options
            )
        return storage_from_string(uri, key_prefix=KEY_PREFIX, wrap_exceptions=True, **options)
    except ConfigurationError as err:
        raise RateLimitError(
            f"STANCEGRAPH_RATE_LIMIT_STORAGE {shown(uri)!r}: {err} (the Redis client: pip install -e '.[redis]')"
        ) from None


def check_rate_limit(rules: str | None, storage_uri: str) -> None:
    """At start-up: the rules parse and the storage answers (RateLimitError saying which does not)."""
    if not rules:
        return
    _rules(rules)
    if urlsplit(storage_uri).scheme == "memory":
        return
    client = _storage(storage_uri, asynchronous=False).get_connection()
    import redis

    try:
        client.ping()
    except redis.RedisError as err:
        raise RateLimitError(
            f"the rate limit storage {shown(storage_uri)} does not answer (STANCEGRAPH_RATE_LIMIT_STORAGE): {err}"
        ) from None
    finally:
        client.close()


class RateLimit:
    """Moving windows per client address for every rule, in the storage that `storage_uri` names."""

    def __init__(self, rules: str, storage_uri: str = "memory://"):
        self.text = rules
        self.rules = _rules(rules)
        self.storage_uri = storage_uri
        self._windows = MovingWindowRateLimiter(_storage(storage_uri, asynchronous=True))
        self._warned = -math.inf
        self._paused_until = -math.inf

    async def retry_after(self, client: str) -> int | None:
        """None if the request may go ahead (and count it), else the seconds until it may.

        A hit beyond a window counts nothing and the count is atomic in the storage (processes racing for a
        window's last request cannot both get it), so one rule needs one call; with several, every rule is
        tested before any is counted, so that a request one rule refuses uses up nothing of the others.
        """
        if time.monotonic() < self._paused_until:
            return None
        try:
            refused = await self._refused_by_test(client) if len(self.rules) > 1 else []
            if not refused:
                refused = [rule for rule in self.rules if not await self._windows.hit(rule, client)]
            if not refused:
                return None
            stats = [await self._windows.get_window_stats(rule, client) for rule in refused]
        except StorageError as err:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            self._warn(err)
            return None
        return max(1, math.ceil(max(window.reset_time for window in stats) - time.time()))

    async def _refused_by_test(self, client: str) -> list[RateLimitItem]:
        return [rule for rule in self.rules if not await self._windows.test(rule, client)]

    def _warn(self, err: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned >= WARNING_INTERVAL:
            self._warned = now
            log.warning("rate limit not applied: its storage %s fails (%s)", shown(self.storage_uri), err.storage_error)


class RateLimited:
    """Pure ASGI middleware: a request beyond the limit is answered 429 before any work is done (no extra task
    or body copy per request, so the short way to /sparql can go through it too)."""

    def __init__(self, app: ASGIApp, limit: RateLimit):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "-"
        wait = await self.limit.retry_after(client)
        if wait is None:
            await self.app(scope, receive, send)
            return
        message = f"rate limit {self.limit.text} exceeded for {client}: retry in {wait} s"
        await plain_error(429, message, {"Retry-After": str(wait)})(scope, receive, send)


def rate_limit(rules: str | None, storage_uri: str = "memory://") -> RateLimit | None:
    """The configured limit, or None when there is none (bad settings are a start-up error)."""
    return RateLimit(rules, storage_uri) if rules else None
