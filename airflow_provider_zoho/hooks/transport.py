"""What every request to Zoho shares below its meaning: naming a network failure, and where a token may go.

The sync hook (``requests``), the async hook (``aiohttp``) and the credentials command (``auth.py``) all
send through here, so a failure is named the same way whichever library raised it, and one rule decides which
URL (a redirect's target, a result link) may receive the access token. Reading an answer within its bounds is
``hooks/body.py``'s.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

import requests
import urllib3
from urllib3.util import parse_url

from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.errors import make_error
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.products import Dialect

# Redirects a status GET may follow, on both paths; token requests and creating calls follow none.
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# What a failure below HTTP was, found by type anywhere in its chain of causes (requests, urllib3 and aiohttp
# wrap the socket's own error in two or three layers). The first match wins: a TLS failure is also an OSError.
_NETWORK_CAUSES: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((socket.gaierror,), "the host name did not resolve (DNS)"),
    ((ssl.SSLError, requests.exceptions.SSLError), "the TLS handshake failed"),
    ((ConnectionRefusedError,), "the connection was refused"),
    ((ConnectionResetError,), "the connection was reset"),
)
_TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError)


def _causes(error: BaseException) -> list[BaseException]:
    """Return the error and what it wraps: ``__cause__``, ``__context__``, and the attributes libraries use."""
    found: list[BaseException] = []
    pending = [error]
    while pending and len(found) < 20:
        current = pending.pop(0)
        if current in found:
            continue
        found.append(current)
        for linked in (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),  # urllib3's MaxRetryError
            getattr(current, "os_error", None),  # aiohttp's ClientConnectorError
            *current.args,
        ):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return found


def network_cause(error: BaseException, timeout: float | None = None) -> str:
    """Say what went wrong below HTTP, in words, never with the error's own text (it can hold a whole URL).

    :param error: what the HTTP library raised.
    :param timeout: the request timeout, named when the failure was one.
    :return: the cause: DNS, TLS, refused, reset, a timeout, or the error's type.
    """
    causes = _causes(error)
    for error_types, words in _NETWORK_CAUSES:
        if any(isinstance(cause, error_types) for cause in causes):
            return words
    if any(isinstance(cause, _TIMEOUTS) for cause in causes):
        return "no answer within the request timeout" if timeout is None else f"no answer within {timeout:g} seconds"
    return f"the connection failed ({type(error).__name__})"


def network_error(service: Service, error: BaseException, *, timed_out: bool, url: str | None = None) -> ZohoError:
    """Build the error of a failure below HTTP, naming the host and the cause.

    :param service: the Zoho service the request went to.
    :param error: what the HTTP library raised.
    :param timed_out: the request's own deadline passed.
    :param url: the request's URL, whose host is named (never the rest: it may hold a query).
    :return: a ``TIMEOUT`` or ``CONNECTION_ERROR`` error, both waited out as the error table says.
    """
    code = "TIMEOUT" if timed_out else "CONNECTION_ERROR"
    host = urlsplit(url).hostname if url else None
    cause = "no answer within the request timeout" if timed_out else network_cause(error)
    where = f"talking to {host}" if host else f"talking to Zoho {service.value}"
    return make_error(Dialect.HTTP, code, f"{cause}, {where}", service=service.value)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def token_destination(url: str) -> tuple[str, str, int] | None:
    r"""Return ``(scheme, host, port)`` a request to ``url`` connects to, or ``None`` for a URL not to send a token to.

    Read twice, with ``urllib.parse`` (what this package checks) and with urllib3's ``parse_url`` (what
    ``requests`` connects with), and refused when the readings could differ at all: a backslash (WHATWG
    parsers, urllib3 among them, read it as ``/``, so ``https://evil.example\@zoho.com/`` goes to
    ``evil.example``), userinfo, whitespace, control or non-ASCII characters, a scheme other than HTTP(S).
    Zoho's own links have none of these.

    :param url: the URL a request would go to.
    :return: where it would connect, when every reading agrees.
    """
    if not url.isascii() or any(not 0x21 <= ord(char) <= 0x7E for char in url) or "\\" in url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        connected = parse_url(url)
    except ValueError:  # a port that is not a number, a URL urllib3 refuses
        return None
    theirs = ((connected.scheme or "").lower(), (connected.host or "").lower(), connected.port or port)
    ours = (parts.scheme, parts.hostname.lower(), port)
    return ours if theirs == ours and connected.auth is None else None


def token_may_go_to(url: str, config: ZohoConnectionConfig) -> bool:
    """Tell whether a URL (a result link from an answer, a redirect's target) may receive the access token.

    Only where the connection already sends it: the ``host`` override and ``upload_host`` at their exact
    scheme, host and port, and the Zoho domains of the connection's data center over HTTPS on port 443. An
    https connection's token never goes over http. A link elsewhere (a tampered answer, a proxy rewriting
    links) or one whose readings differ (see ``token_destination``) gets no token.

    :param url: the URL.
    :param config: the connection, whose hosts are trusted.
    :return: True where the token may go.
    """
    destination = token_destination(url)
    if destination is None:
        return False
    trusted = {token_destination(base) for base in (config.base_url_override, config.upload_host) if base}
    scheme, host, port = destination
    return destination in trusted or (scheme == "https" and port == 443 and config.data_center.is_zoho_host(host))
