"""One access token per Zoho client and refresh token, shared by everything in the process.

Zoho grants 10 token requests per 10 minutes per refresh token and then refuses all of them for the rest
of the window, so a triggerer running hundreds of sensors on one connection must refresh once, not once per
sensor. Refreshes are single-flight: concurrent callers, threads or coroutines, wait for the one refresh
in flight instead of starting their own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# Refresh this long before Zoho's expiry so a token never dies between being read and being used.
EXPIRY_MARGIN_SECONDS = 120.0


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # wall-clock epoch seconds
    api_domain: str | None = None

    def is_fresh(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at - EXPIRY_MARGIN_SECONDS


class TokenCache:
    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()
        self._refresh_locks: dict[str, threading.Lock] = {}
        self._in_flight: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Task[AccessToken]] = {}

    def cached(self, key: str) -> AccessToken | None:
        token = self._tokens.get(key)
        return token if token is not None and token.is_fresh() else None

    def get(self, key: str, refresh: Callable[[], AccessToken]) -> AccessToken:
        """The cached token, or one fresh from ``refresh`` run by exactly one thread at a time."""
        token = self.cached(key)
        if token is not None:
            return token
        with self._lock:
            refresh_lock = self._refresh_locks.setdefault(key, threading.Lock())
        with refresh_lock:
            token = self.cached(key)
            if token is None:
                token = refresh()
                self.put(key, token)
            return token

    async def aget(self, key: str, refresh: Callable[[], Awaitable[AccessToken]]) -> AccessToken:
        """The cached token, or the result of the one refresh in flight for ``key`` on this event loop."""
        token = self.cached(key)
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        flight_key = (loop, key)
        task = self._in_flight.get(flight_key)
        if task is None:
            task = loop.create_task(self._refresh_and_store(key, refresh))
            self._in_flight[flight_key] = task
            task.add_done_callback(lambda _: self._in_flight.pop(flight_key, None))
        # Shielded: a cancelled waiter (a trigger being stopped) must not cancel the others' refresh.
        return await asyncio.shield(task)

    async def _refresh_and_store(self, key: str, refresh: Callable[[], Awaitable[AccessToken]]) -> AccessToken:
        token = await refresh()
        self.put(key, token)
        return token

    def put(self, key: str, token: AccessToken) -> None:
        with self._lock:
            self._tokens[key] = token

    def invalidate(self, key: str, rejected: str) -> None:
        """Forget the token Zoho rejected, unless another caller has already replaced it."""
        with self._lock:
            current = self._tokens.get(key)
            if current is not None and current.value == rejected:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKEN_CACHE = TokenCache()
