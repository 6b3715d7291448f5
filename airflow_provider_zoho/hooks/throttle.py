"""How hard one process may press on one Zoho connection.

Two controls: a shared pause after "slow down", and a cap on requests in flight. Zoho's limits are per
client and org (CRM: 5 to 25 concurrent calls per app by edition; past them ``TOO_MANY_REQUESTS`` for every
integration of the org), not per sensor. So the pause after a 429 is shared by every poller of the
connection, and a connection never has more than its cap of requests in flight from one event loop, however
many triggers poll it: the rest queue, in order, before their request starts (so a request's own deadline
never counts the queue).
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Callable

# How long a connection's pollers hold off after a 429 without a usable Retry-After, or after a first failed
# token request ("Access Denied": at most one attempt per connection per pause, then).
DEFAULT_PAUSE_SECONDS = 10.0
# The longest pause any answer can impose on the shared state; a poller also caps it at its own max_backoff.
MAX_PAUSE_SECONDS = 300.0
# Once Zoho refuses token requests it refuses them for the rest of its 10-minute window, which ends when we
# cannot know: each failed token request in a row doubles the pause, up to this. A window then costs about 8
# refused requests instead of 60, and the shared pause outlasts its end by 2 minutes at most.
MAX_TOKEN_PAUSE_SECONDS = 120.0
# Zoho's token window: a failure this long after the last one meets a new window, and starts the doubling over.
TOKEN_WINDOW_SECONDS = 600.0


class Throttle:
    """Per-connection pauses and in-flight caps, shared by every hook of the process.

    Keys are ``ZohoConnectionConfig.token_cache_key``: connections with the same accounts host, client and
    refresh token share one pause, as they share Zoho's limits. ``THROTTLE`` is the instance the hooks use.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Create a throttle with no pause and no gate.

        :param clock: a monotonic clock in seconds (the tests pass a fake one); pauses are measured on it.
        """
        self._clock = clock
        self._paused_until: dict[str, float] = {}
        self._token_failures: dict[str, tuple[int, float]] = {}  # failures in a row, and when the last was
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
            weakref.WeakKeyDictionary()
        )

    def pause(self, key: str, seconds: float | None) -> None:
        """Hold every poller of ``key`` off for ``seconds`` (Zoho's Retry-After) or the default pause.

        A pause never shortens one already running, and is capped at ``MAX_PAUSE_SECONDS`` whatever Zoho said.

        :param key: the connection's key.
        :param seconds: Zoho's Retry-After, or None (or not finite) for ``DEFAULT_PAUSE_SECONDS``.
        """
        wait = DEFAULT_PAUSE_SECONDS if seconds is None or not math.isfinite(seconds) else seconds
        until = self._clock() + min(max(wait, 0.0), MAX_PAUSE_SECONDS)
        self._paused_until[key] = max(self._paused_until.get(key, 0.0), until)

    def token_request_failed(self, key: str, retry_after: float | None) -> None:
        """Pause ``key`` after a failed token request, longer with each failure in a row.

        The pause is Zoho's Retry-After if it sent one, else one that doubles with each failure in a row, up
        to ``MAX_TOKEN_PAUSE_SECONDS``. A request sent while the pause still held (a trigger that starts by
        polling at once) does not double it: the pause already says the window is spent.

        :param key: the connection's key.
        :param retry_after: Zoho's Retry-After in seconds, or None.
        """
        now = self._clock()
        failures, last = self._token_failures.get(key, (0, -math.inf))
        if now - last > TOKEN_WINDOW_SECONDS:
            failures = 0
        if failures == 0 or self.remaining(key) <= 0:
            failures += 1
        self._token_failures[key] = (failures, now)
        if retry_after is None or not math.isfinite(retry_after):
            # The exponent is bounded so a long outage cannot overflow the float; the cap applies far earlier.
            retry_after = min(DEFAULT_PAUSE_SECONDS * 2.0 ** min(failures - 1, 16), MAX_TOKEN_PAUSE_SECONDS)
        self.pause(key, retry_after)

    def token_granted(self, key: str) -> None:
        """Reset the doubling: the next failed token request pauses the connection for the shortest time again.

        :param key: the connection's key.
        """
        self._token_failures.pop(key, None)

    def resume(self, key: str) -> None:
        """Lift ``key``'s pause: Zoho answered normally, so whatever pause was noted has served its purpose.

        :param key: the connection's key.
        """
        self._paused_until.pop(key, None)

    def remaining(self, key: str) -> float:
        """Return how long pollers of ``key`` must still hold off.

        :param key: the connection's key.
        :return: the seconds left of its pause, 0.0 when it has none.
        """
        until = self._paused_until.get(key)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._paused_until[key]  # expired pauses do not pile up for connections no longer used
            return 0.0
        return left

    def slot(self, key: str, limit: int) -> asyncio.Semaphore:
        """Return the running loop's gate for ``key``: at most ``limit`` requests of the connection in flight.

        Per loop, because an asyncio semaphore belongs to one loop; a triggerer has one loop for all triggers.

        :param key: the connection's key.
        :param limit: the connection's ``max_concurrent_requests``; read when the gate is first made only.
        :return: the semaphore every request of the connection on this loop acquires.
        """
        per_loop = self._slots.setdefault(asyncio.get_running_loop(), {})
        gate = per_loop.get(key)
        if gate is None:
            gate = per_loop[key] = asyncio.Semaphore(limit)
        return gate

    def clear(self) -> None:
        """Forget every pause, failure count and gate; the tests reset the shared ``THROTTLE`` with it."""
        self._paused_until.clear()
        self._token_failures.clear()
        self._slots.clear()


THROTTLE = Throttle()
