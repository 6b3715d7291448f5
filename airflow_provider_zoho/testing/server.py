"""The emulator's HTTP side: the aiohttp application, its routes, and how each fault is played on the wire.

Handlers translate a request into :class:`~airflow_provider_zoho.testing.store.Store` calls and the
store's answers (or scripted faults) back into HTTP.  What differs between Zoho products is data in
:mod:`airflow_provider_zoho.testing.dialects`; what a hostile endpoint answers (redirects, echoes, bodies
too big, slow or deep to read) is in :mod:`airflow_provider_zoho.testing.hostile`, streamed so the
emulator's own memory stays flat.  Every request received is kept (bounded) in the store's log, so tests
can check what reached a host, e.g. a second emulator standing in for the host a redirect points at.

The admin API under :data:`ADMIN_PREFIX` lets tests and demos in another process script the emulator
through the same calls :class:`~airflow_provider_zoho.testing.emulator.ZohoEmulator` offers in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_provider_zoho.testing import hostile
from airflow_provider_zoho.testing.analytics_import import ImportOutcomes
from airflow_provider_zoho.testing.bulk_write import Outcomes
from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, Answer, EmulatedProduct
from airflow_provider_zoho.testing.faults import JOB_FAULT_KINDS, Fault
from airflow_provider_zoho.testing.hostile import Stream
from airflow_provider_zoho.testing.incoming import access_token
from airflow_provider_zoho.testing.oauth_scopes import REFUSALS, find_rule, missing_scopes
from airflow_provider_zoho.testing.store import THROTTLE_BODY, Poll, ReceivedRequest, Store

if TYPE_CHECKING:
    from airflow_provider_zoho.testing.emulator import ZohoEmulator

__all__ = ["ADMIN_PREFIX", "ANALYTICS_ORGS_PATH", "EMULATED_TOKEN_PATH", "Server"]

EMULATED_TOKEN_PATH = "/oauth/v2/token"
#: Where the admin API lives: a prefix no Zoho path starts with.
ADMIN_PREFIX = "/__emulator__"
ANALYTICS_ORGS_PATH = "/restapi/v2/orgs"
REQUEST_LOG_BODY_BYTES = 64 * 1024  # of each request body
# Uploads are zips of up to 25 MB: room for one, and for a test that sends one too large.
MAX_REQUEST_BYTES = 32 * 1024 * 1024


def _account_fault_answer(fault: Fault) -> Answer:
    """Build the accounts server's answer to one of Zoho's own faults (HTTP 200 except server_error)."""
    if fault.kind == "server_error":
        status = fault.status if fault.status is not None else 500
        if fault.html:
            return Answer(status, _html_page(status), content_type="text/html")
        return Answer(status, {"error": "internal_error"})  # *unverified*: accounts' JSON 5xx body
    body: dict[str, Any] = {
        "throttle": dict(THROTTLE_BODY),
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
    """Return the request's headers as a plain dict, in the client's spelling; repeated ones joined."""
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
_FaultHandler = Callable[[EmulatedProduct, Poll, web.Request, "Server"], Awaitable[Answer | Stream | None]]


async def _fault_rate_limited(product: EmulatedProduct, p: Poll, _r: web.Request, _s: Server) -> Answer:
    assert isinstance(p.step, Fault)
    return product.rate_limited(p.step.retry_after)


async def _fault_server_error(product: EmulatedProduct, p: Poll, _r: web.Request, _s: Server) -> Answer:
    assert isinstance(p.step, Fault)
    return product.server_error(p.step.status, p.step.html)


async def _fault_reset(_product: EmulatedProduct, _p: Poll, r: web.Request, _s: Server) -> None:
    _abort_connection(r)


async def _fault_slow(product: EmulatedProduct, p: Poll, _r: web.Request, _s: Server) -> Answer:
    # The step was consumed before sleeping, so concurrent pollers are never blocked and the next poll
    # moves on in the script; the slow answer reports the job's current state.
    assert isinstance(p.step, Fault)
    await asyncio.sleep(p.step.effective_delay)
    return product.state(p.spec, p.current)


async def _fault_non_json(_product: EmulatedProduct, _p: Poll, _r: web.Request, _s: Server) -> Answer:
    return Answer(200, "Service is temporarily unavailable; this is not JSON.", content_type="text/plain")


async def _fault_missing_fields(product: EmulatedProduct, _p: Poll, _r: web.Request, _s: Server) -> Answer:
    return product.missing_fields()


async def _fault_invalid_token(product: EmulatedProduct, _p: Poll, r: web.Request, s: Server) -> Answer:
    s.store.revoke(access_token(r))
    return product.invalid_token()


async def _fault_error(product: EmulatedProduct, p: Poll, _r: web.Request, _s: Server) -> Answer:
    assert isinstance(p.step, Fault)
    assert p.step.code is not None
    return product.error(p.step.code, p.step.status)


async def _fault_expired(product: EmulatedProduct, p: Poll, _r: web.Request, _s: Server) -> Answer:
    # The summary is gone: every product answers as for an unknown job (Analytics: jobCode 1005).
    return product.not_found(p.spec.job_id)


async def _hostile_anywhere(fault: Fault) -> Answer | Stream:
    """Build the answer of a hostile fault that answers alike on every endpoint (all but ``echo``)."""
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


async def _fault_hostile(_product: EmulatedProduct, p: Poll, _r: web.Request, _s: Server) -> Answer | Stream:
    assert isinstance(p.step, Fault)
    return await _hostile_anywhere(p.step)


async def _fault_echo(product: EmulatedProduct, p: Poll, r: web.Request, _s: Server) -> Answer:
    assert isinstance(p.step, Fault)
    headers = _request_headers(r)
    if p.step.status is not None and p.step.status >= 400:
        return hostile.echo_error(product, p.step, headers)
    # ``value`` may name the state to answer, so a final answer (a COMPLETED job) can carry the echo too.
    normal = product.state(p.spec, p.step.value if isinstance(p.step.value, str) else p.current)
    if p.step.status is not None:
        normal = dataclasses.replace(normal, status=p.step.status)
    return hostile.with_echo(product, normal, headers, await r.read())


async def _fault_huge_count(product: EmulatedProduct, p: Poll, _r: web.Request, _s: Server) -> Stream:
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


_STATUS_ROUTES = frozenset(product.route for product in EMULATED_PRODUCTS.values())


@web.middleware
async def _zoho_json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer a wrong path or method with Zoho's JSON error (as CRM writes it), not aiohttp's plain text."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed:
        code, status = "INVALID_REQUEST_METHOD", 400
    except web.HTTPNotFound:
        code, status = "INVALID_URL_PATTERN", 404
    return _to_response(EMULATED_PRODUCTS["crm_bulk_write"].error(code, status))


class Server:
    """The aiohttp application: request handlers that translate HTTP to :class:`Store` calls.

    :param store: the state every handler reads and changes.
    :param emulator: the facade the admin API calls, so an admin request is checked exactly as the
        in-process call it stands for; it also holds the endpoint modules and the Analytics org list.
    """

    def __init__(self, store: Store, emulator: ZohoEmulator) -> None:
        """Serve ``store`` on behalf of ``emulator``; nothing listens until :meth:`make_app`'s app runs."""
        self.store = store
        self.emulator = emulator

    def make_app(self) -> web.Application:
        """Build the application: the token, status, create and upload routes, then the admin API.

        :return: an app to hand to an ``aiohttp.web.AppRunner``.
        """
        app = web.Application(
            middlewares=[self.record, _zoho_json_errors, self.check_scopes], client_max_size=MAX_REQUEST_BYTES
        )
        app.router.add_post(EMULATED_TOKEN_PATH, self.token)
        self.emulator.writes.add_routes(app)
        self.emulator.reads.add_routes(app)
        self.emulator.analytics_imports.add_routes(app)
        self.emulator.creator_inserts.add_routes(app)
        self.emulator.analytics_exports.add_routes(app)
        self.emulator.creator_bulk_reads.add_routes(app)
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
        """Log every request before it is handled (the body is read here; aiohttp keeps it for the handler).

        :param request: the incoming request.
        :param handler: the rest of the chain.
        :return: what the handler answers.
        """
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

    @web.middleware
    async def check_scopes(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Refuse a call whose access token lacks a scope the call needs, before the product's handler runs.

        The rules are :data:`~airflow_provider_zoho.testing.oauth_scopes.SCOPE_RULES`; the refusal is the
        product's own (CRM and Bigin ``OAUTH_SCOPE_MISMATCH`` 401, Creator 2945 401, Analytics 7301 403,
        *unverified*). A path no route serves, or a token that is missing or not live, goes on to the
        handler, which answers it as Zoho does. A refused status GET still counts among ``status_requests``.

        :param request: the incoming request.
        :param handler: the rest of the chain.
        :return: the refusal, or what the handler answers.
        """
        found = None if request.match_info.http_exception is not None else find_rule(request.method, request.path)
        if found is None:
            return await handler(request)
        rule, names = found
        granted = self.store.granted_scopes(access_token(request))
        if granted is None:
            return await handler(request)
        # aiohttp keeps the body it read, so the handler reads it again.
        body = await request.read() if rule.module_from is not None and request.body_exists else b""
        missing = missing_scopes(rule, granted, body)
        if not missing:
            return await handler(request)
        resource = request.match_info.route.resource
        if resource is not None and resource.canonical in _STATUS_ROUTES:
            self.store.count_status(names.get("job_id", ""))
        refusal = REFUSALS[rule.kind]
        product = EMULATED_PRODUCTS[rule.kind]
        return _to_response(product.error(product.coerce_code(refusal.code), refusal.status, message=refusal.message))

    async def token(self, request: web.Request) -> web.StreamResponse:
        """Serve ``POST /oauth/v2/token``: parameters from the query string and the form body alike.

        :param request: the token request.
        :return: the store's answer, or the scripted accounts fault played out.
        """
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
        """Play a scripted accounts fault: return its answer, or None once the connection has been dropped."""
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
        """Serve Analytics' "Get Org List" (zoho/analytics-okf): the organizations the token's user belongs to.

        :param request: the GET, carrying an access token.
        :return: ``ZohoEmulator.analytics_orgs``, or the refusal or invalid-token error it is set to.
        """
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
        """Serve one status GET: check the token and the product's required header, then poll the job.

        :param product: the product whose status route matched.
        :param request: the GET.
        :return: the state the job's script gives, its scripted fault played out, or the product's error.
        """
        job_id = request.match_info["job_id"]
        self.store.count_status(job_id)
        if not self.store.token_valid(access_token(request)):
            return _to_response(product.invalid_token())
        if product.required_header is not None and not request.headers.get(product.required_header):
            assert product.missing_header_code is not None
            return _to_response(product.error(product.missing_header_code))
        # Only an export job's creator may poll it (8124).
        refusal = self.emulator.analytics_exports.status_refusal(product.kind, job_id, access_token(request))
        if refusal is not None:
            return _to_response(refusal)
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
        """Serve ``POST /__emulator__/clients``: register clients, as :meth:`ZohoEmulator.add_client` does.

        :param request: the POST; its JSON body is ``{"client_id", "client_secret", "refresh_token"}`` (and
            optionally ``"scope"``, Zoho's comma-separated string or a list) or a list of them.
        :return: ``{"ok": true}``, or HTTP 400 with ``{"ok": false, "error": ...}`` when the body is refused.
        """

        async def apply(payload: Any) -> None:
            for item in payload if isinstance(payload, list) else [payload]:
                self.emulator.add_client(
                    item["client_id"], item["client_secret"], item["refresh_token"], item.get("scope")
                )

        return await self._admin(request, apply)

    async def admin_grant_codes(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/grant_codes``: add grant codes, as :meth:`ZohoEmulator.add_grant_code` does.

        :param request: the POST; its JSON body is ``add_grant_code``'s arguments as an object (``scope``
            included), or a list of them.
        :return: ``{"ok": true, "refresh_tokens": [...]}``, the refresh token each code will yield, or HTTP 400
            with ``{"ok": false, "error": ...}`` when the body is refused (then no code is added).
        """

        async def apply(payload: Any) -> dict[str, Any]:
            items = payload if isinstance(payload, list) else [payload]
            for item in items:  # all checked before any is added: a bad item must not half-apply
                if not isinstance(item, dict) or not isinstance(item.get("code"), str):
                    raise ValueError(f"a grant code must be an object with a 'code' string, got {item!r}")
            return {"refresh_tokens": [self.emulator.add_grant_code(**item) for item in items]}

        return await self._admin(request, apply)

    async def admin_jobs(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/jobs``: add or replace jobs, as :meth:`ZohoEmulator.add_jobs` does.

        :param request: the POST; its JSON body is one job in the ``--jobs`` format, or a list of them.
        :return: ``{"ok": true}``, or HTTP 400 with ``{"ok": false, "error": ...}`` when the body is refused.
        """

        async def apply(payload: Any) -> None:
            self.emulator.add_jobs(payload if isinstance(payload, list) else [payload])

        return await self._admin(request, apply)

    async def admin_accounts(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/accounts``: replace the accounts-server script of faults.

        :param request: the POST; its JSON body is a list of fault objects, played one per token request.
        :return: ``{"ok": true}``, or HTTP 400 with ``{"ok": false, "error": ...}`` when the body is refused.
        """

        async def apply(payload: Any) -> None:
            self.emulator.script_accounts(payload)

        return await self._admin(request, apply)

    async def admin_bulk_write(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/bulk_write``: set how CRM and Bigin bulk writes created from now on go.

        :param request: the POST; its JSON body is :meth:`Outcomes.from_json`'s form.
        :return: ``{"ok": true}``, or HTTP 400 with ``{"ok": false, "error": ...}`` when the body is refused.
        """

        async def apply(payload: Any) -> None:
            self.emulator.set_bulk_write_outcomes(Outcomes.from_json(payload))

        return await self._admin(request, apply)

    async def admin_analytics_import(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/analytics_import``: set how Analytics imports created from now on go.

        :param request: the POST; its JSON body is :meth:`ImportOutcomes.from_json`'s form.
        :return: ``{"ok": true}``, or HTTP 400 with ``{"ok": false, "error": ...}`` when the body is refused.
        """

        async def apply(payload: Any) -> None:
            self.emulator.analytics_imports.outcomes = ImportOutcomes.from_json(payload)

        return await self._admin(request, apply)

    async def admin_creator_insert(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/creator_insert``: set how Creator bulk inserts created from now on go.

        :param request: the POST; its JSON body is ``CreatorInserts.set_outcomes``'s form.
        :return: ``{"ok": true}``, or HTTP 400 with ``{"ok": false, "error": ...}`` when the body is refused.
        """

        async def apply(payload: Any) -> None:
            self.emulator.creator_inserts.set_outcomes(payload)

        return await self._admin(request, apply)

    async def admin_concurrency(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/concurrency``: set the per-client limit of status GETs in flight.

        :param request: the POST; its JSON body is ``{"limit": N}``, or ``{"limit": null}`` to stop enforcing one.
        :return: ``{"ok": true}``, or HTTP 400 with ``{"ok": false, "error": ...}`` when the body is refused.
        """

        async def apply(payload: Any) -> None:
            if not isinstance(payload, dict) or set(payload) != {"limit"}:
                raise ValueError(f'expected {{"limit": N}} or {{"limit": null}}, got {payload!r}')
            self.emulator.set_concurrency_limit(payload["limit"])

        return await self._admin(request, apply)

    async def admin_stats(self, _request: web.Request) -> web.Response:
        """Serve ``GET /__emulator__/stats``: the counters ``ZohoEmulator.stats()`` returns.

        :param _request: the request (its body, if any, is ignored).
        :return: the counters as JSON.
        """
        return web.json_response(self.emulator.stats())

    async def admin_reset_counters(self, _request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/reset_counters``: zero the counters and clear the request log.

        :param _request: the request (its body, if any, is ignored).
        :return: ``{"ok": true}``.
        """
        self.store.reset_counters()
        return web.json_response({"ok": True})

    async def admin_revoke_tokens(self, _request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/revoke_tokens``: invalidate every access token issued so far.

        :param _request: the request (its body, if any, is ignored).
        :return: ``{"ok": true}``.
        """
        self.store.revoke()
        return web.json_response({"ok": True})

    @staticmethod
    async def _admin(request: web.Request, apply: Callable[[Any], Awaitable[Mapping[str, Any] | None]]) -> web.Response:
        try:
            result = await apply(await request.json())
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response({"ok": True, **(result or {})})
