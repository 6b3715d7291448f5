"""How every Zoho error answer is recognised and what the poll loop does about it.

``ERROR_RULES`` is the single source of truth: the hooks classify with it, the docs' error table is
generated from it (and a test checks the two agree). Parsing is pure: it takes an HTTP status, headers and
a decoded body and returns an exception object, so it is tested without any I/O.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from airflow_provider_zoho.exceptions import (
    ZohoError,
    ZohoFatalError,
    ZohoTokenInvalidError,
    ZohoTransientError,
)
from airflow_provider_zoho.products import ANALYTICS, PRODUCTS, Dialect


class Outcome(StrEnum):
    """What the hooks' callers do about an error; the value is the wording of the docs' error table.

    A sensor keeps polling through ``KEEP_POLLING`` (an operator may wait it out within its deadline),
    ``REFRESH_TOKEN`` drops the token and retries once with a new one, ``FAIL`` fails the task.
    """

    KEEP_POLLING = "keep polling"
    REFRESH_TOKEN = "refresh the token, retry once"
    FAIL = "fail the task"


@dataclass(frozen=True)
class ErrorRule:
    """One row of the error table: a code in one product's error shape, its outcome and what it means.

    ``meaning`` is written for the user: it goes into the error's message and the docs' table.
    """

    dialect: Dialect
    code: str
    outcome: Outcome
    meaning: str


def _rules(dialect: Dialect, outcome: Outcome, *pairs: tuple[str, str]) -> tuple[ErrorRule, ...]:
    return tuple(ErrorRule(dialect, code, outcome, meaning) for code, meaning in pairs)


_KEEP, _REFRESH, _FAIL = Outcome.KEEP_POLLING, Outcome.REFRESH_TOKEN, Outcome.FAIL

ERROR_RULES: tuple[ErrorRule, ...] = (
    *_rules(
        Dialect.ACCOUNTS,
        _KEEP,
        ("Access Denied", "token requests throttled (10 per 10 minutes per refresh token)"),
    ),
    *_rules(
        Dialect.ACCOUNTS,
        _FAIL,
        ("invalid_client", "client id or secret wrong, or the client belongs to another data center"),
        # Not in Zoho's OAuth pages, but answered by the accounts server for a wrong secret.
        ("invalid_client_secret", "client secret wrong"),
        ("invalid_code", "the refresh token is wrong or revoked: generate a new grant code and run zoho-airflow-auth"),
    ),
    *_rules(Dialect.CRM, _REFRESH, ("INVALID_TOKEN", "access token invalid or expired")),
    *_rules(
        Dialect.CRM,
        _KEEP,
        ("TOO_MANY_REQUESTS", "API concurrency or credit limit reached"),
        ("INTERNAL_ERROR", "Zoho server error"),
    ),
    *_rules(
        Dialect.CRM,
        _FAIL,
        ("OAUTH_SCOPE_MISMATCH", "the token lacks the bulk scope"),
        ("NO_PERMISSION", "the user may not read bulk jobs"),
        ("AUTHORIZATION_FAILED", "the user lacks the privilege"),
        ("AUTHENTICATION_FAILURE", "authentication failed"),
        ("INVALID_URL_PATTERN", "wrong URL"),
        ("INVALID_REQUEST_METHOD", "wrong HTTP method"),
        ("RESOURCE_NOT_FOUND", "no job with this id"),
        ("INVALID_HOST", "wrong data center host"),
    ),
    *_rules(Dialect.ANALYTICS, _REFRESH, ("8535", "access token invalid, expired or from another DC")),
    *_rules(Dialect.ANALYTICS, _KEEP, ("7005", "Zoho server error")),
    *_rules(
        Dialect.ANALYTICS,
        _FAIL,
        ("8083", f"{ANALYTICS.headers['org']} header missing: set org_id or the connection's analytics_org_id"),
        ("7103", "workspace not found"),
        ("7301", "not permitted"),
        ("8137", "import job not found"),
        ("8138", "only the job's creator may poll it"),
        ("8504", "a mandatory parameter is missing"),
        # Export (https://www.zoho.com/analytics/api/v2/bulk-api/export-data-async.html and its pages).
        ("8077", "the SQL export has no sqlQuery, or an empty one"),
        ("8120", "export job not found, or its result expired"),
        ("8123", "the export job failed"),
        ("8124", "only the export job's creator may download its result"),
    ),
    *_rules(Dialect.CREATOR, _REFRESH, ("1030", "access token invalid or expired")),
    *_rules(
        Dialect.CREATOR,
        _FAIL,
        ("1000", "invalid URL or missing parameter"),
        ("1040", "account owner not found"),
        ("1130", "API access disabled"),
        ("4000", "daily developer-API limit reached (sent with HTTP 200)"),
    ),
    # Each product's "busy, try later" codes: waited out by the operators, kept polling by the sensors.
    *(
        ErrorRule(product.dialect, code, _KEEP, meaning)
        for product in PRODUCTS.values()
        for code, meaning in product.busy_codes.items()
    ),
    *_rules(
        Dialect.HTTP,
        _KEEP,
        ("HTTP_429", "throttled, no Zoho code"),
        ("HTTP_5xx", "server or gateway error, no Zoho code"),
        ("CONNECTION_ERROR", "connection refused or reset"),
        ("TIMEOUT", "no answer within the request timeout"),
        ("INVALID_RESPONSE", "a body that is not the JSON Zoho documents"),
    ),
    *_rules(
        Dialect.HTTP,
        _FAIL,
        ("HTTP_4xx", "any other client error with no Zoho code"),
        ("TOKEN_REDIRECT", "the token endpoint answered a redirect, never followed: check data_center and host"),
    ),
)

_RULES: Mapping[tuple[Dialect, str], ErrorRule] = {(rule.dialect, rule.code): rule for rule in ERROR_RULES}

_EXCEPTION_FOR_OUTCOME: Mapping[Outcome, type[ZohoError]] = {
    Outcome.KEEP_POLLING: ZohoTransientError,
    Outcome.REFRESH_TOKEN: ZohoTokenInvalidError,
    Outcome.FAIL: ZohoFatalError,
}


def http_fallback_code(http_status: int) -> str:
    """Return the table key for an error that carries no Zoho code.

    :param http_status: the answer's HTTP status.
    :return: ``HTTP_429``, ``HTTP_5xx`` or ``HTTP_4xx``.
    """
    if http_status == 429:
        return "HTTP_429"
    return "HTTP_5xx" if http_status >= 500 else "HTTP_4xx"


def rule_for(dialect: Dialect, code: str, http_status: int | None) -> ErrorRule | None:
    """Return the table's row for an error; an unknown code falls back on the row for its HTTP status.

    :param dialect: the error shape the code comes from (the product, or ``HTTP`` for the hooks' own).
    :param code: the code as Zoho sent it.
    :param http_status: the answer's HTTP status, or None when there was no answer.
    :return: the row, or None for an unknown code sent without an error status.
    """
    rule = _RULES.get((dialect, code))
    if rule is None and http_status is not None and http_status >= 400:
        rule = _RULES[(Dialect.HTTP, http_fallback_code(http_status))]
    return rule


def classify(dialect: Dialect, code: str, http_status: int | None) -> Outcome:
    """Tell what to do about an error; an unknown code falls back on what its HTTP status says.

    :param dialect: the error shape the code comes from.
    :param code: the code as Zoho sent it.
    :param http_status: the answer's HTTP status, or None.
    :return: the outcome; ``FAIL`` for a code the table does not know, sent without an error status.
    """
    rule = rule_for(dialect, code, http_status)
    # Zoho answered 200 with an error body we do not know: retrying the same request cannot help.
    return Outcome.FAIL if rule is None else rule.outcome


def make_error(
    dialect: Dialect,
    code: str,
    message: str,
    *,
    service: str,
    http_status: int | None = None,
    retry_after: float | None = None,
) -> ZohoError:
    """Build the typed exception that the table assigns to ``code``, carrying the table's meaning.

    :param dialect: the error shape the code comes from.
    :param code: the code.
    :param message: what Zoho (or the hook) said.
    :param service: the Zoho service that answered, named in the message.
    :param http_status: the answer's HTTP status, or None.
    :param retry_after: seconds Zoho asked to wait, or None.
    :return: a ``ZohoTransientError``, ``ZohoTokenInvalidError`` or ``ZohoFatalError``.
    """
    rule = rule_for(dialect, code, http_status)
    exception_class = _EXCEPTION_FOR_OUTCOME[Outcome.FAIL if rule is None else rule.outcome]
    return exception_class(
        code,
        message,
        service=service,
        http_status=http_status,
        retry_after=retry_after,
        meaning=None if rule is None else rule.meaning,
    )


def _zoho_code_and_message(dialect: Dialect, body: Any) -> tuple[str, str] | None:
    """Find Zoho's error code in a decoded body, in the shape ``dialect`` uses."""
    if not isinstance(body, dict):
        return None
    if dialect is Dialect.ACCOUNTS and body.get("error"):
        return str(body["error"]), str(body.get("error_description") or body["error"])
    if dialect is Dialect.CRM and body.get("status") == "error" and body.get("code"):
        return str(body["code"]), str(body.get("message", ""))
    if dialect is Dialect.ANALYTICS and body.get("status") == "failure":
        data = body.get("data")
        data = data if isinstance(data, dict) else {}
        code = data.get("errorCode", body.get("summary", "UNKNOWN"))
        return str(code), str(data.get("errorMessage") or body.get("summary", ""))
    if dialect is Dialect.CREATOR and body.get("code") not in (None, 3000, "3000"):
        return str(body["code"]), str(body.get("message", ""))
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), never negative.

    ``inf`` or ``nan`` say nothing usable and count as no header; how long a large value may hold a poller
    is the poller's own cap, not this function's.

    :param value: the header, or None.
    :param now: the epoch time an HTTP date counts from; the current time when None.
    :return: the seconds, or None when there is no usable header.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from_response(
    dialect: Dialect,
    service: str,
    http_status: int,
    body: Any,
    *,
    retry_after: str | None = None,
    body_text: str = "",
) -> ZohoError | None:
    """Return the error a response carries, or ``None`` when it is a normal answer.

    Zoho sends some errors with HTTP 200 (OAuth errors, Creator's daily limit), so the body is inspected
    before the status. ``body`` is the decoded JSON, or ``None`` when the body was not JSON.

    :param dialect: the error shape of the product that answered.
    :param service: the Zoho service that answered.
    :param http_status: the answer's HTTP status.
    :param body: the decoded JSON, or None.
    :param retry_after: the ``Retry-After`` header, or None.
    :param body_text: the answer's (redacted) text, quoted when there is no Zoho code.
    :return: the typed error, or None.
    """
    wait = parse_retry_after(retry_after)
    found = _zoho_code_and_message(dialect, body)
    if found is not None:
        code, message = found
        return make_error(dialect, code, message, service=service, http_status=http_status, retry_after=wait)
    if http_status >= 400:
        snippet = " ".join(body_text.split())[:200] or "no body"
        code = http_fallback_code(http_status)
        return make_error(Dialect.HTTP, code, snippet, service=service, http_status=http_status, retry_after=wait)
    if body is None:
        return make_error(
            Dialect.HTTP,
            "INVALID_RESPONSE",
            f"expected JSON, got: {' '.join(body_text.split())[:200] or 'an empty body'}",
            service=service,
            http_status=http_status,
        )
    return None


def markdown_table() -> str:
    """Render the docs' error table as markdown, generated so that it cannot drift from ``ERROR_RULES``.

    The docs build renders it in docs/failures.md, "The error table"; ``python -m airflow_provider_zoho.errors``
    prints it.

    :return: the table, one row per rule.
    """
    lines = ["| source | code | what it means | outcome |", "|---|---|---|---|"]
    lines += [
        f"| {rule.dialect.value} | `{rule.code}` | {rule.meaning} | {rule.outcome.value} |" for rule in ERROR_RULES
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
