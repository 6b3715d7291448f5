"""The asynchronous Zoho hook the trigger polls with; nothing in it blocks the event loop.

A triggerer runs hundreds of triggers on one loop, so everything here is shared per process or per loop:
one pooled ``aiohttp.ClientSession`` per loop (bounded sockets per host), one access token per connection
(single-flight refresh), and one throttle pause per connection, so that a 429 slows every poller of that
connection instead of each one discovering it on its own.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Mapping
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
from airflow_provider_zoho.exceptions import ZohoTokenInvalidError, ZohoTransientError
from airflow_provider_zoho.hooks.base import ZohoBaseHook
from airflow_provider_zoho.hooks.exchange import (
    ApiRequest,
    authorization,
    job_status_request,
    network_error,
    read_api_response,
    read_token_response,
    token_request,
)
from airflow_provider_zoho.hooks.token_cache import TOKEN_CACHE, AccessToken, TokenCache
from airflow_provider_zoho.jobs import JobKind, JobStatus, get_job_kind, read_job_status

# Sockets one event loop keeps open to one Zoho host. Requests beyond it queue in aiohttp's connector,
# which is what Zoho's per-app concurrency limits (5 to 25 for CRM) want anyway.
MAX_CONNECTIONS_PER_HOST = 16
# How long a connection's pollers hold off after a 429 that came without a Retry-After header, or after
# Zoho refused a token request ("Access Denied": at most one attempt per connection per pause, then).
DEFAULT_THROTTLE_PAUSE_SECONDS = 10.0

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()
_throttled_until: dict[str, float] = {}  # connection's token key -> time.monotonic() deadline


def shared_session() -> aiohttp.ClientSession:
    """The running loop's pooled session, created on first use."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit_per_host=MAX_CONNECTIONS_PER_HOST, ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
        _sessions[loop] = session
    return session


async def close_shared_session() -> None:
    """Close the running loop's session: for tests and scripts that end their loop; a triggerer never does."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


class ZohoAsyncHook(ZohoBaseHook):
    """Async twin of :class:`~airflow_provider_zoho.hooks.zoho.ZohoHook`, for triggers."""

    def __init__(self, zoho_conn_id: str = DEFAULT_CONN_ID, *, token_cache: TokenCache = TOKEN_CACHE) -> None:
        super().__init__(zoho_conn_id, token_cache=token_cache)
        self._config: ZohoConnectionConfig | None = None
        # Built once from the config, not per request.
        self._timeout = aiohttp.ClientTimeout()

    async def get_config(self) -> ZohoConnectionConfig:
        if self._config is None:
            conn = await self._get_connection()
            extra = await get_async_extra_dejson(conn)
            config = self._config_from(conn, extra)
            # Per socket operation, not ``total``: a total would also count the wait for a pooled socket,
            # and under load (1,000 triggers, 16 sockets) queued polls would time out without Zoho being slow.
            self._timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=config.request_timeout, sock_read=config.request_timeout
            )
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
        request = token_request(await self.get_config())
        status, text, _ = await self._send("POST", request.url, Service.ACCOUNTS, data=request.form)
        try:
            token = read_token_response(status, text)
        except ZohoTransientError as error:
            # Zoho throttles token requests per refresh token for the rest of a 10-minute window: every
            # poller of this connection holds off, instead of each spending another request on it.
            await self._note_throttled(error.retry_after)
            raise
        # mask_secret may talk to the supervisor synchronously: keep it off the event loop.
        await sync_to_async(mask_secret)(token.value)
        self.log.info("Got a Zoho access token for connection %s from %s", self.zoho_conn_id, request.url)
        return token

    async def _send(self, method: str, url: str, service: Service, **kwargs: Any) -> tuple[int, str, str | None]:
        await self.get_config()
        try:
            async with shared_session().request(method, url, timeout=self._timeout, **kwargs) as response:
                body = await response.read()
                return response.status, body.decode("utf-8", errors="replace"), response.headers.get("Retry-After")
        except TimeoutError as error:
            raise network_error(service, error, timed_out=True) from error
        except aiohttp.ClientError as error:
            raise network_error(service, error, timed_out=False) from error

    async def get_json(self, request: ApiRequest) -> Any:
        """GET with the shared token; a rejected token is dropped and the call retried once with a new one."""
        token = await self.get_access_token()
        try:
            return await self._get_json_with(request, token)
        except ZohoTokenInvalidError:
            self._token_cache.invalidate((await self.get_config()).token_cache_key, token.value)
        return await self._get_json_with(request, await self.get_access_token())

    async def _get_json_with(self, request: ApiRequest, token: AccessToken) -> Any:
        headers = {**request.headers, **authorization(token)}
        status, text, retry_after = await self._send("GET", request.url, request.service, headers=headers)
        try:
            return read_api_response(request, status, text, retry_after)
        except ZohoTransientError as error:
            if error.http_status == 429:
                await self._note_throttled(error.retry_after)
            raise

    async def _note_throttled(self, retry_after: float | None) -> None:
        key = (await self.get_config()).token_cache_key
        until = time.monotonic() + (retry_after if retry_after is not None else DEFAULT_THROTTLE_PAUSE_SECONDS)
        _throttled_until[key] = max(_throttled_until.get(key, 0.0), until)

    def throttle_remaining(self) -> float:
        """Seconds this connection's pollers should still hold off after a 429 (0 when none)."""
        until = _throttled_until.get(self._config.token_cache_key) if self._config is not None else None
        return 0.0 if until is None else max(0.0, until - time.monotonic())

    async def get_job_status(self, kind: JobKind | str, coordinates: Mapping[str, str | None]) -> JobStatus:
        job_kind = get_job_kind(kind) if isinstance(kind, str) else kind
        request = await self.status_request(job_kind, coordinates)
        return await self.read_status(job_kind, str(coordinates["job_id"]), request)

    async def status_request(self, kind: JobKind, coordinates: Mapping[str, str | None]) -> ApiRequest:
        """The GET for a job's status; a poller builds it once and reuses it for every poll of the job."""
        return job_status_request(await self.get_config(), kind, coordinates)

    async def read_status(self, kind: JobKind, job_id: str, request: ApiRequest) -> JobStatus:
        """Send a prepared status request and classify the answer."""
        return read_job_status(kind, job_id, await self.get_json(request))
