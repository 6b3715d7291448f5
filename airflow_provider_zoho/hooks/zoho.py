"""The synchronous Zoho hook: poke and reschedule mode, the connection form and its Test button."""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cached_property
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3

from airflow_provider_zoho.compat import conf, mask_secret
from airflow_provider_zoho.connection_config import ZohoConnectionConfig, ZohoConnectionError
from airflow_provider_zoho.connection_form import (
    hook_field_behaviour,
    wtforms_widgets,
)
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.exceptions import ZohoError, ZohoTokenInvalidError
from airflow_provider_zoho.hooks.base import ZohoBaseHook
from airflow_provider_zoho.hooks.body import (
    ACCEPT_ENCODING,
    READ_CHUNK_BYTES,
    BoundedBody,
    ResponseTooLarge,
    UnsupportedEncoding,
)
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
from airflow_provider_zoho.hooks.token_cache import AccessToken
from airflow_provider_zoho.hooks.token_file_store import FileTokenStore
from airflow_provider_zoho.jobs import JobKind, JobStatus, read_job_status

# Redirects a status GET may follow, as on the async path; token requests follow none.
MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class ZohoHook(ZohoBaseHook):
    """Talks to Zoho with ``requests``, sharing one access token per client and refresh token.

    :param zoho_conn_id: the ``zoho`` connection: login = client id, password = client secret, extra
        ``refresh_token`` (required), ``data_center`` (default ``us``), ``analytics_org_id``,
        ``creator_environment``, ``timeout``; ``host`` replaces every Zoho host (proxies, the emulator).
    """

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        return wtforms_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return hook_field_behaviour()

    @cached_property
    def config(self) -> ZohoConnectionConfig:
        conn = self.get_connection(self.zoho_conn_id)
        config = self._config_from(conn, conn.extra_dejson)
        mask_secret(config.client_secret)
        mask_secret(config.refresh_token)
        return config

    @cached_property
    def session(self) -> requests.Session:
        session = requests.Session()
        # Only what ``BoundedBody`` can inflate under its bound (requests would also offer br and zstd).
        session.headers["Accept-Encoding"] = ACCEPT_ENCODING
        return session

    @cached_property
    def token_store(self) -> FileTokenStore | None:
        """The cross-process token store, when ``[zoho] token_cache_dir`` turns it on (reschedule mode)."""
        folder = conf.get("zoho", "token_cache_dir", fallback=None)
        return FileTokenStore(folder) if folder else None

    def get_access_token(self) -> AccessToken:
        return self._token_cache.get(self.config.token_cache_key, self._request_token, store=self.token_store)

    @cached_property
    def redactor(self) -> Redactor:
        return Redactor((self.config.client_secret, self.config.refresh_token))

    def _request_token(self) -> AccessToken:
        request = token_request(self.config)
        try:
            token = read_token_response(
                self._send("POST", request.url, Service.ACCOUNTS, self.redactor, data=request.form)
            )
        except ZohoError as error:
            raise error.located(self.about_token_request(self.config)) from None
        mask_secret(token.value)
        self.log.info("Got a Zoho access token for connection %s from %s", self.zoho_conn_id, request.url)
        return token

    def _send(self, method: str, url: str, service: Service, redactor: Redactor, **kwargs: Any) -> Answer:
        """One request, never redirected; its answer bounded in bytes and by one deadline, its text redacted.

        ``requests`` bounds each socket operation only, so a server sending a byte a second would hold a
        worker forever; the body is read here, chunk by chunk, each read given what is left of the deadline.
        """
        config = self.config
        deadline = time.monotonic() + config.request_timeout
        try:
            with self.session.request(
                method, url, timeout=config.request_timeout, stream=True, allow_redirects=False, **kwargs
            ) as response:
                body = BoundedBody(config.max_response_bytes, response.headers.get("Content-Encoding"))
                while chunk := _read_some(response.raw, deadline):
                    body.feed(chunk)
                return Answer(
                    response.status_code,
                    answer_text(body.finish(), redactor),
                    retry_after=response.headers.get("Retry-After"),
                    location=response.headers.get("Location"),
                )
        except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) as error:
            raise network_error(service, error, timed_out=True, url=url) from error
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            raise network_error(service, error, timed_out=False, url=url) from error
        except (ResponseTooLarge, UnsupportedEncoding) as error:
            raise invalid_answer(service, str(error)) from None

    def _get(self, url: str, service: Service, redactor: Redactor, headers: dict[str, str]) -> Answer:
        """A GET that follows a few redirects itself, dropping Authorization where ``requests`` would.

        Followed here rather than by ``requests``, which reads each redirect's body whole and unbounded.
        """
        for _ in range(MAX_REDIRECTS):
            answer = self._send("GET", url, service, redactor, headers=headers)
            if answer.status not in _REDIRECT_STATUSES or not answer.location:
                return answer
            target = urljoin(url, answer.location)
            if self.session.should_strip_auth(url, target):
                headers = {name: value for name, value in headers.items() if name != "Authorization"}
            url = target
        return self._send("GET", url, service, redactor, headers=headers)

    def get_json(self, request: ApiRequest) -> Any:
        """GET with the shared token; a rejected token is dropped and the call retried once with a new one."""
        token = self.get_access_token()
        try:
            return self._get_json_with(request, token)
        except ZohoTokenInvalidError:
            self._token_cache.invalidate(self.config.token_cache_key, token.value, store=self.token_store)
        return self._get_json_with(request, self.get_access_token())

    def _get_json_with(self, request: ApiRequest, token: AccessToken) -> Any:
        headers = {**request.headers, **authorization(token)}
        answer = self._get(request.url, request.service, self.redactor.with_secret(token.value), headers)
        return read_api_response(request, answer)

    def get_job_status(self, kind: JobKind, coordinates: Mapping[str, str | None]) -> JobStatus:
        request = job_status_request(self.config, kind, coordinates)
        try:
            body = self.get_json(request)
        except ZohoError as error:
            raise error.located(self.about_job(kind, coordinates)) from None
        return read_job_status(kind, kind.job_id_of(coordinates), body)

    def test_connection(self) -> tuple[bool, str]:
        """Refresh a token for real, so a wrong secret, refresh token or data center shows up here."""
        try:
            token = self._request_token()
        except (ZohoError, ZohoConnectionError) as error:
            return False, str(error)
        self._token_cache.put(self.config.token_cache_key, token)
        return True, (
            f"Connected: Zoho accounts at {self.config.base_url(Service.ACCOUNTS)} issued an access token"
            + (f" for API domain {token.api_domain}" if token.api_domain else "")
            + "."
        )


def _read_some(raw: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """What has arrived of the body (at most a chunk), waiting no longer than the deadline allows."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the answer did not arrive within the request timeout")
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:  # reach the socket: each wait gets only what is left of the whole deadline
        sock.settimeout(left)
    return raw.read1(READ_CHUNK_BYTES, decode_content=False)
