"""A Zoho connection's fields, checked once and turned into what a request needs.

Pure: it takes the connection's plain fields so the sync hook (``Connection.extra_dejson``) and the async
hook (``get_async_extra_dejson``) share every rule, and a bad connection fails with a message that names
the field to fix.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import SplitResult, urlsplit

from airflow_provider_zoho.data_centers import (
    DATA_CENTERS,
    DEFAULT_DATA_CENTER,
    DataCenter,
    Service,
    get_data_center,
)
from airflow_provider_zoho.products import ANALYTICS, CREATOR, CRM

CREATOR_ENVIRONMENTS = CREATOR.choices["environment"]
DEFAULT_REQUEST_TIMEOUT = 30.0
# Zoho's status answers are a few KB; 10 MB leaves room for any real answer and none for a bomb.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# Below the smallest concurrency any Zoho edition allows one app (CRM Standard: 5).
DEFAULT_MAX_CONCURRENT_REQUESTS = 5
# Beyond about 1e9 seconds sockets raise OverflowError; a day is already far more than one request needs.
MAX_REQUEST_TIMEOUT = 86_400.0
_SCHEMES = ("https", "http")
_MAX_PORT = 65_535


class ZohoConnectionError(ValueError):
    """The connection is missing a field or has one Zoho cannot accept."""


@dataclass(frozen=True)
class ZohoConnectionConfig:
    """A ``zoho`` connection's settings, each checked: what the hooks and the credentials command send with.

    Built by ``from_fields``, never by hand, so that every value has passed its check. The secrets are kept
    out of ``repr``; ``base_url_override`` is the ``host`` field, which replaces every Zoho host (a proxy,
    the emulator).
    """

    conn_id: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    data_center: DataCenter
    base_url_override: str | None = None
    analytics_org_id: str | None = None
    creator_environment: str | None = None
    crm_org_id: str | None = None
    upload_host: str | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS

    @classmethod
    def from_fields(
        cls,
        conn_id: str,
        *,
        login: object,
        password: object,
        host: object,
        extra: object,
        port: object = None,
        schema: object = None,
    ) -> ZohoConnectionConfig:
        """Check a connection's fields as Airflow hands them over and build the config, or say what to fix.

        Fields are typed ``object``: a connection written as JSON or a URI reaches here unchecked by Airflow,
        so an ``extra`` that decoded to a list or a ``timeout`` of ``"nan"`` is this function's to reject.
        ``port`` and ``schema`` (the URL scheme, as Airflow's HTTP connections use it) complete ``host``.

        :param conn_id: the connection's id, named in every message.
        :param login: the client id.
        :param password: the client secret.
        :param host: a base URL replacing every Zoho host, or empty.
        :param extra: the extra, decoded: ``refresh_token`` (required), ``data_center``,
            ``analytics_org_id``, ``creator_environment``, ``crm_org_id``, ``upload_host``, ``timeout``,
            ``max_response_bytes``, ``max_concurrent_requests``.
        :param port: the port completing ``host``, or empty.
        :param schema: ``http`` or ``https`` completing ``host``, or empty.
        :return: the checked settings.
        :raises ZohoConnectionError: a field is missing or wrong, named with the way to fix it.
        """
        where = f"Zoho connection {conn_id!r}"
        extra = _extra_object(where, extra)
        login = _credential(where, "client id (login)", login, "client id: set its Client ID (login) field")
        password = _credential(
            where, "client secret (password)", password, "client secret: set its Client Secret (password) field"
        )
        refresh_token = _credential(
            where, "refresh_token", extra.get("refresh_token"), "refresh token: set the extra field 'refresh_token'"
        )
        return cls(
            conn_id=conn_id,
            client_id=login,
            client_secret=password,
            refresh_token=refresh_token,
            data_center=_data_center(where, extra.get("data_center")),
            base_url_override=_base_url(where, host, port, schema),
            analytics_org_id=_analytics_org_id(where, extra.get("analytics_org_id")),
            creator_environment=_creator_environment(where, extra.get("creator_environment")),
            crm_org_id=_crm_org_id(where, extra.get("crm_org_id")),
            upload_host=_upload_host(where, extra.get("upload_host")),
            request_timeout=_request_timeout(where, extra.get("timeout")),
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
        """Return where requests for ``service`` go: the override for every service, else the DC's HTTPS host.

        :param service: the Zoho service (accounts, the API, Analytics).
        :return: the base URL, without a trailing slash.
        :raises ZohoConnectionError: the data center has no host for that service (Analytics in ``uk``).
        """
        if self.base_url_override:
            return self.base_url_override
        try:
            return f"https://{self.data_center.host_for(service)}"
        except ValueError as error:  # a DC without this product: the connection is what must change
            raise ZohoConnectionError(f"Zoho connection {self.conn_id!r}: {error}") from None

    @property
    def upload_base_url(self) -> str:
        """Return where bulk write files go: the ``upload_host`` extra, else the ``host`` override, else the DC's."""
        return self.upload_host or self.base_url_override or f"https://{self.data_center.upload_host}"

    @cached_property  # hashed once: a triggerer reads it on every poll of every sensor
    def token_cache_key(self) -> str:
        """Return the key of interchangeable tokens: one accounts server, one client and its secret, one refresh token.

        The secret counts too: a token shared under a key is proof that these very credentials were granted
        it (the Test button reuses one instead of spending a request), so a wrong secret must not find it.
        Secrets enter only as digests, so the key can be logged and used as a file name.
        """
        digest = hashlib.sha256(self.refresh_token.encode()).hexdigest()[:32]
        client = hashlib.sha256(f"{self.client_id}\n{self.client_secret}".encode()).hexdigest()[:16]
        accounts = hashlib.sha256(self.base_url(Service.ACCOUNTS).encode()).hexdigest()[:16]
        return f"{accounts}-{client}-{digest}"

    @property
    def defaults(self) -> dict[str, str | None]:
        """Return the optional job coordinates the connection supplies when a sensor leaves them out."""
        return {"org_id": self.analytics_org_id, "environment": self.creator_environment}


def _extra_object(where: str, extra: object) -> dict[str, Any]:
    """Return the extra as a dict; null (Airflow's "no extra") is empty, so the missing refresh token is named."""
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        # Only the type is named: a string extra may well be a pasted refresh token.
        raise ZohoConnectionError(
            f'{where}: extra must be a JSON object such as {{"refresh_token": "1000.xxx", "data_center": "eu"}}, '
            f"not a {type(extra).__name__}."
        )
    # Forms of Airflow before 2.3 stored custom fields as ``extra__zoho__<name>``; accept both spellings.
    return {str(key).removeprefix("extra__zoho__"): value for key, value in extra.items()}


def _credential(where: str, label: str, value: object, missing: str) -> str:
    """Check a value sent in the token form: required text without the invisible characters pasting often adds.

    The value itself is never part of the message; it is a secret, or sits next to one.
    """
    if value is None or value == "":
        raise ZohoConnectionError(f"{where} has no {missing}.")
    if not isinstance(value, str):
        raise ZohoConnectionError(f"{where}: {label} must be text, not a {type(value).__name__}.")
    if not value.isprintable():
        raise ZohoConnectionError(
            f"{where}: {label} contains a line break or control character (or another invisible one): "
            "copy the value again without it."
        )
    return value


def _data_center(where: str, value: object) -> DataCenter:
    if value is None or value == "":
        return get_data_center(DEFAULT_DATA_CENTER)
    valid = ", ".join(DATA_CENTERS)
    if not isinstance(value, str):
        raise ZohoConnectionError(
            f"{where}: extra data_center must be one of {valid} as text, not a {type(value).__name__}."
        )
    try:
        return get_data_center(value)
    except ValueError as error:
        raise ZohoConnectionError(f"{where}: {error}") from None


def _analytics_org_id(where: str, value: object) -> str | None:
    """Check Zoho's organization id, sent as the ``ZANALYTICS-ORGID`` header: digits, so nothing can split it."""
    if value is None or value == "":
        return None
    if (digits := _digits(value)) is not None:
        return digits
    raise ZohoConnectionError(
        f"{where}: extra analytics_org_id must be Zoho's numeric organization id (digits only, sent as the "
        f"{ANALYTICS.headers['org']} header), not {value!r}."
    )


def _digits(value: object) -> str | None:
    """Return an id Zoho spells in ASCII digits (an int is accepted too); None when it is anything else.

    ASCII only: ``str.isdigit()`` would also let superscripts and other scripts' digits into a header.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip(" ")):
        return value.strip(" ")
    return None


def _crm_org_id(where: str, value: object) -> str | None:
    """Check the CRM/Bigin org's zgid (the ``X-CRM-ORG`` header of uploads); empty: looked up from the org API."""
    if value is None or value == "":
        return None
    if (digits := _digits(value)) is not None:
        return digits
    raise ZohoConnectionError(
        f"{where}: extra crm_org_id must be the org's numeric zgid (digits, sent as the {CRM.headers['org']} header), "
        f"not {value!r}; leave it empty to look it up from the org API."
    )


def _upload_host(where: str, value: object) -> str | None:
    """Check where bulk write files go instead of the DC's upload host: a base URL without query or credentials."""
    if value is None or value == "":
        return None
    parts = urlsplit(value) if isinstance(value, str) and value.isprintable() and " " not in value else None
    if (
        parts is None
        or parts.scheme not in _SCHEMES
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or not _port_readable(parts)
    ):
        raise ZohoConnectionError(
            f"{where}: extra upload_host must be a base URL such as https://content.zohoapis.com (no query, "
            f"fragment or credentials), not {value!r}; leave it empty for the data center's upload host."
        )
    return str(value).rstrip("/")


def _port_readable(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 - raises on a port that is not digits or beyond 65535
    except ValueError:
        return False
    return True


def _creator_environment(where: str, value: object) -> str | None:
    """Check Creator's ``environment`` header: one of the known names, which also keeps line breaks out of it."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value in CREATOR_ENVIRONMENTS:
        return value
    raise ZohoConnectionError(
        f"{where}: creator_environment must be one of {', '.join(CREATOR_ENVIRONMENTS)} "
        f"(leave it empty for production), not {value!r}."
    )


def _request_timeout(where: str, value: object) -> float:
    """Check the seconds per request: a finite positive number, or numeric text.

    Text is accepted because Airflow 2.11's form has only text fields.

    NaN and infinity would never time out, and beyond a day the sockets overflow: both are refused here, by name.
    """
    value = _unless_blank(value, DEFAULT_REQUEST_TIMEOUT)
    number: float | None = None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            number = None
    if number is None or not math.isfinite(number) or not 0 < number <= MAX_REQUEST_TIMEOUT:
        raise ZohoConnectionError(
            f"{where}: extra 'timeout' must be a positive number of seconds, at most {MAX_REQUEST_TIMEOUT:.0f} "
            f"(one day), not {value!r}."
        )
    return number


def _unless_blank(value: Any, default: Any) -> Any:
    """Return ``default`` when ``value`` is null or empty, else ``value``.

    A form leaves an untouched optional field null or empty: that means the default, not an error.
    """
    return default if value is None or value == "" else value


def _base_url(where: str, host: object, port: object, schema: object) -> str | None:
    """Build the one base URL replacing every Zoho host, from ``host`` completed by the ``port`` and ``schema``.

    A URI connection ``zoho://id:secret@127.0.0.1:8080/http?...`` arrives as host ``127.0.0.1``, port 8080 and
    schema ``http``; JSON connections usually write it all in host (``http://127.0.0.1:8080``). Both give the
    same URL. Anything that would be silently misread (a query glued into every path, a second port, a
    scheme the two fields disagree on) is refused with the way to write it.
    """
    scheme_field = _schema_field(where, schema)
    port_field = _port_field(where, port)
    text = host.strip() if isinstance(host, str) else host
    if text is None or text == "":
        if scheme_field or port_field:
            raise ZohoConnectionError(
                f"{where}: port and schema apply to host, which is empty: set host (for example 127.0.0.1 with "
                "port 8080 and schema http), or clear port and schema to use Zoho's own hosts."
            )
        return None
    if not isinstance(text, str):
        raise ZohoConnectionError(f"{where}: host must be text such as https://proxy.example.com.")
    if not text.isprintable() or " " in text:
        raise ZohoConnectionError(
            f"{where}: host must not contain spaces or control characters, not {host!r}: "
            "write a base URL such as https://proxy.example.com."
        )
    url = text if "://" in text else f"{scheme_field or 'https'}://{text}"
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # It would be logged with every token request; credentials belong in login and password.
        raise ZohoConnectionError(f"{where}: host must not contain credentials; put them in login and password.")
    if parts.scheme not in _SCHEMES:
        raise ZohoConnectionError(f"{where}: host must be a base URL such as https://proxy.example.com, not {host!r}.")
    if "?" in url or "#" in url:
        raise ZohoConnectionError(
            f"{where}: host must not contain a query ('?') or fragment ('#'), not {host!r}: write only the base "
            "URL, such as https://proxy.example.com/zoho; request paths are appended to it."
        )
    if not parts.hostname:
        raise ZohoConnectionError(
            f"{where}: host {host!r} has no hostname: write it as https://proxy.example.com or "
            "http://127.0.0.1:8080 (or host 127.0.0.1 with port 8080 and schema http)."
        )
    host_port = _port_in_host(where, parts, host)
    if port_field and host_port and port_field != host_port:
        raise ZohoConnectionError(
            f"{where}: host says port {host_port} but the port field says {port_field}: keep only one of them."
        )
    if scheme_field and "://" in text and scheme_field != parts.scheme:
        raise ZohoConnectionError(
            f"{where}: host says {parts.scheme}:// but the schema field says {schema!r}: keep only one of them "
            "(schema is the URL scheme, http or https)."
        )
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port_field or host_port:
        netloc += f":{port_field or host_port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _schema_field(where: str, schema: object) -> str | None:
    """Read Airflow's ``schema`` field (a URI connection's path) as a URL scheme, as Airflow's HTTP provider does."""
    if schema is None or schema == "":
        return None
    if isinstance(schema, str) and schema.strip().lower() in _SCHEMES:
        return schema.strip().lower()
    raise ZohoConnectionError(
        f"{where}: schema must be http or https (the URL scheme for host), not {schema!r}; leave it empty for "
        "https. In a URI it is the path: zoho://ID:SECRET@127.0.0.1:8080/http?refresh_token=..."
    )


def _port_field(where: str, port: object) -> int | None:
    if port is None or port == "":
        return None
    number: int | None = None
    if isinstance(port, int) and not isinstance(port, bool):
        number = port
    elif isinstance(port, str) and re.fullmatch(r"[0-9]{1,5}", port.strip()):
        number = int(port)
    if number is None or not 1 <= number <= _MAX_PORT:
        raise ZohoConnectionError(f"{where}: port must be a whole number from 1 to {_MAX_PORT}, not {port!r}.")
    return number


def _positive_int(where: str, name: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ZohoConnectionError(f"{where}: extra {name!r} must be a positive whole number, not {value!r}.")
    return value


def _port_in_host(where: str, parts: SplitResult, host: object) -> int | None:
    try:
        port = parts.port
    except ValueError:  # not digits, or beyond 65535
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        raise ZohoConnectionError(
            f"{where}: the port in host must be a whole number from 1 to {_MAX_PORT}, not {host!r}: "
            "write host as http://127.0.0.1:8080, or put the port in the port field."
        )
    return port
