"""The error table and the body parsers, without I/O."""

from __future__ import annotations

import email.utils
from pathlib import Path

import pytest

from airflow_provider_zoho.errors import (
    ERROR_RULES,
    Dialect,
    Outcome,
    classify,
    error_from_response,
    markdown_table,
    parse_retry_after,
)
from airflow_provider_zoho.exceptions import ZohoFatalError, ZohoTokenInvalidError, ZohoTransientError

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXCEPTION_FOR = {
    Outcome.KEEP_POLLING: ZohoTransientError,
    Outcome.REFRESH_TOKEN: ZohoTokenInvalidError,
    Outcome.FAIL: ZohoFatalError,
}


def _body(dialect: Dialect, code: str) -> dict[str, object]:
    """An error body in the shape each product documents."""
    if dialect is Dialect.ACCOUNTS:
        return {"error": code}
    if dialect is Dialect.CRM:
        return {"code": code, "details": {}, "message": f"{code} happened", "status": "error"}
    if dialect is Dialect.ANALYTICS:
        return {
            "status": "failure",
            "summary": "X",
            "data": {"errorCode": int(code), "errorMessage": f"{code} happened"},
        }
    return {"code": int(code), "message": f"{code} happened"}


ZOHO_RULES = [rule for rule in ERROR_RULES if rule.dialect is not Dialect.HTTP]


@pytest.mark.parametrize("rule", ZOHO_RULES, ids=lambda rule: f"{rule.dialect.value}-{rule.code}")
@pytest.mark.parametrize("http_status", [200, 400, 401, 404])
def test_every_zoho_code_maps_to_its_outcome_whatever_the_status(rule, http_status: int) -> None:  # type: ignore[no-untyped-def]
    error = error_from_response(rule.dialect, "svc", http_status, _body(rule.dialect, rule.code))
    assert type(error) is EXCEPTION_FOR[rule.outcome]
    assert error is not None
    assert error.code == rule.code
    assert error.http_status == http_status
    assert rule.code in str(error)


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [(429, ZohoTransientError), (500, ZohoTransientError), (502, ZohoTransientError), (400, ZohoFatalError)],
)
def test_errors_without_a_zoho_code_fall_back_on_the_http_status(http_status: int, expected: type) -> None:
    error = error_from_response(Dialect.CRM, "api", http_status, None, body_text="<html><h1>Bad Gateway</h1></html>")
    assert type(error) is expected
    assert "Bad Gateway" in str(error)


def test_unknown_zoho_code_uses_the_status() -> None:
    assert classify(Dialect.CRM, "SOMETHING_NEW", 503) is Outcome.KEEP_POLLING
    assert classify(Dialect.CRM, "SOMETHING_NEW", 403) is Outcome.FAIL
    assert classify(Dialect.CREATOR, "9999", 200) is Outcome.FAIL


def test_creator_daily_limit_comes_with_http_200_and_fails() -> None:
    error = error_from_response(Dialect.CREATOR, "api", 200, {"code": 4000, "message": "Developer API limit reached"})
    assert isinstance(error, ZohoFatalError)
    assert "Developer API limit reached" in str(error)


def test_normal_answers_are_not_errors() -> None:
    assert error_from_response(Dialect.CREATOR, "api", 200, {"code": 3000, "data": {}}) is None
    assert error_from_response(Dialect.ANALYTICS, "analytics", 200, {"status": "success", "data": {}}) is None
    assert error_from_response(Dialect.CRM, "api", 200, {"status": "COMPLETED"}) is None


def test_non_json_success_is_a_transient_invalid_response() -> None:
    error = error_from_response(Dialect.CRM, "api", 200, None, body_text="<html>maintenance</html>")
    assert isinstance(error, ZohoTransientError)
    assert error.code == "INVALID_RESPONSE"


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)


def test_retry_after_reaches_the_exception() -> None:
    error = error_from_response(Dialect.CRM, "api", 429, _body(Dialect.CRM, "TOO_MANY_REQUESTS"), retry_after="12")
    assert isinstance(error, ZohoTransientError)
    assert error.retry_after == 12.0


def test_docs_error_table_is_generated_from_the_code() -> None:
    """The docs' error table is ``markdown_table()``, rendered at build time: no copy can drift from the rules."""
    assert "```{zoho-error-table}" in (DOCS / "failures.md").read_text(encoding="utf-8")
    assert "markdown_table()" in (DOCS / "_ext" / "zoho_docs.py").read_text(encoding="utf-8")
    header = markdown_table().splitlines()[0]
    pasted = [page.name for page in DOCS.rglob("*.md") if header in page.read_text(encoding="utf-8")]
    assert pasted == [], f"a copy of the error table is checked in: {pasted}"


def test_errors_survive_pickling() -> None:
    import pickle

    error = error_from_response(Dialect.CRM, "api", 429, _body(Dialect.CRM, "TOO_MANY_REQUESTS"), retry_after="3")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ZohoTransientError
    assert (copy.code, copy.message, copy.service, copy.http_status, copy.retry_after) == (
        "TOO_MANY_REQUESTS",
        "TOO_MANY_REQUESTS happened",
        "api",
        429,
        3.0,
    )
    assert str(copy) == str(error)
