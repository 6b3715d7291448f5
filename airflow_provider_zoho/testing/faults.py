"""The :class:`Fault` value: one scripted misbehaviour of the Zoho emulator.

A fault is plain data (a frozen dataclass) so that the same description can be written in Python, in a
``--jobs`` JSON file and in an admin-API request; :meth:`Fault.from_dict` / :meth:`Fault.to_dict` are the
bridge.  What a fault *means* for a given Zoho product (which status code, which error body) lives in
:mod:`airflow_provider_zoho.testing.dialects`, not here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ACCOUNT_FAULT_KINDS", "FAULT_KINDS", "HOSTILE_FAULT_KINDS", "JOB_FAULT_KINDS", "Fault"]

#: Faults of an endpoint that is hostile or broken beyond what Zoho itself does (a proxy that echoes or
#: redirects, answers too big, too slow or too deep to read, values that make no sense).  They exist to
#: check that the client stays safe: no secret leaves, memory and time stay bounded, every answer is
#: classified.  Some make sense on one endpoint only (see JOB_FAULT_KINDS / ACCOUNT_FAULT_KINDS).
HOSTILE_FAULT_KINDS: frozenset[str] = frozenset(
    {"redirect", "echo", "huge", "gzip_bomb", "drip", "deep_json", "huge_count", "odd_expiry", "bad_token"}
)
# Hostile faults that answer the same whatever the endpoint.
_HOSTILE_ANYWHERE = frozenset({"redirect", "echo", "huge", "gzip_bomb", "drip", "deep_json"})
#: Faults that may appear in a job's status script (each answered the way the job kind's product would).
JOB_FAULT_KINDS: frozenset[str] = frozenset(
    {
        "rate_limited",
        "server_error",
        "reset",
        "slow",
        "non_json",
        "missing_fields",
        "invalid_token",
        "error",
        "expired",
        "huge_count",
        *_HOSTILE_ANYWHERE,
    }
)
#: Faults that may be scripted on the accounts (OAuth token) endpoint.
ACCOUNT_FAULT_KINDS: frozenset[str] = frozenset(
    {
        "throttle",
        "invalid_code",
        "invalid_client",
        "server_error",
        "reset",
        "odd_expiry",
        "bad_token",
        *_HOSTILE_ANYWHERE,
    }
)
FAULT_KINDS: frozenset[str] = JOB_FAULT_KINDS | ACCOUNT_FAULT_KINDS

_SERVER_ERROR_STATUSES = range(500, 600)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Per-kind defaults of the fields left as None (see the Fault docstring).
_DEFAULT_DELAY = {"slow": 0.0, "drip": 1.0}
_DEFAULT_SIZE = {"huge": 50_000_000, "gzip_bomb": 500_000_000, "drip": 3600, "huge_count": 5000}
_DEFAULT_DEPTH = 100_000


@dataclass(frozen=True, slots=True)
class Fault:
    r"""One scripted misbehaviour, consumed by exactly one request.

    ``kind`` selects the behaviour; the other fields parametrize it and are ignored by kinds that do not
    use them.

    What Zoho itself does (job scripts unless noted):

    * ``rate_limited``: HTTP 429 in the product's own format; ``retry_after`` seconds go in ``Retry-After``.
    * ``server_error`` (jobs and accounts): a 5xx, ``status`` (default 500), with the product's JSON error
      body, or with ``html=True`` the HTML page a load balancer serves.
    * ``reset`` (jobs and accounts): the connection is dropped with an RST.
    * ``slow``: the job's current state, ``delay`` seconds late (default 0).
    * ``non_json``, ``missing_fields``: a 200 that is not JSON / that lacks the state field.
    * ``invalid_token``: the presented access token is revoked and the kind's invalid-token error answered.
    * ``error``: the product's error ``code`` (``"NO_PERMISSION"`` for CRM/Bigin, ``8138`` for Analytics,
      ``4000`` for Creator), with Zoho's documented status for it unless ``status`` is given.
    * ``expired``: what the product answers once a job summary is gone.
    * ``throttle``, ``invalid_code``, ``invalid_client`` (accounts): Zoho's HTTP-200 error bodies.

    A hostile or broken endpoint (:data:`HOSTILE_FAULT_KINDS`; jobs and accounts unless noted):

    * ``redirect``: ``status`` (default 307; 301, 302, 303, 307 or 308) with ``Location: <location>``;
      ``location`` is a full ``http(s)://`` URL and is required.
    * ``echo``: the request sent back, as a misbehaving proxy or debug endpoint would.  Accounts: HTTP
      ``status`` (default 500) with an HTML page holding the raw request line, body (the form with the
      client secret and refresh token) and every request header.  Jobs: with no ``status`` or a 2xx, the
      kind's normal answer for the job's current state plus ``"echo": {"headers": {...}, "body": "..."}``
      (inside ``data`` for Analytics and Creator, at the top for CRM and Bigin), for the state named by
      ``value`` when it is a string (e.g. ``"COMPLETED"``: a final answer that echoes); with a 4xx/5xx ``status``
      the product's error body (``code``, default the kind's server-error code) whose message holds the
      request headers.
    * ``huge``: a 200 whose body is ``size`` bytes (default 50,000,000) of ``{"pad":"xxxx...`` that never
      becomes valid JSON, streamed in chunks; with a ``Content-Length``, or with ``chunked=True`` in
      chunked transfer encoding.
    * ``gzip_bomb``: a 200 with ``Content-Encoding: gzip`` whose body inflates to ``size`` bytes (default
      500,000,000) of spaces; a few hundred KB on the wire, compressed once per size and cached.
    * ``drip``: a 200 whose headers come at once, then its ``size``-byte body (default 3600) one byte every
      ``delay`` seconds (default 1.0); it stops quietly when the client goes away.
    * ``deep_json``: a 200 whose body is JSON arrays nested ``depth`` levels (default 100,000).
    * ``huge_count`` (jobs only): the kind's normal answer for the current state with every count field
      the state carries replaced by a JSON number of ``size`` digits (default 5000); a state without
      counts (e.g. a pending Analytics job) is answered unchanged.
    * ``odd_expiry`` (accounts only): a normal, valid token whose ``expires_in`` is ``value`` (any JSON
      value: ``"soon"``, ``[1]``, ``-5``; ``float("nan")``/``float("inf")`` are written ``NaN``/``Infinity``).
    * ``bad_token`` (accounts only): a token answer whose ``access_token`` holds a CR/LF (``value`` if it is
      a string, else ``"1000.<hex>\\r\\nX-Injected: 1"``); the emulator never accepts it.

    Notes: ``slow``, ``echo`` and ``huge_count`` consume their step at once, then answer the job's current
    state (the last state step consumed).  ``reset`` drops the connection with an RST; aiohttp clients
    retry an idempotent request once after that on their own, so script two resets to make an aiohttp GET
    fail.  Every request, whatever its answer, is in ``ZohoEmulator.received_requests()``.
    """

    kind: str
    status: int | None = None
    retry_after: float | None = None
    delay: float | None = None
    code: str | int | None = None
    html: bool = False
    location: str | None = None
    size: int | None = None
    chunked: bool = False
    depth: int | None = None
    value: Any = None

    def __post_init__(self) -> None:
        """Reject impossible faults when they are written, not when a test trips over them later."""
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.status is not None and (
            not isinstance(self.status, int) or isinstance(self.status, bool) or not 100 <= self.status <= 599
        ):
            raise ValueError(f"fault status must be an HTTP status code, got {self.status!r}")
        if self.kind == "server_error" and self.status is not None and self.status not in _SERVER_ERROR_STATUSES:
            raise ValueError(f"server_error status must be 5xx, got {self.status}")
        if self.retry_after is not None and (not math.isfinite(self.retry_after) or self.retry_after < 0):
            raise ValueError(f"retry_after must be a non-negative number, got {self.retry_after!r}")
        if self.delay is not None and (not math.isfinite(self.delay) or self.delay < 0):
            raise ValueError(f"delay must be a non-negative number of seconds, got {self.delay!r}")
        if self.kind == "error" and self.code is None:
            raise ValueError("Fault('error') needs a code, e.g. Fault('error', code='NO_PERMISSION')")
        for name in ("size", "depth"):
            number = getattr(self, name)
            if number is not None and (not isinstance(number, int) or isinstance(number, bool) or number < 1):
                raise ValueError(f"{name} must be a positive integer, got {number!r}")
        self._check_hostile()

    def _check_hostile(self) -> None:
        if self.kind == "redirect":
            if self.status is not None and self.status not in _REDIRECT_STATUSES:
                raise ValueError(f"redirect status must be one of {sorted(_REDIRECT_STATUSES)}, got {self.status}")
            parts = urllib.parse.urlsplit(self.location) if isinstance(self.location, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"Fault('redirect') needs location=, a full http(s):// URL, got {self.location!r}")
        if self.kind == "echo" and self.status is not None and 300 <= self.status < 400:
            raise ValueError(f"echo status must be 2xx, 4xx or 5xx (a 3xx is Fault('redirect')), got {self.status}")
        try:
            json.dumps(self.value)
        except (TypeError, ValueError):
            raise ValueError(f"value must be a JSON value (str, number, list, dict...), got {self.value!r}") from None

    # -- the fields' effective values, per-kind defaults applied -------------------------------------
    @property
    def effective_delay(self) -> float:
        """``delay`` with its per-kind default (``slow`` 0, ``drip`` 1.0)."""
        return self.delay if self.delay is not None else _DEFAULT_DELAY.get(self.kind, 0.0)

    @property
    def effective_size(self) -> int:
        """``size`` with its per-kind default (bytes, or digits for ``huge_count``)."""
        return self.size if self.size is not None else _DEFAULT_SIZE.get(self.kind, 0)

    @property
    def effective_depth(self) -> int:
        """``depth`` with its default (100,000)."""
        return self.depth if self.depth is not None else _DEFAULT_DEPTH

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from its JSON form, e.g. ``{"fault": "rate_limited", "retry_after": 1}``.

        ``"kind"`` is accepted as a synonym of ``"fault"``; unknown keys are an error so that typos in a
        jobs file fail loudly instead of silently scripting a different fault.

        :param data: the fault as decoded JSON.
        :return: the fault.
        :raises ValueError: no kind, two kinds, an unknown field, or a value the kind refuses.
        """
        fields = dict(data)
        kind = fields.pop("fault", None)
        alt_kind = fields.pop("kind", None)
        if kind is None:
            kind = alt_kind
        elif alt_kind is not None and alt_kind != kind:
            raise ValueError(f"conflicting fault kinds {kind!r} and {alt_kind!r}")
        if not isinstance(kind, str):
            raise ValueError(f"a fault needs a string 'fault' key, got {data!r}")
        known = {f.name for f in dataclasses.fields(cls)} - {"kind"}
        unknown = set(fields) - known
        if unknown:
            raise ValueError(f"unknown fault field(s) {sorted(unknown)} in {data!r}")
        return cls(kind=kind, **fields)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form :meth:`from_dict` accepts; fields left at their defaults are omitted.

        :return: the fault as a JSON-able dict.
        """
        out: dict[str, Any] = {"fault": self.kind}
        for f in dataclasses.fields(self):
            if f.name == "kind":
                continue
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = value
        return out
