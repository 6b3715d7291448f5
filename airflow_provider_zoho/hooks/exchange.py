"""What the sync and async hooks send to Zoho and how they read the answer, without doing any I/O.

Both hooks build requests and read responses here, so a rule (an error code, a header, the OAuth
HTTP-200-error quirk) is written once and tested without a network.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.errors import Dialect, error_from_response, make_error
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.token_cache import AccessToken
from airflow_provider_zoho.jobs import JobKind

TOKEN_PATH = "/oauth/v2/token"


@dataclass(frozen=True)
class TokenRequest:
    url: str
    form: dict[str, str] = field(repr=False)  # holds the client secret and the refresh token


@dataclass(frozen=True)
class ApiRequest:
    url: str
    headers: dict[str, str]
    service: Service
    dialect: Dialect


def token_request(config: ZohoConnectionConfig) -> TokenRequest:
    # The credentials travel in the form body, never the query string, so no proxy or access log keeps them.
    return TokenRequest(
        url=config.base_url(Service.ACCOUNTS) + TOKEN_PATH,
        form={
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "refresh_token": config.refresh_token,
        },
    )


def decode_json(text: str) -> Any:
    """The decoded body, or ``None`` when it is not JSON (an HTML error page from a gateway, say)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def read_token_response(http_status: int, text: str, *, now: float | None = None) -> AccessToken:
    """Accounts answers errors with HTTP 200, so success is the presence of ``access_token``."""
    body = decode_json(text)
    if isinstance(body, dict) and body.get("access_token"):
        # A legacy variant reports seconds in ``expires_in_sec`` and milliseconds in ``expires_in``.
        lifetime = body.get("expires_in_sec") or body.get("expires_in") or 3600
        return AccessToken(
            value=str(body["access_token"]),
            expires_at=(time.time() if now is None else now) + float(lifetime),
            api_domain=body.get("api_domain"),
        )
    error = error_from_response(Dialect.ACCOUNTS, Service.ACCOUNTS.value, http_status, body, body_text=text)
    if error is None:  # JSON without a token and without an error: nothing Zoho documents.
        error = make_error(Dialect.HTTP, "INVALID_RESPONSE", "token response has no access_token", service="accounts")
    raise error


def job_status_request(
    config: ZohoConnectionConfig, kind: JobKind, coordinates: Mapping[str, str | None]
) -> ApiRequest:
    """The GET for a job's status; optional coordinates left out fall back on the connection's."""
    merged = dict(coordinates)
    for name in kind.optional_coordinates:
        merged[name] = coordinates.get(name) or config.defaults.get(name)
    return ApiRequest(
        url=config.base_url(kind.service) + kind.url_path(merged),
        headers={"Accept": "application/json", **kind.request_headers(merged)},
        service=kind.service,
        dialect=kind.dialect,
    )


def authorization(token: AccessToken) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {token.value}"}


def read_api_response(request: ApiRequest, http_status: int, text: str, retry_after: str | None) -> Any:
    """The decoded body of a normal answer; raises the typed ``ZohoError`` the table assigns otherwise."""
    body = decode_json(text)
    error = error_from_response(
        request.dialect, request.service.value, http_status, body, retry_after=retry_after, body_text=text
    )
    if error is not None:
        raise error
    return body


def network_error(service: Service, error: BaseException, *, timed_out: bool) -> ZohoError:
    """A failure below HTTP, named by its type only: its text can hold a URL we'd rather not log."""
    code = "TIMEOUT" if timed_out else "CONNECTION_ERROR"
    return make_error(
        Dialect.HTTP, code, f"{type(error).__name__} talking to Zoho {service.value}", service=service.value
    )
