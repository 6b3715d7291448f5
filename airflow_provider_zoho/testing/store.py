"""The emulator's state: OAuth clients and tokens, registered jobs, counters and the request log.

Every piece of mutable state lives in one :class:`Store` behind one ``threading.Lock``: handlers run on
the server's event-loop thread while tests read counters from theirs.  No await ever happens while the
lock is held, and every lookup is a dict/set hit, so the server stays O(1) per request with thousands of
jobs and pollers.  The store speaks in :class:`~airflow_provider_zoho.testing.dialects.Answer` values and
faults, never in HTTP: turning those into responses is :mod:`airflow_provider_zoho.testing.server`'s job.
"""

from __future__ import annotations

import collections
import contextlib
import secrets
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_zoho.testing.dialects import Answer, EmulatedProduct, JobSpec, Step
from airflow_provider_zoho.testing.faults import Fault
from airflow_provider_zoho.testing.oauth_scopes import DEFAULT_SCOPES

__all__ = [
    "DEFAULT_LIVE_TOKEN_LIMIT",
    "REQUEST_LOG_SIZE",
    "THROTTLE_BODY",
    "GrantCode",
    "JobTable",
    "Poll",
    "ReceivedRequest",
    "Store",
    "new_token",
]

# Zoho's accounts server lets at most this many access tokens per refresh token be live; the next one
# issued invalidates the oldest (https://www.zoho.com/accounts/protocol/oauth/token-limits.html).
DEFAULT_LIVE_TOKEN_LIMIT = 15
#: What the accounts server answers, with HTTP 200, past its token-request limit.
THROTTLE_BODY = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some time.",
}
REQUEST_LOG_SIZE = 10_000  # requests the log keeps by default (the oldest are dropped)


def new_token() -> str:
    """Return a new random token in Zoho's shape (``1000.<32 hex>.<32 hex>``), access or refresh alike.

    :return: the token.
    """
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as the emulator received it (see ``ZohoEmulator.received_requests``).

    ``headers`` keeps the client's spelling of each name (repeated headers joined with ``", "``); use
    :meth:`header` for a case-insensitive lookup.  ``body`` is the first 64 KiB of the body.

    :param method: the HTTP method.
    :param path: the path, without the query string.
    :param query_string: the raw query string (see :attr:`query` for it parsed).
    :param headers: the headers by name, in the client's spelling.
    :param body: the start of the body.
    """

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, str]:
        """The query string's parameters (the last value of a repeated one)."""
        return dict(urllib.parse.parse_qsl(self.query_string, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        """Return the value of header ``name`` in any letter case.

        :param name: the header's name, in any case.
        :return: the value, or None when the request has no such header.
        """
        folded = name.casefold()
        return next((value for key, value in self.headers.items() if key.casefold() == folded), None)


@dataclass(slots=True)
class _Token:
    refresh_token: str
    expires_at: float  # time.monotonic() deadline
    scopes: tuple[str, ...]  # what it was granted


@dataclass(frozen=True, slots=True)
class GrantCode:
    """A Self Client grant code waiting to be exchanged (``grant_type=authorization_code``).

    :param client_id: the only client the code works for.
    :param refresh_token: the refresh token the exchange yields (and registers, when ``offline``).
    :param offline: ``access_type=offline``: the answer carries the refresh token.
    :param expires_at: a ``time.monotonic()`` deadline; None: the code never expires.
    :param scopes: the scopes the code was generated with, which its tokens carry.
    """

    client_id: str
    refresh_token: str
    offline: bool
    expires_at: float | None
    scopes: tuple[str, ...] = DEFAULT_SCOPES


@dataclass(slots=True)
class _JobState:
    """A job plus its position in its script; ``current`` is the last state step consumed."""

    spec: JobSpec
    current: str
    position: int = 0


@dataclass(frozen=True, slots=True)
class Poll:
    """The step a status GET consumed, captured under the lock and acted upon outside it.

    :param spec: the job polled.
    :param step: the script step this GET consumed: a state to report or a fault to play.
    :param current: the job's state after this step (a fault step leaves the previous one).
    """

    spec: JobSpec
    step: Step
    current: str


class JobTable(Protocol):
    """The part of :class:`Store` the job-creating endpoints use (typed so they need no ``Store`` to test)."""

    def add_job(self, spec: JobSpec, product: EmulatedProduct) -> None:
        """Register a job whose status GETs walk its script (see :meth:`Store.add_job`)."""
        ...

    def token_valid(self, token: str | None) -> bool:
        """Tell whether ``token`` is a live access token (see :meth:`Store.token_valid`)."""
        ...

    def job_state(self, kind: str, job_id: str) -> str | None:
        """Return the state a job last reported (see :meth:`Store.job_state`)."""
        ...


class Store:
    """All mutable emulator state, guarded by one lock (see the module docstring).

    Attributes are read and written under :attr:`lock`; the methods take it themselves.

    :param token_ttl: the seconds an issued access token stays valid.
    :param token_limit_per_window: token requests granted per refresh token per window.
    :param token_window_seconds: the length of that window, a sliding one.
    :param live_token_limit: access tokens per refresh token that may be valid at once.
    :param request_log_size: the requests the log keeps (the oldest are dropped).
    """

    def __init__(
        self,
        token_ttl: float,
        token_limit_per_window: int,
        token_window_seconds: float,
        live_token_limit: int,
        request_log_size: int,
    ) -> None:
        """Start with no clients, tokens or jobs and every counter at zero."""
        self.lock = threading.Lock()
        self.token_ttl = token_ttl
        self.token_limit_per_window = token_limit_per_window
        self.token_window_seconds = token_window_seconds
        self.live_token_limit = live_token_limit
        self.base_url = ""
        # accounts
        self.client_secrets: dict[str, str] = {}
        self.refresh_owner: dict[str, str] = {}  # refresh token -> client_id
        self.refresh_scopes: dict[str, tuple[str, ...]] = {}  # refresh token -> the scopes it grants
        self.grant_codes: dict[str, GrantCode] = {}
        self.tokens: dict[str, _Token] = {}
        self.live_tokens: dict[str, collections.deque[str]] = {}  # refresh token -> live access tokens
        self.issue_times: dict[str, collections.deque[float]] = {}  # refresh token -> issue instants
        self.issued: list[str] = []
        self.account_script: collections.deque[Fault] = collections.deque()
        # jobs
        self.jobs: dict[tuple[str, str], _JobState] = {}
        self.scopes: set[tuple[str, tuple[str, ...], tuple[str | None, ...]]] = set()
        # counters
        self.token_total = 0
        self.token_by_refresh: collections.Counter[str] = collections.Counter()
        self.status_total = 0
        self.status_by_job: collections.Counter[str] = collections.Counter()
        self.open_connections = 0
        self.max_connections = 0
        self.requests: collections.deque[ReceivedRequest] = collections.deque(maxlen=request_log_size)
        # Zoho's concurrency limit per app (CRM: 5 to 25 calls in flight by edition); None: not enforced.
        self.concurrency_limit: int | None = None
        self.in_flight: collections.Counter[str] = collections.Counter()  # client id -> status GETs in flight
        self.max_in_flight = 0
        self.over_concurrency = 0  # status GETs answered 429 for passing the limit

    # -- accounts ---------------------------------------------------------------------------------------
    def add_client(
        self, client_id: str, client_secret: str, refresh_token: str, scopes: tuple[str, ...] = DEFAULT_SCOPES
    ) -> None:
        """Register an OAuth client (or change its secret) and give it ``refresh_token``.

        :param client_id: the client's id.
        :param client_secret: its secret, which every token request must present.
        :param refresh_token: a refresh token the client owns from now on.
        :param scopes: the scopes the refresh token grants (its access tokens carry them).
        """
        with self.lock:
            self.client_secrets[client_id] = client_secret
            self.refresh_owner[refresh_token] = client_id
            self.refresh_scopes[refresh_token] = scopes

    def add_grant_code(self, code: str, grant: GrantCode) -> None:
        """Make ``code`` exchangeable once for ``grant``.

        :param code: the grant code a client will send.
        :param grant: what the exchange yields, and for which client.
        :raises ValueError: the grant's client is not registered.
        """
        with self.lock:
            if grant.client_id not in self.client_secrets:
                raise ValueError(f"client {grant.client_id!r} is not registered: add_client() it first")
            self.grant_codes[code] = grant

    def script_accounts(self, faults: list[Fault]) -> None:
        """Replace the accounts-server script: each fault answers one token request, in order.

        :param faults: the faults, already checked to be accounts faults.
        """
        with self.lock:
            self.account_script = collections.deque(faults)

    def token_request(self, params: Mapping[str, str]) -> Answer | Fault:
        """Decide one POST to the token endpoint atomically (Zoho always answers these with HTTP 200).

        A scripted fault comes back for the server to answer, except ``odd_expiry``, which issues a real
        token and so is answered here, under the lock.

        :param params: the request's parameters, query string and form body merged.
        :return: the answer, or the scripted fault to play instead.
        """
        refresh_token = params.get("refresh_token")
        now = time.monotonic()
        with self.lock:
            self.token_total += 1
            if refresh_token is not None:
                self.token_by_refresh[refresh_token] += 1
            if self.account_script:
                fault = self.account_script.popleft()
                if fault.kind != "odd_expiry":
                    return fault
                return Answer(200, {**self._issue(refresh_token or "", now), "expires_in": fault.value})
            grant_type = params.get("grant_type")
            if grant_type not in ("refresh_token", "authorization_code"):
                return Answer(200, {"error": "unsupported_grant_type"})
            client_id = params.get("client_id")
            secret = self.client_secrets.get(client_id) if client_id is not None else None
            if client_id is None or secret is None or params.get("client_secret") != secret:
                return Answer(200, {"error": "invalid_client"})
            if grant_type == "authorization_code":
                return Answer(200, self._redeem(params.get("code"), client_id, now))
            if refresh_token is None or self.refresh_owner.get(refresh_token) != client_id:
                return Answer(200, {"error": "invalid_code"})
            window = self.issue_times.setdefault(refresh_token, collections.deque())
            while window and now - window[0] >= self.token_window_seconds:
                window.popleft()
            if len(window) >= self.token_limit_per_window:
                return Answer(200, dict(THROTTLE_BODY))
            window.append(now)
            return Answer(200, self._issue(refresh_token, now))

    def _redeem(self, code: str | None, client_id: str, now: float) -> dict[str, Any]:
        """Exchange a grant code for tokens.

        A code works once, for its own client, until it expires; anything else is ``invalid_code``
        (HTTP 200, as Zoho answers it).
        """
        grant = self.grant_codes.get(code) if code is not None else None
        if code is None or grant is None or grant.client_id != client_id:
            return {"error": "invalid_code"}
        del self.grant_codes[code]
        if grant.expires_at is not None and grant.expires_at <= now:
            return {"error": "invalid_code"}
        issued = self._issue(grant.refresh_token, now, grant.scopes)
        if not grant.offline:  # Zoho's online access: an access token only
            return issued
        self.refresh_owner[grant.refresh_token] = client_id
        self.refresh_scopes[grant.refresh_token] = grant.scopes
        # Zoho's key order: access_token, refresh_token, scope, then the rest (``**issued`` keeps access_token first).
        return {"access_token": issued["access_token"], "refresh_token": grant.refresh_token, **issued}

    def _issue(self, refresh_token: str, now: float, scopes: tuple[str, ...] | None = None) -> dict[str, Any]:
        if scopes is None:
            scopes = self.refresh_scopes.get(refresh_token, DEFAULT_SCOPES)
        token = new_token()
        self.tokens[token] = _Token(refresh_token, now + self.token_ttl, scopes)
        live = self.live_tokens.setdefault(refresh_token, collections.deque())
        live.append(token)
        while len(live) > self.live_token_limit:
            self.tokens.pop(live.popleft(), None)
        self.issued.append(token)
        expires_in: float = self.token_ttl
        if float(self.token_ttl).is_integer():
            expires_in = int(self.token_ttl)
        # Zoho's token answer names the granted scopes, space-separated (its OAuth pages' samples).
        return {
            "access_token": token,
            "scope": " ".join(scopes),
            "api_domain": self.base_url,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }

    def token_valid(self, token: str | None) -> bool:
        """Tell whether ``token`` is a live access token (an expired one is dropped on the way).

        :param token: the access token a request carried, or None when it carried none.
        :return: True for a token issued, not expired, revoked or pushed out by newer ones.
        """
        if token is None:
            return False
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None:
                return False
            if entry.expires_at <= time.monotonic():
                self._drop_token(token, entry)
                return False
            return True

    def token_user(self, token: str | None) -> str | None:
        """Return who a live access token acts for: the refresh token (one user's grant) it was issued from.

        The export and bulk read endpoints answer a job only to the user who created it, and throttle per user.

        :param token: the access token a request carried, or None.
        :return: its refresh token; None for no token or one not live.
        """
        if token is None:
            return None
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None or entry.expires_at <= time.monotonic():
                return None
            return entry.refresh_token

    def granted_scopes(self, token: str | None) -> tuple[str, ...] | None:
        """Return the scopes a live access token carries.

        :param token: the access token a request carried, or None.
        :return: its scopes; None for no token or one not live (the handler answers it as invalid).
        """
        if token is None:
            return None
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None or entry.expires_at <= time.monotonic():
                return None
            return entry.scopes

    def revoke(self, token: str | None = None) -> None:
        """Invalidate one access token, or all of them.

        :param token: the token to invalidate; None: every token issued so far.
        """
        with self.lock:
            if token is None:
                self.tokens.clear()
                self.live_tokens.clear()
                return
            entry = self.tokens.get(token)
            if entry is not None:
                self._drop_token(token, entry)

    def _drop_token(self, token: str, entry: _Token) -> None:
        del self.tokens[token]
        live = self.live_tokens.get(entry.refresh_token)
        if live is not None:
            with contextlib.suppress(ValueError):
                live.remove(token)  # at most live_token_limit entries: bounded

    # -- jobs -------------------------------------------------------------------------------------------
    def count_status(self, job_id: str) -> None:
        """Count one status GET for ``job_id``, answered or not.

        :param job_id: the job id the request's path names.
        """
        with self.lock:
            self.status_total += 1
            self.status_by_job[job_id] += 1

    def poll(self, product: EmulatedProduct, job_id: str, coords: Mapping[str, str | None]) -> Poll | Answer:
        """Find the job a status GET names and consume one script step, or say why it is not there.

        :param product: the product whose status route the request came in on.
        :param job_id: the job id in the path.
        :param coords: the request's coordinates (workspace, org id, owner...) by the product's names.
        :return: the step consumed, or the product's error for a job or scope it does not know.
        """
        with self.lock:
            state = self.jobs.get((product.kind, job_id))
            if state is not None and all(state.spec.coordinates.get(n) == coords[n] for n in product.coordinates):
                script = state.spec.script
                index = min(state.position, len(script) - 1)
                state.position = index + 1
                step = script[index]
                if isinstance(step, str):
                    state.current = step
                return Poll(state.spec, step, state.current)
            for names, code in product.scopes:
                if (product.kind, names, tuple(coords[n] for n in names)) not in self.scopes:
                    return product.error(code)
        return product.not_found(job_id)

    def job_state(self, kind: str, job_id: str) -> str | None:
        """Return the state a job's status GETs last reported (its first state before any).

        :param kind: the job's kind.
        :param job_id: its id.
        :return: the state as its script spells it, or None for a job not registered.
        """
        with self.lock:
            state = self.jobs.get((kind, job_id))
            return None if state is None else state.current

    def add_job(self, spec: JobSpec, product: EmulatedProduct) -> None:
        """Register (or replace, restarting its script) a job, and the scopes its coordinates open.

        :param spec: the job, already validated against its product.
        :param product: its product, whose scopes (a workspace, an app...) the job makes known.
        """
        first_state = next((s for s in spec.script if isinstance(s, str)), product.initial_state)
        with self.lock:
            self.jobs[(spec.kind, spec.job_id)] = _JobState(spec, first_state)
            for names, _code in product.scopes:
                self.scopes.add((spec.kind, names, tuple(spec.coordinates.get(n) for n in names)))

    # -- concurrency ------------------------------------------------------------------------------------
    def set_concurrency_limit(self, limit: int | None) -> None:
        """Set the status GETs a client may have in flight at once.

        :param limit: the limit, already checked; None: not enforced.
        """
        with self.lock:
            self.concurrency_limit = limit

    def admit(self, token: str | None) -> tuple[bool, str | None]:
        """Decide whether a status GET may go on, and count it in flight for its client.

        A token that is not a known one counts for no client (it is answered as an invalid token). Past
        ``concurrency_limit`` for its client, a request is not admitted and counts among ``over_concurrency``.

        :param token: the access token the request carried.
        :return: whether it is admitted, and the client it now counts for (``release`` it once answered).
        """
        with self.lock:
            entry = self.tokens.get(token) if token is not None else None
            if entry is None:
                return True, None
            client = self.refresh_owner.get(entry.refresh_token, entry.refresh_token)
            if self.concurrency_limit is not None and self.in_flight[client] >= self.concurrency_limit:
                self.over_concurrency += 1
                return False, None
            self.in_flight[client] += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight[client])
            return True, client

    def release(self, client: str) -> None:
        """Count one of ``client``'s admitted status GETs as answered.

        :param client: the client :meth:`admit` returned.
        """
        with self.lock:
            self.in_flight[client] -= 1

    # -- connections ------------------------------------------------------------------------------------
    def connection_opened(self) -> None:
        """Count a TCP connection opened, and raise the high-water mark if need be."""
        with self.lock:
            self.open_connections += 1
            self.max_connections = max(self.max_connections, self.open_connections)

    def connection_closed(self) -> None:
        """Count a TCP connection closed."""
        with self.lock:
            self.open_connections -= 1

    # -- request log and counters -----------------------------------------------------------------------
    def record(self, request: ReceivedRequest) -> None:
        """Append a request to the bounded log.

        :param request: the request as received.
        """
        with self.lock:
            self.requests.append(request)

    def stats(self) -> dict[str, Any]:
        """Return the counters, as ``GET /__emulator__/stats`` reports them.

        :return: a JSON-able snapshot, taken under the lock.
        """
        with self.lock:
            return {
                "token_requests": self.token_total,
                "status_requests": self.status_total,
                "status_requests_by_job": dict(self.status_by_job),
                "max_concurrent_connections": self.max_connections,
                "open_connections": self.open_connections,
                "issued_tokens": len(self.issued),
                "concurrency_limit": self.concurrency_limit,
                "max_in_flight": self.max_in_flight,
                "in_flight": sum(self.in_flight.values()),
                "over_concurrency": self.over_concurrency,
            }

    def reset_counters(self) -> None:
        """Zero the request counters, the high-water marks and the request log; tokens and throttling stay."""
        with self.lock:
            self.token_total = 0
            self.token_by_refresh.clear()
            self.status_total = 0
            self.status_by_job.clear()
            self.max_connections = self.open_connections
            self.requests.clear()
            self.max_in_flight = max(self.in_flight.values(), default=0)
            self.over_concurrency = 0
