"""The Zoho emulator's facade: :class:`ZohoEmulator`, a real HTTP server tests start, script and inspect.

Why a server rather than mocks: the provider's hooks and triggers must be exercised through the same
sockets, connection pools, retries and JSON parsing they use in production.  Patching ``requests`` or
``aiohttp`` would test the patch.  The emulator is an *independent model* of Zoho: it imports nothing from
the rest of ``airflow_provider_zoho`` (and not airflow), so a misunderstanding in the provider cannot leak
into the model it is checked against.

Design:

* :mod:`airflow_provider_zoho.testing.store` owns every piece of mutable state (clients, tokens, jobs,
  counters) behind one lock, so handlers on the server's thread and tests on theirs see one truth.
* :mod:`airflow_provider_zoho.testing.server` is the aiohttp application: routes, faults on the wire and
  the admin API that lets another process script the emulator.
* :class:`ZohoEmulator` (here) checks what a test asks for, hands it to the store, and runs the aiohttp app
  on a private event loop in a daemon thread, so synchronous tests, async tests and other processes (via
  :mod:`airflow_provider_zoho.testing.__main__`) can all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, NamedTuple, Self

from aiohttp import web

from airflow_provider_zoho.testing.analytics_export import AnalyticsExports
from airflow_provider_zoho.testing.analytics_import import AnalyticsImports
from airflow_provider_zoho.testing.bulk_read import BulkReads
from airflow_provider_zoho.testing.bulk_write import BulkWrites, CreatedJob, Outcomes, Upload
from airflow_provider_zoho.testing.creator_bulk_read import CreatorBulkReads
from airflow_provider_zoho.testing.creator_insert import CreatorInserts
from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, EmulatedProduct, JobSpec, Step
from airflow_provider_zoho.testing.faults import ACCOUNT_FAULT_KINDS, JOB_FAULT_KINDS, Fault
from airflow_provider_zoho.testing.oauth_scopes import DEFAULT_SCOPES, parse_scopes
from airflow_provider_zoho.testing.server import ADMIN_PREFIX, Server
from airflow_provider_zoho.testing.store import (
    DEFAULT_LIVE_TOKEN_LIMIT,
    REQUEST_LOG_SIZE,
    GrantCode,
    ReceivedRequest,
    Store,
    new_token,
)

__all__ = ["ADMIN_PREFIX", "ClientCredentials", "ReceivedRequest", "ZohoEmulator", "airflow_connection_json"]

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT = 10.0
_SHUTDOWN_TIMEOUT = 5.0


class ClientCredentials(NamedTuple):
    """An OAuth client registered with the emulator's accounts server.

    :param client_id: the client's id (an Airflow connection's login).
    :param client_secret: its secret (the connection's password).
    :param refresh_token: one refresh token it owns (the connection's ``refresh_token`` extra).
    """

    client_id: str
    client_secret: str
    refresh_token: str


class ZohoEmulator:
    """A Zoho accounts server plus the four bulk-job status APIs, served over real HTTP.

    ``start()`` runs it on a private event loop in a daemon thread and returns once it listens;
    ``base_url`` is then the single host every Zoho host (accounts, API, Analytics) maps to.  The defaults
    are Zoho's documented limits (https://www.zoho.com/accounts/protocol/oauth/token-limits.html).

    :param host: the address to listen on.
    :param port: the port to listen on; 0 takes a free one (read it from ``base_url``).
    :param token_ttl: the seconds an access token stays valid (Zoho: 3600).
    :param token_limit_per_window: token requests granted per refresh token per window (Zoho: 10); the
        next ones get Zoho's throttle answer.
    :param token_window_seconds: that window, sliding (Zoho: 10 minutes).
    :param live_token_limit: access tokens per refresh token valid at once (Zoho: 15); the next one
        issued invalidates the oldest.
    :param request_log_size: the requests :meth:`received_requests` keeps (the oldest are dropped).
    :param concurrency_limit: status GETs a client may have in flight (see :meth:`set_concurrency_limit`);
        None: not enforced.
    :raises ValueError: a limit, duration or size that is not > 0.
    """

    DEFAULT_CLIENT: ClassVar[ClientCredentials] = ClientCredentials(
        "test-client-id", "test-client-secret", "test-refresh-token"
    )
    #: What a client or grant code added without ``scope`` grants: every scope the emulated calls need.
    DEFAULT_SCOPES: ClassVar[tuple[str, ...]] = DEFAULT_SCOPES

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
        """Check the settings and build the state; nothing listens until :meth:`start`."""
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
        self._store = Store(token_ttl, token_limit_per_window, token_window_seconds, live_token_limit, request_log_size)
        self.set_concurrency_limit(concurrency_limit)
        self._lifecycle = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self.writes = BulkWrites(self._store)
        #: CRM and Bigin bulk read (export), over the write side's account (its modules and written records).
        self.reads = BulkReads(self._store, self.writes.account)
        self.analytics_imports = AnalyticsImports(self._store)
        self.creator_inserts = CreatorInserts(self._store)
        #: Analytics async export (view and SQL), over the import side's account (one set of workspaces).
        self.analytics_exports = AnalyticsExports(self._store, self.analytics_imports.account)
        #: Creator bulk read, over the insert side's account (its apps, forms and reports).
        self.creator_bulk_reads = CreatorBulkReads(self._store, self.creator_inserts)
        self._download_url: str | None = None
        #: The Analytics organizations the token's user belongs to (``GET /restapi/v2/orgs``).
        self.analytics_orgs: set[str] = set()
        #: An Analytics error code to answer that list with instead (a token without the scope to list).
        self.analytics_orgs_refusal: int | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Start serving in a background thread, once the socket listens (idempotent).

        :return: this emulator, so that ``emulator = ZohoEmulator().start()`` reads well.
        :raises RuntimeError: the server failed to start, or did not listen within 10 seconds.
        """
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
        """Start serving (``with ZohoEmulator() as emulator:``)."""
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop serving, whatever the block raised (which propagates)."""
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
            Server(self._store, self).make_app(),
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
        """Return a ``zoho`` connection to this emulator, as the JSON an ``AIRFLOW_CONN_<ID>`` variable holds.

        :param client: the client the connection logs in as; default ``DEFAULT_CLIENT``.
        :param extra: connection extras to add, such as ``analytics_org_id`` or ``timeout``.
        :return: the connection as JSON.
        """
        return airflow_connection_json(self.base_url, client, **extra)

    # -- accounts ---------------------------------------------------------------------------------------
    def add_client(
        self, client_id: str, client_secret: str, refresh_token: str, scope: str | Sequence[str] | None = None
    ) -> None:
        """Register an OAuth client and one of its refresh tokens (a client may own several).

        Calling it again for the same client adds a refresh token and replaces the secret.

        :param client_id: the client's id.
        :param client_secret: its secret.
        :param refresh_token: a refresh token it owns.
        :param scope: the scopes the refresh token grants, Zoho's comma-separated string or a list; None:
            ``DEFAULT_SCOPES``, every scope the emulated calls need. A call needing a scope the token lacks
            gets the product's refusal (``OAUTH_SCOPE_MISMATCH``, Creator's 2945, Analytics' 7301).
        :raises ValueError: one of them is not a non-empty string, or ``scope`` names no scope.
        """
        for name, value in (
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("refresh_token", refresh_token),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        self._store.add_client(client_id, client_secret, refresh_token, parse_scopes(scope) or DEFAULT_SCOPES)

    def add_grant_code(
        self,
        code: str,
        client_id: str = DEFAULT_CLIENT.client_id,
        refresh_token: str | None = None,
        expires_in: float | None = None,
        offline: bool = True,
        scope: str | Sequence[str] | None = None,
    ) -> str:
        """Give a registered client a Self Client grant code.

        The code works once with ``grant_type=authorization_code`` (then, or once ``expires_in`` seconds
        have passed, it is ``invalid_code``); the refresh token it yields then works with the refresh-token
        grant.

        :param code: the grant code.
        :param client_id: the registered client it is for; default ``DEFAULT_CLIENT``'s.
        :param refresh_token: the refresh token it yields; default a new Zoho-shaped one.
        :param expires_in: seconds until it expires; None: never.
        :param offline: False plays a code granted for online access, whose answer holds no refresh token.
        :param scope: the scopes the code was generated with, Zoho's comma-separated string (as typed in Self
            Client's Generate Code box) or a list; its tokens carry exactly those. None: ``DEFAULT_SCOPES``.
        :return: the refresh token the code will yield.
        :raises ValueError: a bad argument, or a client not registered.
        """
        if not isinstance(code, str) or not code:
            raise ValueError(f"code must be a non-empty string, got {code!r}")
        if refresh_token is None:
            refresh_token = new_token()
        if not isinstance(refresh_token, str) or not refresh_token:
            raise ValueError(f"refresh_token must be a non-empty string, got {refresh_token!r}")
        if expires_in is not None and (
            isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or not 0 <= expires_in < math.inf
        ):
            raise ValueError(f"expires_in must be a number of seconds >= 0 (or None: never), got {expires_in!r}")
        if not isinstance(offline, bool):
            raise ValueError(f"offline must be true or false, got {offline!r}")
        expires_at = None if expires_in is None else time.monotonic() + expires_in
        scopes = parse_scopes(scope) or DEFAULT_SCOPES
        self._store.add_grant_code(code, GrantCode(client_id, refresh_token, offline, expires_at, scopes))
        return refresh_token

    def script_accounts(self, steps: Iterable[Fault | Mapping[str, Any]]) -> None:
        """Replace the accounts-server script: each fault answers one token request, then normal service.

        :param steps: accounts faults (``Fault`` or their dict form), played in order.
        :raises ValueError: a step that is not an accounts fault; the script is then left as it was.
        """
        faults = [_as_fault(step) for step in steps]
        for fault in faults:
            if fault.kind not in ACCOUNT_FAULT_KINDS:
                raise ValueError(f"{fault.kind!r} is not an accounts fault; expected {sorted(ACCOUNT_FAULT_KINDS)}")
        self._store.script_accounts(faults)

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

        :param kind: the job's kind (``crm_bulk_write``...), one of ``EMULATED_KINDS``.
        :param job_id: its id, without ``/`` (an int is taken as its digits).
        :param script: the steps its status GETs walk through.
        :param counts: the record counts its answers report, by the kind's count names.
        :param error_message: the message a failed state reports.
        :param error_code: the code a failed state reports, in the product's type.
        :param coordinates: where the job lives, by the kind's coordinate names (``workspace_id``,
            ``org_id`` for Analytics; ``account_owner_name``... for Creator).
        :raises ValueError: an unknown kind, a bad id, state, fault or count.
        :raises TypeError: missing or unknown coordinates.
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

        :param definitions: the jobs, as decoded JSON objects.
        :raises ValueError: a definition that is not an object or lacks a field, or that :meth:`add_job`
            refuses; then no job is registered.
        :raises TypeError: as :meth:`add_job`.
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
        """Point result links of jobs created from now on at another host.

        :param base_url: the host's base URL, e.g. a second emulator's; None: back to ``download_url``.
        """
        self.writes.download_base = base_url if base_url is not None else self.download_url

    def set_bulk_write_outcomes(self, outcomes: Outcomes) -> None:
        """Set how bulk writes created from now on treat their rows and which states they walk through.

        :param outcomes: the rows to skip or leave unprocessed, and the states to walk through.
        :raises ValueError: a state CRM and Bigin do not have.
        """
        for step in outcomes.script:
            EMULATED_PRODUCTS["crm_bulk_write"].canonical_state(step)
        self.writes.outcomes = outcomes

    def uploads(self) -> list[Upload]:
        """Return every file uploaded for a bulk write so far, oldest first.

        :return: the uploads (a copy).
        """
        with self.writes.lock:
            return list(self.writes.uploads.values())

    def created_jobs(self) -> list[CreatedJob]:
        """Return every bulk write job created so far, oldest first.

        :return: the jobs (a copy).
        """
        with self.writes.lock:
            return list(self.writes.created.values())

    # -- concurrency ------------------------------------------------------------------------------------
    def set_concurrency_limit(self, limit: int | None) -> None:
        """Limit the status GETs a client may have in flight, as Zoho limits an app's concurrent calls.

        Past the limit a status GET gets the kind's 429 (CRM: ``TOO_MANY_REQUESTS``).  Counted per client
        (the access token's), whichever refresh token or connection it came through.  ``stats()`` reports
        ``max_in_flight`` (per client) and ``over_concurrency`` (the 429s) either way.

        :param limit: the requests a client may have in flight; None stops enforcing it.
        :raises ValueError: a limit that is not a whole number >= 1.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"concurrency_limit must be a whole number >= 1 (or None: no limit), got {limit!r}")
        self._store.set_concurrency_limit(limit)

    # -- counters ---------------------------------------------------------------------------------------
    @property
    def token_limit_per_window(self) -> int:
        """Token requests granted per refresh token per window (Zoho's 10 unless the emulator was told otherwise)."""
        return self._store.token_limit_per_window

    def token_requests(self, refresh_token: str | None = None) -> int:
        """Count the POSTs to the token endpoint so far (since start or the last ``reset_counters``).

        :param refresh_token: count only those naming this refresh token; None: all of them.
        :return: the count.
        """
        with self._store.lock:
            if refresh_token is None:
                return self._store.token_total
            return self._store.token_by_refresh[refresh_token]

    def status_requests(self, job_id: str | None = None) -> int:
        """Count the job-status GETs so far, answered or not (since start or the last ``reset_counters``).

        :param job_id: count only those for this job; None: all of them.
        :return: the count.
        """
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
        """Return the counters, as ``GET /__emulator__/stats`` reports them.

        :return: request counts, connection and in-flight high-water marks, tokens issued, the 429s; under
            ``bulk_read`` the CRM and Bigin bulk reads created and their results downloaded (``BulkReads.stats``).
        """
        return {**self._store.stats(), "bulk_read": self.reads.stats()}

    def received_requests(self) -> list[ReceivedRequest]:
        """Return the requests received so far, oldest first.

        The log keeps the last ``request_log_size`` (10,000 by default), each body cut at 64 KiB.  It
        includes what was answered with a fault or dropped, and admin-API calls; ``reset_counters`` clears it.

        :return: the requests (a copy).
        """
        with self._store.lock:
            return list(self._store.requests)

    def reset_counters(self) -> None:
        """Zero the request counters, the connection high-water mark and the request log.

        Tokens and throttling windows are kept: this starts a new measurement, not a new Zoho.
        """
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
    """Return a ``zoho`` Airflow connection to an emulator at ``base_url``, as ``AIRFLOW_CONN_<ID>`` JSON.

    For an emulator in another process (the demo, an end-to-end test), where only its URL is known.

    :param base_url: the emulator's base URL, the connection's host.
    :param client: the client to log in as; default ``ZohoEmulator.DEFAULT_CLIENT`` (register it with
        ``add_client``, as the pytest fixture and the CLI do).
    :param extra: connection extras to add, such as ``analytics_org_id`` or ``timeout``.
    :return: the connection as JSON.
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
