"""The asynchronous Zoho hook the trigger polls with; nothing in it blocks the event loop.

A triggerer runs hundreds of triggers on one loop, so everything here is shared per process or per loop:
one pooled ``aiohttp.ClientSession`` per loop, one access token per connection (single-flight refresh), and
one :class:`~airflow_provider_zoho.hooks.throttle.Throttle` per process (a 429 slows every poller of the
connection, and a cap bounds its requests in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from asgiref.sync import sync_to_async

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
    network_error,
    read_api_response,
    read_token_response,
    token_request,
)
from airflow_provider_zoho.hooks.redaction import Redactor
from airflow_provider_zoho.hooks.throttle import THROTTLE, Throttle
from airflow_provider_zoho.hooks.token_cache import TOKEN_CACHE, AccessToken, TokenCache
from airflow_provider_zoho.jobs import JobKind, JobStatus, read_job_status

# Redirects a status GET may follow (aiohttp drops Authorization when one leaves the origin).
MAX_REDIRECTS = 3

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()
_users: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def shared_session() -> aiohttp.ClientSession:
    """The running loop's pooled session, created on first use.

    Sockets are bounded per connection by the throttle's cap, not by the connector, so that waiting for a
    socket never eats into a request's deadline. ``trust_env`` honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY the
    way ``requests`` does on the sync path. Decompression is ours (``BoundedBody``), bounded.
    """
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        session = aiohttp.ClientSession(
            connector=connector,
            raise_for_status=False,
            trust_env=True,
            auto_decompress=False,
            headers={"Accept-Encoding": ACCEPT_ENCODING},
        )
        _sessions[loop] = session
    return session


async def close_shared_session() -> None:
    """Close the running loop's session: for tests and scripts that end their loop; a triggerer never does."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


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


class ZohoAsyncHook(ZohoBaseHook):
    """Async twin of :class:`~airflow_provider_zoho.hooks.zoho.ZohoHook`, for triggers."""

    def __init__(
        self,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        *,
        token_cache: TokenCache = TOKEN_CACHE,
        throttle: Throttle = THROTTLE,
    ) -> None:
        super().__init__(zoho_conn_id, token_cache=token_cache)
        self._throttle = throttle
        self._config: ZohoConnectionConfig | None = None
        # Built once from the config, not per request.
        self._timeout = aiohttp.ClientTimeout()
        self._redactor = Redactor(())
        self._token_redactor: tuple[str, Redactor] | None = None
        # A poller asks for the same job's status again and again: its request is built once.
        self._status_requests: dict[tuple[str, tuple[tuple[str, str | None], ...]], ApiRequest] = {}

    async def get_config(self) -> ZohoConnectionConfig:
        if self._config is None:
            conn = await self._get_connection()
            extra = await get_async_extra_dejson(conn)
            config = self._config_from(conn, extra)
            # Per socket operation; the whole request is bounded by ``request_timeout`` in ``_send``.
            self._timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=config.request_timeout, sock_read=config.request_timeout
            )
            self._redactor = Redactor((config.client_secret, config.refresh_token))
            self._config = config
        return self._config

    async def _get_connection(self) -> Any:
        try:
            return await get_async_connection(self.zoho_conn_id)
        except AirflowNotFoundException:
            # Under ``airflow dags test`` on Airflow 3.3 the in-process async channel cannot reach
            # connections stored in the database; the synchronous lookup, in a worker thread, can.
            return await sync_to_async(BaseHook.get_connection)(self.zoho_conn_id)

    async def get_access_token(self) -> AccessToken:
        config = await self.get_config()
        return await self._token_cache.aget(config.token_cache_key, self._request_token)

    async def _request_token(self) -> AccessToken:
        config = await self.get_config()
        request = token_request(config)
        try:
            answer = await self._send(
                "POST", request.url, Service.ACCOUNTS, self._redactor, data=request.form, allow_redirects=False
            )
            token = read_token_response(answer)
        except ZohoTransientError as error:
            # Zoho throttles token requests per refresh token for the rest of a 10-minute window: every
            # poller of this connection holds off, instead of each spending another request on it.
            self._throttle.pause(config.token_cache_key, error.retry_after)
            raise error.located(self.about_token_request(config)) from None
        except ZohoError as error:
            raise error.located(self.about_token_request(config)) from None
        # mask_secret may talk to the supervisor synchronously: keep it off the event loop.
        await sync_to_async(mask_secret)(token.value)
        self.log.info("Got a Zoho access token for connection %s from %s", self.zoho_conn_id, request.url)
        return token

    async def _send(self, method: str, url: str, service: Service, redactor: Redactor, **kwargs: Any) -> Answer:
        """One request, its answer read whole but bounded in bytes and in time; the text redacted."""
        config = await self.get_config()
        try:
            # Queued behind the connection's cap first, so the deadline below counts only this request.
            async with self._throttle.slot(config.token_cache_key, config.max_concurrent_requests):
                async with asyncio.timeout(config.request_timeout):
                    async with shared_session().request(
                        method, url, timeout=self._timeout, max_redirects=MAX_REDIRECTS, **kwargs
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
        """GET with the shared token; a rejected token is dropped and the call retried once with a new one."""
        token = await self.get_access_token()
        try:
            return await self._get_json_with(request, token)
        except ZohoTokenInvalidError:
            self._token_cache.invalidate((await self.get_config()).token_cache_key, token.value)
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
        """The config's redactor plus the access token a request carries, built once per token."""
        if self._token_redactor is None or self._token_redactor[0] != token.value:
            self._token_redactor = (token.value, self._redactor.with_secret(token.value))
        return self._token_redactor[1]

    def throttle_remaining(self) -> float:
        """Seconds this connection's pollers should still hold off after a 429 (0 when none)."""
        return 0.0 if self._config is None else self._throttle.remaining(self._config.token_cache_key)

    async def get_job_status(self, kind: JobKind, coordinates: Mapping[str, str | None]) -> JobStatus:
        """The job's status; the request is built on the first call and reused for every later poll."""
        memo_key = (kind.name, tuple(coordinates.items()))
        request = self._status_requests.get(memo_key)
        if request is None:
            request = self._status_requests[memo_key] = job_status_request(await self.get_config(), kind, coordinates)
        try:
            body = await self.get_json(request)
        except ZohoError as error:
            raise error.located(self.about_job(kind, coordinates)) from None
        return read_job_status(kind, kind.job_id_of(coordinates), body)
