"""A real HTTP emulator of Zoho's accounts server and bulk-job status APIs (aiohttp.web on 127.0.0.1).

Why a server rather than mocks: the provider's hooks and triggers must be exercised through the same
sockets, connection pools, retries and JSON parsing they use in production.  Patching ``requests`` or
``aiohttp`` would test the patch.  The emulator is an *independent model* of Zoho: it imports nothing from
the rest of ``airflow_provider_zoho`` (and not airflow), so a misunderstanding in the provider cannot leak
into the model it is checked against.

Design:

* :class:`_Store` owns every piece of mutable state (clients, tokens, jobs, counters) behind one
  ``threading.Lock``: handlers run on the server's event-loop thread while tests read counters from
  theirs.  No await ever happens while the lock is held, and every lookup is a dict/set hit, so the
  server stays O(1) per request with thousands of jobs and pollers.
* What differs between Zoho products is data in :mod:`airflow_provider_zoho.testing.dialects`; what a
  hostile endpoint answers (redirects, echoes, bodies too big, slow or deep to read) is in
  :mod:`airflow_provider_zoho.testing.hostile`, streamed so the emulator's own memory stays flat.
* Every request received is kept (bounded) in a log, so tests can check what reached a host, e.g. a
  second emulator standing in for the host a redirect points at.
* :class:`ZohoEmulator` runs the aiohttp app on a private event loop in a daemon thread, so synchronous
  tests, async tests and other processes (via :mod:`airflow_provider_zoho.testing.__main__`) can all use it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import math
import secrets
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, NamedTuple, Self

from aiohttp import web

from airflow_provider_zoho.testing import hostile
from airflow_provider_zoho.testing.analytics_import import AnalyticsImports, ImportOutcomes
from airflow_provider_zoho.testing.bulk_write import BulkWrites, CreatedJob, Outcomes, Upload
from airflow_provider_zoho.testing.creator_insert import CreatorInserts
from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, Answer, EmulatedProduct, JobSpec, Step
from airflow_provider_zoho.testing.faults import ACCOUNT_FAULT_KINDS, JOB_FAULT_KINDS, Fault
from airflow_provider_zoho.testing.hostile import Stream
from airflow_provider_zoho.testing.incoming import access_token

__all__ = ["ClientCredentials", "ReceivedRequest", "ZohoEmulator", "airflow_connection_json"]

log = logging.getLogger(__name__)

EMULATED_TOKEN_PATH = "/oauth/v2/token"
ADMIN_PREFIX = "/__emulator__"
ANALYTICS_ORGS_PATH = "/restapi/v2/orgs"
# Zoho's accounts server lets at most this many access tokens per refresh token be live; the next one
# issued invalidates the oldest (ZOHO_API.md, "OAuth").
DEFAULT_LIVE_TOKEN_LIMIT = 15
_THROTTLE_BODY = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some time.",
}
_STARTUP_TIMEOUT = 10.0
REQUEST_LOG_SIZE = 10_000  # requests the log keeps by default (the oldest are dropped)
REQUEST_LOG_BODY_BYTES = 64 * 1024  # of each request body
# Uploads are zips of up to 25 MB: room for one, and for a test that sends one too large.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
_SHUTDOWN_TIMEOUT = 5.0


class ClientCredentials(NamedTuple):
    """An OAuth client registered with the emulator's accounts server."""

    client_id: str
    client_secret: str
    refresh_token: str


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as the emulator received it (see ``ZohoEmulator.received_requests``).

    ``headers`` keeps the client's spelling of each name (repeated headers joined with ``", "``); use
    :meth:`header` for a case-insensitive lookup.  ``body`` is the first 64 KiB of the body.
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
        """The value of header ``name`` in any letter case, or None."""
        folded = name.casefold()
        return next((value for key, value in self.headers.items() if key.casefold() == folded), None)


@dataclass(slots=True)
class _Token:
    refresh_token: str
    expires_at: float  # time.monotonic() deadline


@dataclass(frozen=True, slots=True)
class _GrantCode:
    """A Self Client grant code waiting to be exchanged (``grant_type=authorization_code``)."""

    client_id: str
    refresh_token: str
    offline: bool  # access_type=offline: the answer carries the refresh token
    expires_at: float | None  # time.monotonic() deadline; None: never expires


@dataclass(slots=True)
class _JobState:
    """A job plus its position in its script; ``current`` is the last state step consumed."""

    spec: JobSpec
    current: str
    position: int = 0


@dataclass(frozen=True, slots=True)
class _Poll:
    """The step a status GET consumed, captured under the lock and acted upon outside it."""

    spec: JobSpec
    step: Step
    current: str


class _Store:
    """All mutable emulator state, guarded by one lock (see the module docstring)."""

    def __init__(
        self,
        token_ttl: float,
        token_limit_per_window: int,
        token_window_seconds: float,
        live_token_limit: int,
        request_log_size: int,
    ) -> None:
        self.lock = threading.Lock()
        self.token_ttl = token_ttl
        self.token_limit_per_window = token_limit_per_window
        self.token_window_seconds = token_window_seconds
        self.live_token_limit = live_token_limit
        self.base_url = ""
        # accounts
        self.client_secrets: dict[str, str] = {}
        self.refresh_owner: dict[str, str] = {}  # refresh token -> client_id
        self.grant_codes: dict[str, _GrantCode] = {}
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
    def token_request(self, params: Mapping[str, str]) -> Answer | Fault:
        """One POST to the token endpoint, decided atomically (Zoho always answers these with HTTP 200).

        A scripted fault comes back for the server to answer, except ``odd_expiry``, which issues a real
        token and so is answered here, under the lock.
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
                return Answer(200, dict(_THROTTLE_BODY))
            window.append(now)
            return Answer(200, self._issue(refresh_token, now))

    def _redeem(self, code: str | None, client_id: str, now: float) -> dict[str, Any]:
        """Exchange a grant code for tokens. A code works once, for its own client, until it expires;
        anything else is ``invalid_code`` (HTTP 200, as Zoho answers it)."""
        grant = self.grant_codes.get(code) if code is not None else None
        if code is None or grant is None or grant.client_id != client_id:
            return {"error": "invalid_code"}
        del self.grant_codes[code]
        if grant.expires_at is not None and grant.expires_at <= now:
            return {"error": "invalid_code"}
        issued = self._issue(grant.refresh_token, now)
        if not grant.offline:  # Zoho's online access: an access token only
            return issued
        self.refresh_owner[grant.refresh_token] = client_id
        # Zoho's key order: access_token, refresh_token, then the rest (``**issued`` keeps access_token first).
        return {"access_token": issued["access_token"], "refresh_token": grant.refresh_token, **issued}

    def _issue(self, refresh_token: str, now: float) -> dict[str, Any]:
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self.tokens[token] = _Token(refresh_token, now + self.token_ttl)
        live = self.live_tokens.setdefault(refresh_token, collections.deque())
        live.append(token)
        while len(live) > self.live_token_limit:
            self.tokens.pop(live.popleft(), None)
        self.issued.append(token)
        expires_in: float = self.token_ttl
        if float(self.token_ttl).is_integer():
            expires_in = int(self.token_ttl)
        return {"access_token": token, "api_domain": self.base_url, "token_type": "Bearer", "expires_in": expires_in}

    def token_valid(self, token: str | None) -> bool:
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

    def revoke(self, token: str | None = None) -> None:
        """Invalidate one access token, or all of them when ``token`` is None."""
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
        with self.lock:
            self.status_total += 1
            self.status_by_job[job_id] += 1

    def poll(self, product: EmulatedProduct, job_id: str, coords: Mapping[str, str | None]) -> _Poll | Answer:
        """Find the job the request names and consume one script step, or say why it is not there."""
        with self.lock:
            state = self.jobs.get((product.kind, job_id))
            if state is not None and all(state.spec.coordinates.get(n) == coords[n] for n in product.coordinates):
                script = state.spec.script
                index = min(state.position, len(script) - 1)
                state.position = index + 1
                step = script[index]
                if isinstance(step, str):
                    state.current = step
                return _Poll(state.spec, step, state.current)
            for names, code in product.scopes:
                if (product.kind, names, tuple(coords[n] for n in names)) not in self.scopes:
                    return product.error(code)
        return product.not_found(job_id)

    def job_state(self, kind: str, job_id: str) -> str | None:
        """The state a job's status GETs last reported (its first state before any), or None if unknown."""
        with self.lock:
            state = self.jobs.get((kind, job_id))
            return None if state is None else state.current

    def add_job(self, spec: JobSpec, product: EmulatedProduct) -> None:
        first_state = next((s for s in spec.script if isinstance(s, str)), product.initial_state)
        with self.lock:
            self.jobs[(spec.kind, spec.job_id)] = _JobState(spec, first_state)
            for names, _code in product.scopes:
                self.scopes.add((spec.kind, names, tuple(spec.coordinates.get(n) for n in names)))

    # -- concurrency ------------------------------------------------------------------------------------
    def admit(self, token: str | None) -> tuple[bool, str | None]:
        """Whether a status GET may go on, and the client it now counts as in flight for (``release`` it).

        A token that is not a known one counts for no client (it is answered as an invalid token). Past
        ``concurrency_limit`` for its client, a request is not admitted and counts among ``over_concurrency``.
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
        with self.lock:
            self.in_flight[client] -= 1

    # -- connections ------------------------------------------------------------------------------------
    def connection_opened(self) -> None:
        with self.lock:
            self.open_connections += 1
            self.max_connections = max(self.max_connections, self.open_connections)

    def connection_closed(self) -> None:
        with self.lock:
            self.open_connections -= 1

    # -- request log and counters -----------------------------------------------------------------------
    def record(self, request: ReceivedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def stats(self) -> dict[str, Any]:
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
        with self.lock:
            self.token_total = 0
            self.token_by_refresh.clear()
            self.status_total = 0
            self.status_by_job.clear()
            self.max_connections = self.open_connections
            self.requests.clear()
            self.max_in_flight = max(self.in_flight.values(), default=0)
            self.over_concurrency = 0


def _account_fault_answer(fault: Fault) -> Answer:
    """What the accounts server answers for one of Zoho's own faults (HTTP 200 except server_error)."""
    if fault.kind == "server_error":
        status = fault.status if fault.status is not None else 500
        if fault.html:
            return Answer(status, _html_page(status), content_type="text/html")
        return Answer(status, {"error": "internal_error"})  # *unverified*: accounts' JSON 5xx body
    body: dict[str, Any] = {
        "throttle": dict(_THROTTLE_BODY),
        "invalid_code": {"error": "invalid_code"},
        "invalid_client": {"error": "invalid_client"},
    }[fault.kind]
    return Answer(200, body)


def _html_page(status: int) -> str:
    return f"<!DOCTYPE html><html><body><h1>{status} Error</h1></body></html>"


def _to_response(answer: Answer) -> web.Response:
    headers = dict(answer.headers)
    if isinstance(answer.body, str):
        return web.Response(status=answer.status, text=answer.body, content_type=answer.content_type, headers=headers)
    return web.Response(
        status=answer.status,
        body=json.dumps(answer.body).encode(),
        content_type=answer.content_type,
        charset="utf-8",
        headers=headers,
    )


async def _send(request: web.Request, answer: Answer | Stream) -> web.StreamResponse:
    """Answer the request; a :class:`Stream` is written chunk by chunk, with the backpressure of the socket."""
    if isinstance(answer, Answer):
        return _to_response(answer)
    response = web.StreamResponse(status=answer.status, headers=dict(answer.headers))
    response.content_type = answer.content_type
    if answer.length is None:
        response.enable_chunked_encoding()
    else:
        response.content_length = answer.length
    try:
        await response.prepare(request)
        for index, chunk in enumerate(answer.chunks):
            if index and answer.interval:
                await asyncio.sleep(answer.interval)
            await response.write(chunk)
        await response.write_eof()
    except ConnectionError:
        # The client went away mid-answer: for a hostile answer that is the expected end, not an error.
        # Its socket is closing, so aiohttp writes nothing more.
        pass
    return response


def _request_headers(request: web.Request) -> dict[str, str]:
    """The request's headers as a plain dict, in the client's spelling; repeated ones joined."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _abort_connection(request: web.Request) -> None:
    """Drop the TCP connection with an RST so the client sees a connection error, not an HTTP answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


# A fault handler: (product, poll, request) -> the answer (None once the connection has been dropped).
_FaultHandler = Callable[[EmulatedProduct, _Poll, web.Request, "_Server"], Awaitable[Answer | Stream | None]]


async def _fault_rate_limited(product: EmulatedProduct, p: _Poll, _r: web.Request, _s: _Server) -> Answer:
    assert isinstance(p.step, Fault)
    return product.rate_limited(p.step.retry_after)


async def _fault_server_error(product: EmulatedProduct, p: _Poll, _r: web.Request, _s: _Server) -> Answer:
    assert isinstance(p.step, Fault)
    return product.server_error(p.step.status, p.step.html)


async def _fault_reset(_product: EmulatedProduct, _p: _Poll, r: web.Request, _s: _Server) -> None:
    _abort_connection(r)


async def _fault_slow(product: EmulatedProduct, p: _Poll, _r: web.Request, _s: _Server) -> Answer:
    # The step was consumed before sleeping, so concurrent pollers are never blocked and the next poll
    # moves on in the script; the slow answer reports the job's current state.
    assert isinstance(p.step, Fault)
    await asyncio.sleep(p.step.effective_delay)
    return product.state(p.spec, p.current)


async def _fault_non_json(_product: EmulatedProduct, _p: _Poll, _r: web.Request, _s: _Server) -> Answer:
    return Answer(200, "Service is temporarily unavailable; this is not JSON.", content_type="text/plain")


async def _fault_missing_fields(product: EmulatedProduct, _p: _Poll, _r: web.Request, _s: _Server) -> Answer:
    return product.missing_fields()


async def _fault_invalid_token(product: EmulatedProduct, _p: _Poll, r: web.Request, s: _Server) -> Answer:
    s.store.revoke(access_token(r))
    return product.invalid_token()


async def _fault_error(product: EmulatedProduct, p: _Poll, _r: web.Request, _s: _Server) -> Answer:
    assert isinstance(p.step, Fault)
    assert p.step.code is not None
    return product.error(p.step.code, p.step.status)


async def _fault_expired(product: EmulatedProduct, p: _Poll, _r: web.Request, _s: _Server) -> Answer:
    # The summary is gone: every product answers as for an unknown job (Analytics: jobCode 1005).
    return product.not_found(p.spec.job_id)


async def _hostile_anywhere(fault: Fault) -> Answer | Stream:
    """The hostile faults that answer alike on every endpoint (all but ``echo``, whose answer differs)."""
    if fault.kind == "redirect":
        return hostile.redirect(fault)
    if fault.kind == "huge":
        return hostile.huge(fault)
    if fault.kind == "drip":
        return hostile.drip(fault)
    if fault.kind == "deep_json":
        return hostile.deep_json(fault)
    assert fault.kind == "gzip_bomb", fault
    compressed = await asyncio.get_running_loop().run_in_executor(None, hostile.gzip_bomb_bytes, fault.effective_size)
    return hostile.gzip_bomb(compressed)


async def _fault_hostile(_product: EmulatedProduct, p: _Poll, _r: web.Request, _s: _Server) -> Answer | Stream:
    assert isinstance(p.step, Fault)
    return await _hostile_anywhere(p.step)


async def _fault_echo(product: EmulatedProduct, p: _Poll, r: web.Request, _s: _Server) -> Answer:
    assert isinstance(p.step, Fault)
    headers = _request_headers(r)
    if p.step.status is not None and p.step.status >= 400:
        return hostile.echo_error(product, p.step, headers)
    # ``value`` may name the state to answer, so a final answer (a COMPLETED job) can carry the echo too.
    normal = product.state(p.spec, p.step.value if isinstance(p.step.value, str) else p.current)
    if p.step.status is not None:
        normal = dataclasses.replace(normal, status=p.step.status)
    return hostile.with_echo(product, normal, headers, await r.read())


async def _fault_huge_count(product: EmulatedProduct, p: _Poll, _r: web.Request, _s: _Server) -> Stream:
    assert isinstance(p.step, Fault)
    return hostile.huge_counts(product, product.state(p.spec, p.current), p.step.effective_size)


_FAULT_HANDLERS: Mapping[str, _FaultHandler] = {
    "rate_limited": _fault_rate_limited,
    "server_error": _fault_server_error,
    "reset": _fault_reset,
    "slow": _fault_slow,
    "non_json": _fault_non_json,
    "missing_fields": _fault_missing_fields,
    "invalid_token": _fault_invalid_token,
    "error": _fault_error,
    "expired": _fault_expired,
    "echo": _fault_echo,
    "huge_count": _fault_huge_count,
    **dict.fromkeys(("redirect", "huge", "gzip_bomb", "drip", "deep_json"), _fault_hostile),
}
assert set(_FAULT_HANDLERS) == JOB_FAULT_KINDS


@web.middleware
async def _zoho_json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A wrong path or method gets Zoho's JSON error (as CRM writes it), not aiohttp's plain text."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed:
        code, status = "INVALID_REQUEST_METHOD", 400
    except web.HTTPNotFound:
        code, status = "INVALID_URL_PATTERN", 404
    return _to_response(EMULATED_PRODUCTS["crm_bulk_write"].error(code, status))


class _Server:
    """The aiohttp application: request handlers that translate HTTP to :class:`_Store` calls."""

    def __init__(self, store: _Store, emulator: ZohoEmulator) -> None:
        self.store = store
        self.emulator = emulator

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.record, _zoho_json_errors], client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post(EMULATED_TOKEN_PATH, self.token)
        self.emulator.writes.add_routes(app)
        self.emulator.analytics_imports.add_routes(app)
        self.emulator.creator_inserts.add_routes(app)
        app.router.add_post(f"{ADMIN_PREFIX}/creator_insert", self.admin_creator_insert)
        app.router.add_post(f"{ADMIN_PREFIX}/analytics_import", self.admin_analytics_import)
        app.router.add_post(f"{ADMIN_PREFIX}/bulk_write", self.admin_bulk_write)
        for product in EMULATED_PRODUCTS.values():
            app.router.add_get(product.route, self._status_handler(product))
        app.router.add_get(ANALYTICS_ORGS_PATH, self.analytics_orgs)
        app.router.add_post(f"{ADMIN_PREFIX}/clients", self.admin_clients)
        app.router.add_post(f"{ADMIN_PREFIX}/grant_codes", self.admin_grant_codes)
        app.router.add_post(f"{ADMIN_PREFIX}/jobs", self.admin_jobs)
        app.router.add_post(f"{ADMIN_PREFIX}/accounts", self.admin_accounts)
        app.router.add_get(f"{ADMIN_PREFIX}/stats", self.admin_stats)
        app.router.add_post(f"{ADMIN_PREFIX}/concurrency", self.admin_concurrency)
        app.router.add_post(f"{ADMIN_PREFIX}/reset_counters", self.admin_reset_counters)
        app.router.add_post(f"{ADMIN_PREFIX}/revoke_tokens", self.admin_revoke_tokens)
        return app

    @web.middleware
    async def record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Log every request before it is handled (the body is read once here; aiohttp caps it at 1 MiB)."""
        body = b""
        try:
            if request.body_exists:
                body = await request.read()
        finally:
            self.store.record(
                ReceivedRequest(
                    request.method,
                    request.path,
                    request.query_string,
                    _request_headers(request),
                    body[:REQUEST_LOG_BODY_BYTES],
                )
            )
        return await handler(request)

    async def token(self, request: web.Request) -> web.StreamResponse:
        params = {k: v for k, v in request.query.items()}
        if request.body_exists:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        outcome = self.store.token_request(params)
        if isinstance(outcome, Answer):
            return _to_response(outcome)
        answer = await self._account_fault(outcome, request)
        return self._dropped(request) if answer is None else await _send(request, answer)

    async def _account_fault(self, fault: Fault, request: web.Request) -> Answer | Stream | None:
        """The accounts server's answer to a scripted fault; None once the connection has been dropped."""
        if fault.kind == "reset":
            _abort_connection(request)
            return None
        if fault.kind == "echo":
            status = fault.status if fault.status is not None else 500
            return hostile.echo_page(
                status, f"{request.method} {request.path_qs}", _request_headers(request), await request.read()
            )
        if fault.kind == "bad_token":
            return Answer(200, hostile.bad_token_body(fault, self.store.base_url))
        if fault.kind in ("throttle", "invalid_code", "invalid_client", "server_error"):
            return _account_fault_answer(fault)
        return await _hostile_anywhere(fault)

    def _status_handler(self, product: EmulatedProduct) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            # In flight from here until the answer is built: a client gets its answer only after that,
            # so a client that never has more than N requests open is never over a limit of N.
            admitted, client = self.store.admit(access_token(request))
            if not admitted:
                self.store.count_status(request.match_info["job_id"])
                return _to_response(product.rate_limited(None))
            try:
                return await self.status(product, request)
            finally:
                if client is not None:
                    self.store.release(client)

        return handler

    async def analytics_orgs(self, request: web.Request) -> web.StreamResponse:
        """Analytics' "Get Org List" (zoho/analytics-okf): the organizations the token's user belongs to."""
        analytics = EMULATED_PRODUCTS["analytics_import"]
        if not self.store.token_valid(access_token(request)):
            return _to_response(analytics.invalid_token())
        if self.emulator.analytics_orgs_refusal is not None:
            return _to_response(analytics.error(analytics.coerce_code(self.emulator.analytics_orgs_refusal)))
        orgs = [
            {"orgId": org_id, "orgName": f"Org {org_id}", "isDefault": n == 0, "role": "Account Admin"}
            for n, org_id in enumerate(sorted(self.emulator.analytics_orgs))
        ]
        return web.json_response({"status": "success", "summary": "Get organizations", "data": {"orgs": orgs}})

    async def status(self, product: EmulatedProduct, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        self.store.count_status(job_id)
        if not self.store.token_valid(access_token(request)):
            return _to_response(product.invalid_token())
        if product.required_header is not None and not request.headers.get(product.required_header):
            assert product.missing_header_code is not None
            return _to_response(product.error(product.missing_header_code))
        coords = {
            name: (request.match_info[key] if where == "path" else request.headers.get(key) or None)
            for name, (where, key) in product.coordinates.items()
        }
        outcome = self.store.poll(product, job_id, coords)
        if isinstance(outcome, Answer):
            return _to_response(outcome)
        if isinstance(outcome.step, str):
            return _to_response(product.state(outcome.spec, outcome.step))
        answer = await _FAULT_HANDLERS[outcome.step.kind](product, outcome, request, self)
        return self._dropped(request) if answer is None else await _send(request, answer)

    @staticmethod
    def _dropped(request: web.Request) -> web.StreamResponse:
        # aiohttp notices the closed transport and skips writing; the client gets an RST.
        _abort_connection(request)
        return web.Response(status=500)

    # -- admin API: lets tests and demos in another process script the emulator ----------------------
    async def admin_clients(self, request: web.Request) -> web.Response:
        async def apply(payload: Any) -> None:
            for item in payload if isinstance(payload, list) else [payload]:
                self.emulator.add_client(item["client_id"], item["client_secret"], item["refresh_token"])

        return await self._admin(request, apply)

    async def admin_grant_codes(self, request: web.Request) -> web.Response:
        async def apply(payload: Any) -> dict[str, Any]:
            items = payload if isinstance(payload, list) else [payload]
            for item in items:  # all checked before any is added: a bad item must not half-apply
                if not isinstance(item, dict) or not isinstance(item.get("code"), str):
                    raise ValueError(f"a grant code must be an object with a 'code' string, got {item!r}")
            return {"refresh_tokens": [self.emulator.add_grant_code(**item) for item in items]}

        return await self._admin(request, apply)

    async def admin_jobs(self, request: web.Request) -> web.Response:
        async def apply(payload: Any) -> None:
            self.emulator.add_jobs(payload if isinstance(payload, list) else [payload])

        return await self._admin(request, apply)

    async def admin_accounts(self, request: web.Request) -> web.Response:
        async def apply(payload: Any) -> None:
            self.emulator.script_accounts(payload)

        return await self._admin(request, apply)

    async def admin_bulk_write(self, request: web.Request) -> web.Response:
        async def apply(payload: Any) -> None:
            self.emulator.set_bulk_write_outcomes(Outcomes.from_json(payload))

        return await self._admin(request, apply)

    async def admin_analytics_import(self, request: web.Request) -> web.Response:
        async def apply(payload: Any) -> None:
            self.emulator.analytics_imports.outcomes = ImportOutcomes.from_json(payload)

        return await self._admin(request, apply)

    async def admin_creator_insert(self, request: web.Request) -> web.Response:
        async def apply(payload: Any) -> None:
            self.emulator.creator_inserts.set_outcomes(payload)

        return await self._admin(request, apply)

    async def admin_concurrency(self, request: web.Request) -> web.Response:
        async def apply(payload: Any) -> None:
            if not isinstance(payload, dict) or set(payload) != {"limit"}:
                raise ValueError(f'expected {{"limit": N}} or {{"limit": null}}, got {payload!r}')
            self.emulator.set_concurrency_limit(payload["limit"])

        return await self._admin(request, apply)

    async def admin_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.store.stats())

    async def admin_reset_counters(self, _request: web.Request) -> web.Response:
        self.store.reset_counters()
        return web.json_response({"ok": True})

    async def admin_revoke_tokens(self, _request: web.Request) -> web.Response:
        self.store.revoke()
        return web.json_response({"ok": True})

    @staticmethod
    async def _admin(request: web.Request, apply: Callable[[Any], Awaitable[Mapping[str, Any] | None]]) -> web.Response:
        try:
            result = await apply(await request.json())
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response({"ok": True, **(result or {})})


class ZohoEmulator:
    """A Zoho accounts server plus the four bulk-job status APIs, served over real HTTP.

    ``start()`` runs it on a private event loop in a daemon thread and returns once it listens;
    ``base_url`` is then the single host every Zoho host (accounts, API, Analytics) maps to.
    """

    DEFAULT_CLIENT: ClassVar[ClientCredentials] = ClientCredentials(
        "test-client-id", "test-client-secret", "test-refresh-token"
    )

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl: float = 3600,
        token_limit_per_window: int = 10,
        token_window_seconds: float = 600,
        live_token_limit: int = DEFAULT_LIVE_TOKEN_LIMIT,
        request_log_size: int = REQUEST_LOG_SIZE,
        concurrency_limit: int | None = None,
    ) -> None:
        if (
            token_ttl <= 0
            or token_limit_per_window < 1
            or token_window_seconds <= 0
            or live_token_limit < 1
            or request_log_size < 1
        ):
            raise ValueError(
                "token_ttl, token_limit_per_window, token_window_seconds, live_token_limit and request_log_size"
                " must be > 0"
            )
        self.host = host
        self.port = port
        self._store = _Store(
            token_ttl, token_limit_per_window, token_window_seconds, live_token_limit, request_log_size
        )
        self.set_concurrency_limit(concurrency_limit)
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self.writes = BulkWrites(self._store)
        self.analytics_imports = AnalyticsImports(self._store)
        self.creator_inserts = CreatorInserts(self._store)
        self._download_url: str | None = None
        #: The Analytics organizations the token's user belongs to (``GET /restapi/v2/orgs``).
        self.analytics_orgs: set[str] = set()
        #: An Analytics error code to answer that list with instead (a token without the scope to list).
        self.analytics_orgs_refusal: int | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Start serving in a background thread; returns once the socket listens (idempotent)."""
        with self._lifecycle:
            if self._thread is not None:
                return self
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(target=self._run, args=(ready, failure), name="zoho-emulator", daemon=True)
            thread.start()
            if not ready.wait(_STARTUP_TIMEOUT):
                raise RuntimeError("Zoho emulator did not start listening in time")
            if failure:
                thread.join(_SHUTDOWN_TIMEOUT)
                raise RuntimeError(f"Zoho emulator failed to start: {failure[0]!r}") from failure[0]
            self._thread = thread
            return self

    def stop(self) -> None:
        """Stop serving and join the thread; bounded in time and safe to call repeatedly."""
        with self._lifecycle:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(loop.stop)
            thread.join(_SHUTDOWN_TIMEOUT * 2)
            if thread.is_alive():
                log.warning("Zoho emulator thread did not stop within %.0f s", _SHUTDOWN_TIMEOUT * 2)
            self._thread = None
            self._loop = None
            self._base_url = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
                # A gzip bomb being compressed in the default executor: finish it, leave no thread behind.
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self) -> None:
        runner = web.AppRunner(
            _Server(self._store, self).make_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=0.25,  # in-flight "slow" answers must not delay stop()
        )
        await runner.setup()
        self._count_connections(runner)
        site = web.TCPSite(runner, self.host, self.port, backlog=4096, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._base_url = f"http://{host}:{bound_port}"
        self._store.base_url = self._base_url
        # Result links point at the emulator itself: Zoho's download hosts are trusted as Zoho domains, and the
        # emulator's stand-in for them is trusted as the connection's host, at its exact scheme, host and port
        # (``token_may_go_to``). ``set_download_base`` points them elsewhere.
        self._download_url = self._base_url
        self.writes.download_base = self._download_url

    def _count_connections(self, runner: web.AppRunner) -> None:
        """Wrap the low-level server's connection hooks, which aiohttp calls once per TCP connection."""
        server = runner.server
        assert server is not None
        made, lost = server.connection_made, server.connection_lost
        store = self._store

        def connection_made(handler: Any, transport: Any) -> None:
            store.connection_opened()
            made(handler, transport)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            store.connection_closed()
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    async def _shutdown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                await asyncio.wait_for(runner.cleanup(), _SHUTDOWN_TIMEOUT)
            except (TimeoutError, Exception):
                log.warning("Zoho emulator cleanup did not finish cleanly", exc_info=True)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=_SHUTDOWN_TIMEOUT)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._base_url is None:
            raise RuntimeError("the Zoho emulator is not running; call start() first")
        return self._base_url

    def airflow_connection(self, client: ClientCredentials | None = None, **extra: Any) -> str:
        """A ``zoho`` connection to this emulator, as the JSON an ``AIRFLOW_CONN_<ID>`` variable holds."""
        return airflow_connection_json(self.base_url, client, **extra)

    # -- accounts ---------------------------------------------------------------------------------------
    def add_client(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        """Register an OAuth client and one of its refresh tokens (a client may own several)."""
        for name, value in (
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("refresh_token", refresh_token),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        with self._store.lock:
            self._store.client_secrets[client_id] = client_secret
            self._store.refresh_owner[refresh_token] = client_id

    def add_grant_code(
        self,
        code: str,
        client_id: str = DEFAULT_CLIENT.client_id,
        refresh_token: str | None = None,
        expires_in: float | None = None,
        offline: bool = True,
    ) -> str:
        """Give a registered client a Self Client grant code; returns the refresh token it will yield.

        The code works once with ``grant_type=authorization_code`` (then, or once ``expires_in`` seconds
        have passed, it is ``invalid_code``); the refresh token it yields then works with the refresh-token
        grant. ``refresh_token`` defaults to a new Zoho-shaped one; ``offline=False`` plays a code granted
        for online access, whose answer holds no refresh token.
        """
        if not isinstance(code, str) or not code:
            raise ValueError(f"code must be a non-empty string, got {code!r}")
        if refresh_token is None:
            refresh_token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        if not isinstance(refresh_token, str) or not refresh_token:
            raise ValueError(f"refresh_token must be a non-empty string, got {refresh_token!r}")
        if expires_in is not None and (
            isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not 0 <= expires_in < math.inf
        ):
            raise ValueError(f"expires_in must be a number of seconds >= 0 (or None: never), got {expires_in!r}")
        if not isinstance(offline, bool):
            raise ValueError(f"offline must be true or false, got {offline!r}")
        expires_at = None if expires_in is None else time.monotonic() + expires_in
        with self._store.lock:
            if client_id not in self._store.client_secrets:
                raise ValueError(f"client {client_id!r} is not registered: add_client() it first")
            self._store.grant_codes[code] = _GrantCode(client_id, refresh_token, offline, expires_at)
        return refresh_token

    def script_accounts(self, steps: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Replace the accounts-server script: each fault answers one token request, then normal service."""
        faults = [_as_fault(step) for step in steps]
        for fault in faults:
            if fault.kind not in ACCOUNT_FAULT_KINDS:
                raise ValueError(f"{fault.kind!r} is not an accounts fault; expected {sorted(ACCOUNT_FAULT_KINDS)}")
        with self._store.lock:
            self._store.account_script = collections.deque(faults)

    def revoke_tokens(self) -> None:
        """Invalidate every access token issued so far (clients must refresh)."""
        self._store.revoke()

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token ever issued, oldest first (a copy)."""
        with self._store.lock:
            return list(self._store.issued)

    # -- jobs -------------------------------------------------------------------------------------------
    def add_job(
        self,
        kind: str,
        job_id: str,
        script: Sequence[Step | int | Mapping[str, Any]],
        *,
        counts: Mapping[str, int] | None = None,
        error_message: str | None = None,
        error_code: str | int | None = None,
        **coordinates: str | None,
    ) -> None:
        """Register (or replace, restarting its script) a job whose status GETs walk through ``script``.

        Every status GET for the job consumes one step; the last step repeats forever.  A step is a state
        as the product spells it (``"1002"``, ``"IN PROGRESS"``, ``"In-progress"``; spelling variants such
        as ``"INPROGRESS"`` are accepted and reported verbatim), a :class:`Fault`, or a fault dict.
        """
        product = EMULATED_PRODUCTS.get(kind)
        if product is None:
            raise ValueError(f"unknown job kind {kind!r}; expected one of {list(EMULATED_PRODUCTS)}")
        if isinstance(job_id, int) and not isinstance(job_id, bool):
            job_id = str(job_id)
        if not isinstance(job_id, str) or not job_id or "/" in job_id:
            raise ValueError(f"job_id must be a non-empty string without '/', got {job_id!r}")
        steps = tuple(_as_step(product, step) for step in script) if not isinstance(script, str | bytes) else ()
        if not steps:
            raise ValueError("a job script needs at least one step")
        spec = JobSpec(
            kind=kind,
            job_id=job_id,
            script=steps,
            coordinates=_check_coordinates(product, coordinates),
            counts=_check_counts(product, counts or {}),
            error_message=error_message,
            error_code=None if error_code is None else product.coerce_code(error_code),
            created_at=time.time(),
        )
        self._store.add_job(spec, product)

    def add_jobs(self, definitions: Iterable[Mapping[str, Any]]) -> None:
        """Register jobs from their JSON form (``--jobs`` files and ``POST /__emulator__/jobs``).

        Each definition holds ``kind``, ``job_id``, ``script`` (faults as dicts) and the ``add_job``
        keyword arguments.  All definitions are validated before any is registered.
        """
        parsed: list[tuple[str, str, Any, dict[str, Any]]] = []
        for definition in definitions:
            if not isinstance(definition, Mapping):
                raise ValueError(f"a job definition must be an object, got {definition!r}")
            fields = dict(definition)
            try:
                kind, job_id, script = fields.pop("kind"), fields.pop("job_id"), fields.pop("script")
            except KeyError as exc:
                raise ValueError(f"job definition lacks {exc.args[0]!r}: {definition!r}") from None
            if not isinstance(script, list):
                raise ValueError(f"a job script must be a list, got {script!r}")
            parsed.append((kind, job_id, script, fields))
        staging = ZohoEmulator()  # validate everything first: a bad file must not half-apply
        for kind, job_id, script, fields in parsed:
            staging.add_job(kind, job_id, script, **fields)
        for kind, job_id, script, fields in parsed:
            self.add_job(kind, job_id, script, **fields)

    # -- bulk write (CRM, Bigin) -------------------------------------------------------------------------
    @property
    def download_url(self) -> str:
        """The base URL result links point at by default: the emulator's own ``base_url``."""
        if self._download_url is None:
            raise RuntimeError("the Zoho emulator is not running; call start() first")
        return self._download_url

    def set_download_base(self, base_url: str | None) -> None:
        """Point result links of jobs created from now on at ``base_url`` (None: back to ``download_url``)."""
        self.writes.download_base = base_url if base_url is not None else self.download_url

    def set_bulk_write_outcomes(self, outcomes: Outcomes) -> None:
        """How jobs created from now on treat their rows and which states they walk through."""
        for step in outcomes.script:
            EMULATED_PRODUCTS["crm_bulk_write"].canonical_state(step)
        self.writes.outcomes = outcomes

    def uploads(self) -> list[Upload]:
        """Every file uploaded so far, oldest first."""
        with self.writes.lock:
            return list(self.writes.uploads.values())

    def created_jobs(self) -> list[CreatedJob]:
        """Every bulk write job created so far, oldest first."""
        with self.writes.lock:
            return list(self.writes.created.values())

    # -- concurrency ------------------------------------------------------------------------------------
    def set_concurrency_limit(self, limit: int | None) -> None:
        """Answer a client's status GETs with the kind's 429 (CRM: ``TOO_MANY_REQUESTS``) while ``limit`` of
        them are in flight already, as Zoho does past an app's concurrency limit; None stops enforcing it.

        Counted per client (the access token's), whichever refresh token or connection it came through.
        ``stats()`` reports ``max_in_flight`` (per client) and ``over_concurrency`` (the 429s) either way.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"concurrency_limit must be a whole number >= 1 (or None: no limit), got {limit!r}")
        with self._store.lock:
            self._store.concurrency_limit = limit

    # -- counters ---------------------------------------------------------------------------------------
    @property
    def token_limit_per_window(self) -> int:
        """Token requests granted per refresh token per window (Zoho's 10 unless the emulator was told otherwise)."""
        return self._store.token_limit_per_window

    def token_requests(self, refresh_token: str | None = None) -> int:
        """POSTs to the token endpoint so far: all of them, or those naming ``refresh_token``."""
        with self._store.lock:
            if refresh_token is None:
                return self._store.token_total
            return self._store.token_by_refresh[refresh_token]

    def status_requests(self, job_id: str | None = None) -> int:
        """Job-status GETs so far (answered or not): all of them, or those for ``job_id``."""
        with self._store.lock:
            if job_id is None:
                return self._store.status_total
            return self._store.status_by_job[job_id]

    @property
    def max_concurrent_connections(self) -> int:
        """The most TCP connections that were open at once (since start or the last reset_counters)."""
        with self._store.lock:
            return self._store.max_connections

    @property
    def open_connections(self) -> int:
        """TCP connections open right now."""
        with self._store.lock:
            return self._store.open_connections

    def stats(self) -> dict[str, Any]:
        """The counters as ``GET /__emulator__/stats`` reports them."""
        return self._store.stats()

    def received_requests(self) -> list[ReceivedRequest]:
        """Every request received so far, oldest first (a copy): the last ``request_log_size`` (10,000 by
        default), each body cut at 64 KiB.

        Includes what was answered with a fault or dropped, and admin-API calls; ``reset_counters`` clears it.
        """
        with self._store.lock:
            return list(self._store.requests)

    def reset_counters(self) -> None:
        """Zero the request counters, the connection high-water mark and the request log (tokens and
        throttling are kept)."""
        self._store.reset_counters()


def _as_fault(step: Fault | Mapping[str, Any]) -> Fault:
    if isinstance(step, Fault):
        return step
    if isinstance(step, Mapping):
        return Fault.from_dict(step)
    raise ValueError(f"expected a Fault or a fault dict, got {step!r}")


def _as_step(product: EmulatedProduct, step: Step | int | Mapping[str, Any]) -> Step:
    """Validate one script step against its product so mistakes fail at add_job, not mid-test."""
    if isinstance(step, bool):
        raise ValueError(f"invalid script step {step!r}")
    if isinstance(step, int):
        step = str(step)  # Analytics job codes written as numbers in JSON
    if isinstance(step, str):
        product.canonical_state(step)
        return step
    fault = _as_fault(step)
    if fault.kind not in JOB_FAULT_KINDS:
        raise ValueError(f"{fault.kind!r} is not a job fault; expected one of {sorted(JOB_FAULT_KINDS)}")
    if fault.code is not None and fault.kind in ("error", "echo"):
        fault = dataclasses.replace(fault, code=product.coerce_code(fault.code))
    return fault


def _check_coordinates(product: EmulatedProduct, given: Mapping[str, str | None]) -> dict[str, str | None]:
    unknown = set(given) - set(product.coordinates)
    if unknown:
        raise TypeError(f"{product.kind} jobs take coordinates {sorted(product.coordinates)}, not {sorted(unknown)}")
    coords: dict[str, str | None] = {}
    for name in product.coordinates:
        value = given.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # ids written as numbers in JSON
        if value is None and name in product.optional_coordinates:
            coords[name] = None
        elif isinstance(value, str) and value:
            coords[name] = value
        else:
            raise TypeError(f"{product.kind} job needs a non-empty string {name}=, got {value!r}")
    return coords


def _check_counts(product: EmulatedProduct, counts: Mapping[str, int]) -> dict[str, int]:
    unknown = set(counts) - product.count_keys
    if unknown:
        raise ValueError(f"{product.kind} counts are {sorted(product.count_keys)}, not {sorted(unknown)}")
    for key, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"count {key} must be a non-negative int, got {value!r}")
    return dict(counts)


def airflow_connection_json(base_url: str, client: ClientCredentials | None = None, **extra: Any) -> str:
    """A ``zoho`` Airflow connection to an emulator at ``base_url``, as ``AIRFLOW_CONN_<ID>`` JSON.

    ``client`` defaults to ``ZohoEmulator.DEFAULT_CLIENT`` (register it with ``add_client``); ``extra`` adds
    connection extras such as ``analytics_org_id`` or ``timeout``. For an emulator in another process (the
    demo, an end-to-end test), where only its URL is known.
    """
    client = client or ZohoEmulator.DEFAULT_CLIENT
    return json.dumps(
        {
            "conn_type": "zoho",
            "login": client.client_id,
            "password": client.client_secret,
            "host": base_url,
            "extra": {"refresh_token": client.refresh_token, **extra},
        }
    )
