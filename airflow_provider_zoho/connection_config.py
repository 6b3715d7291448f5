"""A Zoho connection's fields, checked once and turned into what a request needs.

Pure: it takes the connection's plain fields so the sync hook (``Connection.extra_dejson``) and the async
hook (``get_async_extra_dejson``) share every rule, and a bad connection fails with a message that names
the field to fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_zoho.data_centers import DEFAULT_DATA_CENTER, DataCenter, Service, get_data_center

CREATOR_ENVIRONMENTS = ("development", "stage")
DEFAULT_REQUEST_TIMEOUT = 30.0
# Zoho's status answers are a few KB; 10 MB leaves room for any real answer and none for a bomb.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# Below the smallest concurrency any Zoho edition allows one app (CRM Standard: 5).
DEFAULT_MAX_CONCURRENT_REQUESTS = 5


class ZohoConnectionError(ValueError):
    """The connection is missing a field or has one Zoho cannot accept."""


@dataclass(frozen=True)
class ZohoConnectionConfig:
    conn_id: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    data_center: DataCenter
    base_url_override: str | None = None
    analytics_org_id: str | None = None
    creator_environment: str | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS

    @classmethod
    def from_fields(
        cls,
        conn_id: str,
        *,
        login: str | None,
        password: str | None,
        host: str | None,
        extra: Mapping[str, Any],
    ) -> ZohoConnectionConfig:
        where = f"Zoho connection {conn_id!r}"
        # Forms of Airflow before 2.3 stored custom fields as ``extra__zoho__<name>``; accept both spellings.
        extra = {key.removeprefix("extra__zoho__"): value for key, value in extra.items()}
        if not login:
            raise ZohoConnectionError(f"{where} has no client id: set its Client ID (login) field.")
        if not password:
            raise ZohoConnectionError(f"{where} has no client secret: set its Client Secret (password) field.")
        refresh_token = str(extra.get("refresh_token") or "")
        if not refresh_token:
            raise ZohoConnectionError(f"{where} has no refresh token: set the extra field 'refresh_token'.")
        try:
            data_center = get_data_center(str(extra.get("data_center") or DEFAULT_DATA_CENTER))
        except ValueError as error:
            raise ZohoConnectionError(f"{where}: {error}") from None
        environment = extra.get("creator_environment") or None
        if environment is not None and environment not in CREATOR_ENVIRONMENTS:
            raise ZohoConnectionError(
                f"{where}: creator_environment must be one of {', '.join(CREATOR_ENVIRONMENTS)} "
                f"(leave it empty for production), not {environment!r}."
            )
        return cls(
            conn_id=conn_id,
            client_id=login,
            client_secret=password,
            refresh_token=refresh_token,
            data_center=data_center,
            base_url_override=_base_url(where, host),
            analytics_org_id=str(extra["analytics_org_id"]) if extra.get("analytics_org_id") else None,
            creator_environment=environment,
            request_timeout=_positive_float(
                where, "timeout", _unless_blank(extra.get("timeout"), DEFAULT_REQUEST_TIMEOUT)
            ),
            max_response_bytes=_positive_int(
                where, "max_response_bytes", _unless_blank(extra.get("max_response_bytes"), DEFAULT_MAX_RESPONSE_BYTES)
            ),
            max_concurrent_requests=_positive_int(
                where,
                "max_concurrent_requests",
                _unless_blank(extra.get("max_concurrent_requests"), DEFAULT_MAX_CONCURRENT_REQUESTS),
            ),
        )

    def base_url(self, service: Service) -> str:
        """Where requests for ``service`` go: the override for every service, else the DC's HTTPS host."""
        if self.base_url_override:
            return self.base_url_override
        try:
            return f"https://{self.data_center.host_for(service)}"
        except ValueError as error:  # a DC without this product: the connection is what must change
            raise ZohoConnectionError(f"Zoho connection {self.conn_id!r}: {error}") from None

    @cached_property  # hashed once: a triggerer reads it on every poll of every sensor
    def token_cache_key(self) -> str:
        """Which tokens are interchangeable: one accounts server, one client, one refresh token.

        The refresh token enters only as a digest, so the key can be logged and used as a file name.
        """
        digest = hashlib.sha256(self.refresh_token.encode()).hexdigest()[:32]
        client = hashlib.sha256(self.client_id.encode()).hexdigest()[:16]
        accounts = hashlib.sha256(self.base_url(Service.ACCOUNTS).encode()).hexdigest()[:16]
        return f"{accounts}-{client}-{digest}"

    @property
    def defaults(self) -> dict[str, str | None]:
        """Optional job coordinates the connection supplies when a sensor leaves them out."""
        return {"org_id": self.analytics_org_id, "environment": self.creator_environment}


def _base_url(where: str, host: str | None) -> str | None:
    if not host:
        return None
    url = host.strip().rstrip("/")
    if "://" not in url:
        url = f"https://{url}"
    parts = urlsplit(url)
    if parts.username or parts.password:
        # It would be logged with every token request; credentials belong in login and password.
        raise ZohoConnectionError(f"{where}: host must not contain credentials; put them in login and password.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ZohoConnectionError(f"{where}: host must be a base URL such as https://proxy.example.com, not {host!r}.")
    return url


def _unless_blank(value: Any, default: Any) -> Any:
    """A form leaves an untouched optional field null or empty: that means the default, not an error."""
    return default if value is None or value == "" else value


def _positive_float(where: str, name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0:
        raise ZohoConnectionError(f"{where}: extra {name!r} must be a positive number of seconds, not {value!r}.")
    return number


def _positive_int(where: str, name: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ZohoConnectionError(f"{where}: extra {name!r} must be a positive whole number, not {value!r}.")
    return value
