"""One access token per Zoho client and refresh token, shared by everything in the process.

Zoho grants 10 token requests per 10 minutes per refresh token and then refuses all of them for the rest
of the window, so a triggerer running hundreds of sensors on one connection must refresh once, not once per
sensor. Refreshes are single-flight: concurrent callers, threads or coroutines, wait for the one refresh
in flight instead of starting their own.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

# Refresh this long before Zoho's expiry: enough for clock skew and one request in flight (a token that
# dies in flight anyway is answered INVALID_TOKEN and refreshed once). Small enough that a sensor poking
# every minute with a one-hour token refreshes once an hour.
EXPIRY_MARGIN_SECONDS = 30.0
# How many rejected tokens a process remembers (see ``TokenCache.invalidate``).
MAX_REJECTED_TOKENS = 1024

# Zoho's access tokens are about 70 characters (``1000.<hex>.<hex>``). A token goes verbatim into the
# ``Authorization`` header, so it must be printable ASCII without spaces: a CR/LF would inject a header or
# make every request fail locally.
MAX_TOKEN_LENGTH = 1024
_HEADER_SAFE_TOKEN = re.compile(rf"[!-~]{{1,{MAX_TOKEN_LENGTH}}}")


def is_header_safe(value: str) -> bool:
    """Tell whether ``value`` can be sent as an access token: 1 to 1,024 printable ASCII characters, no space.

    :param value: the token, as Zoho or a shared store gave it.
    :return: True if it can go verbatim into the ``Authorization`` header.
    """
    return _HEADER_SAFE_TOKEN.fullmatch(value) is not None


@dataclass(frozen=True)
class AccessToken:
    """An access token Zoho granted, with when it expires and which API host it names.

    :param value: the token itself, kept out of ``repr`` so that no log or traceback shows it.
    :param expires_at: when Zoho stops accepting it, in wall-clock epoch seconds (shared across processes and
        machines, so not a monotonic clock).
    :param api_domain: the ``api_domain`` of Zoho's token answer, or None when it had none (or the token
        came from a shared store, which keeps only the token and its expiry).
    """

    value: str = field(repr=False)
    expires_at: float  # wall-clock epoch seconds
    api_domain: str | None = None

    def is_fresh(self, now: float) -> bool:
        """Tell whether the token may still be sent, keeping ``EXPIRY_MARGIN_SECONDS`` before its expiry.

        :param now: the current wall-clock time, in epoch seconds.
        :return: True while the token is more than the margin away from expiring.
        """
        return now < self.expires_at - EXPIRY_MARGIN_SECONDS


class TokenStore(Protocol):
    """Tokens shared beyond this process (``FileTokenStore``): what ``TokenCache`` needs of such a store.

    A store is an optimisation, never a requirement: when it cannot be used it behaves as an empty store
    (``load`` finds nothing, ``save`` keeps nothing) rather than failing the caller.
    """

    def locked(self, key: str) -> AbstractContextManager[None]:
        """Hold ``key``'s lock across processes: one of them at a time refreshes its token.

        :param key: the connection's token key (``ZohoConnectionConfig.token_cache_key``).
        """

    def load(self, key: str) -> AccessToken | None:
        """Return the stored token, or None if there is none that can be trusted.

        :param key: the connection's token key.
        :return: the token another process stored, unchecked for freshness (the cache checks it).
        """

    def save(self, key: str, token: AccessToken) -> None:
        """Store ``token`` for the other processes.

        :param key: the connection's token key.
        :param token: the token this process obtained.
        """

    def discard(self, key: str, rejected: str) -> None:
        """Drop the stored token if it is ``rejected``.

        :param key: the connection's token key.
        :param rejected: the token value Zoho answered INVALID_TOKEN to; a different stored token (another
            process's newer one) is kept.
        """


class AsyncTokenStore(Protocol):
    """Tokens shared beyond this machine, for an event loop (the triggerer's Variable layer)."""

    async def load(self, key: str) -> AccessToken | None:
        """Return the stored token, or None if there is none that can be trusted.

        :param key: the connection's token key.
        :return: the token another machine stored, unchecked for freshness (the cache checks it).
        """

    async def save(self, key: str, token: AccessToken) -> None:
        """Store ``token`` for the other machines.

        :param key: the connection's token key.
        :param token: the token this process obtained.
        """


class TokenCache:
    """This process's access tokens, one per token key, refreshed single-flight.

    Threads (the sync hook) serialise on a lock per key; coroutines (the async hook) await the one refresh
    task in flight per key and event loop. A token Zoho rejected is remembered so that no layer hands it out
    again. ``TOKEN_CACHE`` is the instance the hooks share.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Create an empty cache.

        :param clock: wall-clock time in epoch seconds (the tests pass a fake one); token expiries are
            compared with it.
        """
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()
        self._refresh_locks: dict[str, threading.Lock] = {}
        self._in_flight: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Task[AccessToken]] = {}
        # Tokens Zoho rejected (INVALID_TOKEN), kept until they would have expired anyway; a few per day.
        self._rejected: set[str] = set()

    def _fresh(self, token: AccessToken | None) -> AccessToken | None:
        # A token Zoho rejected is never fresh, wherever it is found again: another process or machine may
        # still hold it in a shared layer, and taking it from there would only be rejected once more.
        if token is None or token.value in self._rejected or not token.is_fresh(self._clock()):
            return None
        return token

    def cached(self, key: str) -> AccessToken | None:
        """Return this process's token for ``key`` if it is fresh and was not rejected, without refreshing.

        :param key: the connection's token key.
        :return: the token, or None when a refresh is needed.
        """
        return self._fresh(self._tokens.get(key))

    def get(self, key: str, refresh: Callable[[], AccessToken], store: TokenStore | None = None) -> AccessToken:
        """Return the cached token, or one fresh from ``refresh`` run by exactly one thread at a time.

        With a ``store``, a token another process saved is reused, and refreshes across processes are
        serialised by the store's lock.

        :param key: the connection's token key.
        :param refresh: asks Zoho for a new token; called only when no layer holds a fresh one.
        :param store: the layers shared with other processes and machines, or None for this process only.
        :return: a fresh token.
        """
        token = self.cached(key)
        if token is not None:
            return token
        with self._lock:
            refresh_lock = self._refresh_locks.setdefault(key, threading.Lock())
        with refresh_lock:
            token = self.cached(key)
            if token is None:
                token = refresh() if store is None else self._shared(key, refresh, store)
                self.put(key, token)
            return token

    def _shared(self, key: str, refresh: Callable[[], AccessToken], store: TokenStore) -> AccessToken:
        with store.locked(key):
            token = self._fresh(store.load(key))
            if token is None:
                token = refresh()
                store.save(key, token)
            return token

    async def aget(
        self,
        key: str,
        refresh: Callable[[], Awaitable[AccessToken]],
        store: TokenStore | None = None,
        remote: AsyncTokenStore | None = None,
    ) -> AccessToken:
        """Return the cached token, or the result of the one refresh in flight for ``key`` on this event loop.

        With a ``store``, a token another process saved is reused, and the refresh is serialised with the
        other processes by the store's lock, as ``get`` does; the store's blocking calls (file locks) run in
        a worker thread, never on the event loop. ``remote`` (other machines' tokens, awaited on the loop) is
        asked after the store and told of a token this process had to request.

        :param key: the connection's token key.
        :param refresh: asks Zoho for a new token; awaited only when no layer holds a fresh one.
        :param store: the blocking layers shared with other processes, or None.
        :param remote: the layer shared with other machines that is awaited on the loop, or None.
        :return: a fresh token.
        """
        token = self.cached(key)
        if token is not None:
            return token
        loop = asyncio.get_running_loop()
        flight_key = (loop, key)
        task = self._in_flight.get(flight_key)
        if task is None:
            task = loop.create_task(self._refresh_and_store(key, refresh, store, remote))
            self._in_flight[flight_key] = task
            task.add_done_callback(lambda _: self._in_flight.pop(flight_key, None))
        # Shielded: a cancelled waiter (a trigger being stopped) must not cancel the others' refresh.
        return await asyncio.shield(task)

    async def _refresh_and_store(
        self,
        key: str,
        refresh: Callable[[], Awaitable[AccessToken]],
        store: TokenStore | None,
        remote: AsyncTokenStore | None,
    ) -> AccessToken:
        lock = store.locked(key) if store is not None else None
        if lock is not None:
            # Entered and left in worker threads: waiting for another process's lock must not block the loop.
            await asyncio.to_thread(lock.__enter__)
        try:
            token = self._fresh(await asyncio.to_thread(store.load, key)) if store is not None else None
            if token is None and remote is not None:
                token = self._fresh(await remote.load(key))
                if token is not None and store is not None:
                    await asyncio.to_thread(store.save, key, token)
            if token is None:
                token = await refresh()
                if store is not None:
                    await asyncio.to_thread(store.save, key, token)
                if remote is not None:
                    await remote.save(key, token)
        finally:
            if lock is not None:
                await asyncio.to_thread(lock.__exit__, None, None, None)
        self.put(key, token)
        return token

    def put(self, key: str, token: AccessToken) -> None:
        """Keep ``token`` as this process's token for ``key``, replacing any other.

        :param key: the connection's token key.
        :param token: the token to hand out from now on.
        """
        with self._lock:
            self._tokens[key] = token

    def invalidate(self, key: str, rejected: str, store: TokenStore | None = None) -> None:
        """Forget the token Zoho rejected, here and in ``store``, and never take it again from any layer.

        A token a caller has already put in its place is kept: only the rejected value is dropped.

        :param key: the connection's token key.
        :param rejected: the token value Zoho answered INVALID_TOKEN to.
        :param store: the shared layers to drop it from too, or None.
        """
        with self._lock:
            if len(self._rejected) >= MAX_REJECTED_TOKENS:
                self._rejected.clear()  # a bound, not a policy: a day of rejections is a handful
            self._rejected.add(rejected)
            current = self._tokens.get(key)
            if current is not None and current.value == rejected:
                del self._tokens[key]
        if store is not None:
            store.discard(key, rejected)

    def clear(self) -> None:
        """Forget every token and every rejection; the tests reset the shared ``TOKEN_CACHE`` with it."""
        with self._lock:
            self._tokens.clear()
            self._rejected.clear()


TOKEN_CACHE = TokenCache()
