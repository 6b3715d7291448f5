"""The synchronous Zoho hook: poke and reschedule mode, the connection form and its Test button."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import requests

from airflow_provider_zoho.compat import conf, mask_secret
from airflow_provider_zoho.connection_config import ZohoConnectionConfig, ZohoConnectionError
from airflow_provider_zoho.connection_form import (
    hook_field_behaviour,
    wtforms_widgets,
)
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.exceptions import ZohoError, ZohoTokenInvalidError
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
from airflow_provider_zoho.hooks.token_cache import AccessToken
from airflow_provider_zoho.hooks.token_file_store import FileTokenStore
from airflow_provider_zoho.jobs import JobKind, JobStatus, get_job_kind, read_job_status


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
        return requests.Session()

    @cached_property
    def token_store(self) -> FileTokenStore | None:
        """The cross-process token store, when ``[zoho] token_cache_dir`` turns it on (reschedule mode)."""
        folder = conf.get("zoho", "token_cache_dir", fallback=None)
        return FileTokenStore(folder) if folder else None

    def get_access_token(self) -> AccessToken:
        return self._token_cache.get(self.config.token_cache_key, self._request_token, store=self.token_store)

    def _request_token(self) -> AccessToken:
        request = token_request(self.config)
        response = self._send("POST", request.url, Service.ACCOUNTS, data=request.form)
        token = read_token_response(response.status_code, _text(response))
        mask_secret(token.value)
        self.log.info("Got a Zoho access token for connection %s from %s", self.zoho_conn_id, request.url)
        return token

    def _send(self, method: str, url: str, service: Service, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=self.config.request_timeout, **kwargs)
        except requests.Timeout as error:
            raise network_error(service, error, timed_out=True) from error
        except requests.RequestException as error:
            raise network_error(service, error, timed_out=False) from error

    def get_json(self, request: ApiRequest) -> Any:
        """GET with the shared token; a rejected token is dropped and the call retried once with a new one."""
        token = self.get_access_token()
        try:
            return self._get_json_with(request, token)
        except ZohoTokenInvalidError:
            self._token_cache.invalidate(self.config.token_cache_key, token.value, store=self.token_store)
        return self._get_json_with(request, self.get_access_token())

    def _get_json_with(self, request: ApiRequest, token: AccessToken) -> Any:
        response = self._send("GET", request.url, request.service, headers={**request.headers, **authorization(token)})
        return read_api_response(request, response.status_code, _text(response), response.headers.get("Retry-After"))

    def get_job_status(self, kind: JobKind | str, coordinates: Mapping[str, str | None]) -> JobStatus:
        job_kind = get_job_kind(kind) if isinstance(kind, str) else kind
        request = job_status_request(self.config, job_kind, coordinates)
        return read_job_status(job_kind, str(coordinates["job_id"]), self.get_json(request))

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


def _text(response: requests.Response) -> str:
    # Zoho answers UTF-8 JSON; decoding directly skips requests' costly charset detection.
    return response.content.decode("utf-8", errors="replace")
