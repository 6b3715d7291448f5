"""The :class:`Fault` value: one scripted misbehaviour of the Zoho emulator.

A fault is plain data (a frozen dataclass) so that the same description can be written in Python, in a
``--jobs`` JSON file and in an admin-API request; :meth:`Fault.from_dict` / :meth:`Fault.to_dict` are the
bridge.  What a fault *means* for a given Zoho product (which status code, which error body) lives in
:mod:`airflow_provider_zoho.testing.dialects`, not here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ACCOUNT_FAULT_KINDS", "FAULT_KINDS", "JOB_FAULT_KINDS", "Fault"]

#: Faults that may appear in a job's status script (each answered in the job kind's own dialect).
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
    }
)
#: Faults that may be scripted on the accounts (OAuth token) endpoint.
ACCOUNT_FAULT_KINDS: frozenset[str] = frozenset({"throttle", "invalid_code", "invalid_client", "server_error", "reset"})
FAULT_KINDS: frozenset[str] = JOB_FAULT_KINDS | ACCOUNT_FAULT_KINDS

_SERVER_ERROR_STATUSES = range(500, 600)


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour, consumed by exactly one request.

    ``kind`` selects the behaviour; the other fields parametrize it and are ignored by kinds that do not
    use them:

    * ``status``: HTTP status for ``server_error`` (default 500) and ``error`` (default: Zoho's documented
      status for ``code``).
    * ``retry_after``: seconds to put in the ``Retry-After`` header of ``rate_limited``.
    * ``delay``: seconds ``slow`` waits before answering.
    * ``code``: the dialect error code of ``error`` (``"NO_PERMISSION"`` for CRM/Bigin, ``8138`` for
      Analytics, ``4000`` for Creator).
    * ``html``: ``server_error`` answers an HTML page instead of the product's JSON error body.

    Notes: ``slow`` consumes its step at once, sleeps, then answers the job's current state (the last
    state step consumed).  ``reset`` drops the connection with an RST; aiohttp clients retry an idempotent
    request once after that on their own, so script two resets to make an aiohttp GET fail.
    """

    kind: str
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    code: str | int | None = None
    html: bool = False

    def __post_init__(self) -> None:
        """Reject impossible faults when they are written, not when a test trips over them later."""
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"fault status must be an HTTP status code, got {self.status!r}")
        if self.kind == "server_error" and self.status is not None and self.status not in _SERVER_ERROR_STATUSES:
            raise ValueError(f"server_error status must be 5xx, got {self.status}")
        if self.retry_after is not None and (not math.isfinite(self.retry_after) or self.retry_after < 0):
            raise ValueError(f"retry_after must be a non-negative number, got {self.retry_after!r}")
        if not math.isfinite(self.delay) or self.delay < 0:
            raise ValueError(f"delay must be a non-negative number, got {self.delay!r}")
        if self.kind == "error" and self.code is None:
            raise ValueError("Fault('error') needs a code")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from its JSON form, e.g. ``{"fault": "rate_limited", "retry_after": 1}``.

        ``"kind"`` is accepted as a synonym of ``"fault"``; unknown keys are an error so that typos in a
        jobs file fail loudly instead of silently scripting a different fault.
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
        """The JSON form accepted by :meth:`from_dict`; fields left at their defaults are omitted."""
        out: dict[str, Any] = {"fault": self.kind}
        for f in dataclasses.fields(self):
            if f.name == "kind":
                continue
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = value
        return out
