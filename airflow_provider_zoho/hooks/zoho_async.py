"""The asynchronous Zoho hook the trigger polls with; nothing in it blocks the event loop.

A triggerer runs hundreds of triggers on one loop, so everything here is shared per process or per loop:
one pooled ``aiohttp.ClientSession`` per loop, one access token per connection (single-flight refresh), and
one :class:`~airflow_provider_zoho.hooks.throttle.Throttle` per process (a 429 slows every poller of the
connection, and a cap bounds its requests in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from asgiref.sync import sync_to_async
from yarl import URL

from airflow_provider_zoho.compat import (
    AirflowNotFoundException,
    BaseHook,
    get_async_connection,
    get_async_extra_dejson,
    mask_secret,
)
from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.connection_form import DEFAULT_CONN_ID
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.exceptions import ZohoError, ZohoTokenInvalidError, ZohoTransientError
from airflow_provider_zoho.hooks.base import ZohoBaseHook
from airflow_provider_zoho.hooks.body import ACCEPT_ENCODING, BoundedBody, ResponseTooLarge, UnsupportedEncoding
from airflow_provider_zoho.hooks.exchange import (
    Answer,
    ApiRequest,
    answer_text,
    authorization,
    invalid_answer,
    job_status_request,
    read_api_response,
    read_token_response,
    token_request,
)
from airflow_provider_zoho.hooks.redaction import Redactor
from airflow_provider_zoho.hooks.throttle import THROTTLE, Throttle
from airflow_provider_zoho.hooks.token_cache import TOKEN_CACHE, AccessToken, TokenCache, TokenStore
from airflow_provider_zoho.hooks.token_sharing import AsyncVariableTokens, async_variable_tokens, shared_token_store
from airflow_provider_zoho.hooks.transport import MAX_REDIRECTS, network_error
from airflow_provider_zoho.jobs import JobKind, JobStatus, read_job_status

# A status GET follows at most ``MAX_REDIRECTS`` (aiohttp drops Authorization when one leaves the origin).
# A request is bounded as a whole by ``request_timeout`` (``_send``), so aiohttp's own timers, per connect and
# per read (re-armed on every chunk), could never fire first: they are off, which saves their timer work on
# every poll.
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=None, sock_read=None)

Proxy = tuple[URL | None, aiohttp.BasicAuth | None]


@dataclass
class _Pool:
    """A loop's pooled session and the proxy each origin it has talked to goes through."""

    session: aiohttp.ClientSession
    proxies: dict[str, Proxy] = field(default_factory=dict)

    def proxy_for(self, url: str) -> Proxy:
        """Return the proxy for ``url``'s origin from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY.

        Read from the environment once per origin and session, the way ``requests`` honours them on the sync
        path. Not aiohttp's ``trust_env``: that reads them, and parses ``~/.netrc``, in a worker thread for
        every request, and those two thread hand-offs on every poll are a large share of a triggerer's CPU
        when it polls many jobs (``make bench`` measures it). ``~/.netrc`` is deliberately not read: a status
        GET carries its own Authorization header, and aiohttp refuses a request that has both.
        """
        scheme, _, rest = url.partition("://")
        origin = f"{scheme}://{rest.partition('/')[0]}"
        found = self.proxies.get(origin)
        if found is None:
            try:
                found = get_env_proxy_for_url(URL(origin))
            except LookupError:  # no proxy for this origin, or NO_PROXY names it
                found = (None, None)
            self.proxies[origin] = found
        return found


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()
_users: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def _pool() -> _Pool:
    """Return the running loop's pool, created on first use.

    Sockets are bounded per connection by the throttle's cap, not by the connector, so that waiting for a
    socket never eats into a request's deadline. Proxies from the environment: ``_Pool.proxy_for``.
    Decompression is ours (``BoundedBody``), bounded.
    """
    loop = asyncio.get_running_loop()
    pool = _sessions.get(loop)
    if pool is None or pool.session.closed:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        session = aiohttp.ClientSession(
            connector=connector,
            raise_for_status=False,
            trust_env=False,
            auto_decompress=False,
            headers={"Accept-Encoding": ACCEPT_ENCODING},
        )
        pool = _sessions[loop] = _Pool(session)
    return pool


async def close_shared_session() -> None:
    """Close the running loop's session: for tests and scripts that end their loop; a triggerer never does."""
    pool = _sessions.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.session.close()


@contextlib.asynccontextmanager
async def shared_session_in_use() -> AsyncIterator[None]:
    """Hold the loop's session open while in use; the last user out closes it.

    A triggerer's loop never ends, but ``airflow dags test``, the demo and scripts run a trigger in a loop
    that does: the session must be closed before the loop goes, or aiohttp reports it unclosed. Counting
    users keeps it open while any trigger of the loop still polls; the next trigger opens a new one.
    """
    loop = asyncio.get_running_loop()
    _users[loop] = _users.get(loop, 0) + 1
    try:
        yield
    finally:
        _users[loop] -= 1
        if not _users[loop]:
            del _users[loop]
            await close_shared_session()


class _Setup:
    """What a hook builds from its connection once, not per request.

    Shared by the hooks that looked the connection up together (``_looked_up_together``).
    """

    def __init__(self, config: ZohoConnectionConfig | None) -> None:
        self.config = config
        self.redactor = Redactor(() if config is None else (config.client_secret, config.refresh_token))
        self.token_redactor: tuple[str, Redactor] | None = None


_lookups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[_Setup]]] = (
    weakref.WeakKeyDictionary()
)


async def _looked_up_together(conn_id: str, look_up: Callable[[], Awaitable[_Setup]]) -> _Setup:
    """Return the connection's setup from the lookup of ``conn_id`` under way on this loop, or from a new one.

    A triggerer starts its triggers in batches, often many on one connection: one lookup through Airflow
    (its secrets backends, the supervisor; each costs noticeable CPU) serves them all, instead of one each,
    which is a visible saving per poll when many triggers share a connection (``make bench`` measures it).
    Nothing is kept once it ends, so the next trigger reads the connection as it is then.
    """
    pending = _lookups.setdefault(asyncio.get_running_loop(), {})
    lookup = pending.get(conn_id)
    if lookup is None:
        lookup = pending[conn_id] = asyncio.ensure_future(look_up())
        lookup.add_done_callback(functools.partial(_lookup_done, pending, conn_id))
    # Shielded: a trigger cancelled meanwhile must not cancel the lookup the others wait for.
    return await asyncio.shield(lookup)


def _lookup_done(pending: dict[str, asyncio.Future[_Setup]], conn_id: str, lookup: asyncio.Future[_Setup]) -> None:
    if pending.get(conn_id) is lookup:
        del pending[conn_id]
    if not lookup.cancelled():
        lookup.exception()  # seen, even when every waiter was cancelled: no "never retrieved" warning


class ZohoAsyncHook(ZohoBaseHook):
    """Async twin of :class:`~airflow_provider_zoho.hooks.zoho.ZohoHook`, for triggers."""

    @functools.cached_property
    def token_store(self) -> TokenStore | None:
        """Return this machine's file store (the Variable layer is ``remote_tokens``, awaited on the loop)."""
        return shared_token_store(through_variables=False)

    @functools.cached_property
    def remote_tokens(self) -> AsyncVariableTokens | None:
        """Return other machines' tokens, through Airflow Variables (see ``token_sharing.AsyncVariableTokens``)."""
        return async_variable_tokens()

    def __init__(
        self,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        *,
        token_cache: TokenCache = TOKEN_CACHE,
        throttle: Throttle = THROTTLE,
    ) -> None:
        """Keep the connection's id; the connection itself is looked up on the loop, when first needed.

        :param zoho_conn_id: the Airflow connection of type ``zoho`` to use.
        :param token_cache: where this process keeps access tokens; the shared ``TOKEN_CACHE`` unless a
            test isolates one.
        :param throttle: the per-connection pauses and cap on requests in flight; the process's shared
            ``THROTTLE`` unless a test isolates one.
        """
        super().__init__(zoho_conn_id, token_cache=token_cache)
        self._throttle = throttle
        self._setup = _Setup(None)
        # A poller asks for the same job's status again and again: its request is built once.
        self._status_requests: dict[tuple[str, tuple[tuple[str, str | None], ...]], ApiRequest] = {}

    async def get_config(self) -> ZohoConnectionConfig:
        """Return the connection's checked settings, looked up once (together with the hooks on the same connection).

        :return: the settings.
        :raises ZohoConnectionError: the connection lacks a field or has one Zoho cannot accept.
        """
        if self._setup.config is None:
            self._setup = await _looked_up_together(self.zoho_conn_id, self._look_up)
        assert self._setup.config is not None  # a lookup always yields a config, or raises
        return self._setup.config

    async def _look_up(self) -> _Setup:
        conn = await self._get_connection()
        return _Setup(self._config_from(conn, await get_async_extra_dejson(conn)))

    async def _get_connection(self) -> Any:
        try:
            return await get_async_connection(self.zoho_conn_id)
        except AirflowNotFoundException:
            # Under ``airflow dags test`` on Airflow 3.3 the in-process async channel cannot reach
            # connections stored in the database; the synchronous lookup, in a worker thread, can.
            return await sync_to_async(BaseHook.get_connection)(self.zoho_conn_id)

    async def get_access_token(self) -> AccessToken:
        """Return the shared access token; when none is fresh, one poller of the connection requests it.

        The refresh is single-flight: the other pollers of the connection wait for it rather than each
        spending one of Zoho's few token requests, and a token another process or machine shared is used
        first.

        :return: the token.
        """
        config = await self.get_config()
        return await self._token_cache.aget(
            config.token_cache_key, self._request_token, self.token_store, self.remote_tokens
        )

    async def _request_token(self) -> AccessToken:
        config = await self.get_config()
        request = token_request(config)
        try:
            answer = await self._send(
                "POST", request.url, Service.ACCOUNTS, self._setup.redactor, data=request.form, allow_redirects=False
            )
            token = read_token_response(answer)
        except ZohoTransientError as error:
            # Zoho throttles token requests per refresh token for the rest of a 10-minute window: every
            # poller of this connection holds off, longer with each refusal, instead of each spending
            # another request on it.
            self._throttle.token_request_failed(config.token_cache_key, error.retry_after)
            raise error.located(self.about_token_request(config)) from None
        except ZohoError as error:
            raise error.located(self.about_token_request(config)) from None
        self._throttle.token_granted(config.token_cache_key)
        # mask_secret may talk to the supervisor synchronously: keep it off the event loop.
        await sync_to_async(mask_secret)(token.value)
        self.log.info("Got a Zoho access token for connection %s from %s", self.zoho_conn_id, request.url)
        return token

    async def _send(self, method: str, url: str, service: Service, redactor: Redactor, **kwargs: Any) -> Answer:
        """Send one request, its answer read whole but bounded in bytes and in time; the text redacted."""
        config = await self.get_config()
        try:
            # Queued behind the connection's cap first, so the deadline below counts only this request.
            async with self._throttle.slot(config.token_cache_key, config.max_concurrent_requests):
                async with asyncio.timeout(config.request_timeout):
                    pool = _pool()
                    proxy, proxy_auth = pool.proxy_for(url)
                    async with pool.session.request(
                        method,
                        url,
                        timeout=_NO_CLIENT_TIMEOUT,
                        max_redirects=MAX_REDIRECTS,
                        proxy=proxy,
                        proxy_auth=proxy_auth,
                        **kwargs,
                    ) as response:
                        body = BoundedBody(config.max_response_bytes, response.headers.get("Content-Encoding"))
                        while chunk := await response.content.readany():
                            body.feed(chunk)
                        return Answer(
                            response.status,
                            answer_text(body.finish(), redactor),
                            retry_after=response.headers.get("Retry-After"),
                            location=response.headers.get("Location"),
                        )
        except TimeoutError as error:
            raise network_error(service, error, timed_out=True, url=url) from error
        except aiohttp.ClientError as error:
            raise network_error(service, error, timed_out=False, url=url) from error
        except (ResponseTooLarge, UnsupportedEncoding) as error:
            raise invalid_answer(service, str(error)) from None

    async def get_json(self, request: ApiRequest) -> Any:
        """GET with the shared token; a rejected token is dropped and the call retried once with a new one.

        :param request: what to GET.
        :return: Zoho's decoded answer.
        """
        token = await self.get_access_token()
        try:
            return await self._get_json_with(request, token)
        except ZohoTokenInvalidError:
            key = (await self.get_config()).token_cache_key
            # The store's discard takes its lock and may call the Variable API: in a thread, off the loop.
            await asyncio.to_thread(self._token_cache.invalidate, key, token.value, self.token_store)
        return await self._get_json_with(request, await self.get_access_token())

    async def _get_json_with(self, request: ApiRequest, token: AccessToken) -> Any:
        key = (await self.get_config()).token_cache_key
        headers = {**request.headers, **authorization(token)}
        answer = await self._send("GET", request.url, request.service, self._redactor_for(token), headers=headers)
        try:
            body = read_api_response(request, answer)
        except ZohoTransientError as error:
            if error.http_status == 429:
                self._throttle.pause(key, error.retry_after)
            raise
        self._throttle.resume(key)
        return body

    def _redactor_for(self, token: AccessToken) -> Redactor:
        """Return the config's redactor plus the access token a request carries.

        Built once per token and shared by the hooks that looked the connection up together.
        """
        setup = self._setup
        if setup.token_redactor is None or setup.token_redactor[0] != token.value:
            setup.token_redactor = (token.value, setup.redactor.with_secret(token.value))
        return setup.token_redactor[1]

    def throttle_remaining(self) -> float:
        """Return the seconds this connection's pollers should still hold off after a 429 (0 when none).

        :return: the seconds left; 0 also before the connection has been looked up.
        """
        config = self._setup.config
        return 0.0 if config is None else self._throttle.remaining(config.token_cache_key)

    async def get_job_status(self, kind: JobKind, coordinates: Mapping[str, str | None]) -> JobStatus:
        """Ask Zoho for a job's status once; the request is built on the first call and reused for every later poll.

        :param kind: the job's kind (its product and API).
        :param coordinates: where the job is: its id, and the workspace, org, app or form its kind needs;
            optional ones left out come from the connection.
        :return: the job's state, read as its kind reads Zoho's answer.
        """
        memo_key = (kind.name, tuple(coordinates.items()))
        request = self._status_requests.get(memo_key)
        if request is None:
            request = self._status_requests[memo_key] = job_status_request(await self.get_config(), kind, coordinates)
        try:
            body = await self.get_json(request)
        except ZohoError as error:
            raise error.located(self.about_job(kind, coordinates)) from None
        return read_job_status(kind, kind.job_id_of(coordinates), body)
