"""The emulator's scripted faults, each in every job kind's dialect, over real HTTP.

Over real HTTP (urllib for sync tests, aiohttp for concurrency and streams, requests where redirects and raw
bodies matter). The expectations are written from Zoho's docs (``docs/zoho-api.md``) and the doc samples,
independently of the emulator's dialect table, so a slip in that table shows up here.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import pytest

from airflow_provider_zoho.testing import Fault, ZohoEmulator
from tests.testing.emulator_calls import (
    FACTS,
    add,
    all_kinds,
    error_code_of,
    new_token,
    poll,
    state_of,
    status_url,
)


# ---------------------------------------------------------------------------------------------------------
# Faults, each in every kind's dialect
# ---------------------------------------------------------------------------------------------------------
@all_kinds
def test_fault_rate_limited(zoho_emulator: ZohoEmulator, kind: str) -> None:
    done = FACTS[kind].succeeded
    add(zoho_emulator, kind, "j", [Fault("rate_limited", retry_after=2), Fault("rate_limited"), done])
    token = new_token(zoho_emulator)
    first = poll(zoho_emulator, kind, "j", token)
    assert (first.status, first.headers["Retry-After"]) == (429, "2")
    assert error_code_of(kind, first.json()) == FACTS[kind].rate_limit_code
    second = poll(zoho_emulator, kind, "j", token)
    assert second.status == 429
    assert "Retry-After" not in second.headers
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == done


@all_kinds
def test_fault_server_error_json_and_html(zoho_emulator: ZohoEmulator, kind: str) -> None:
    add(
        zoho_emulator,
        kind,
        "j",
        [Fault("server_error", status=502), Fault("server_error", html=True), FACTS[kind].succeeded],
    )
    token = new_token(zoho_emulator)
    as_json = poll(zoho_emulator, kind, "j", token)
    assert as_json.status == 502
    assert error_code_of(kind, as_json.json()) == FACTS[kind].server_error_code
    as_html = poll(zoho_emulator, kind, "j", token)
    assert as_html.status == 500
    assert as_html.headers.get_content_type() == "text/html"
    assert as_html.text.lstrip().startswith("<!DOCTYPE html>")


@all_kinds
def test_fault_reset_drops_the_connection(zoho_emulator: ZohoEmulator, kind: str) -> None:
    add(zoho_emulator, kind, "j", [Fault("reset"), FACTS[kind].succeeded])
    token = new_token(zoho_emulator)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        poll(zoho_emulator, kind, "j", token)
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == FACTS[kind].succeeded
    assert zoho_emulator.status_requests("j") == 2


async def test_fault_reset_with_aiohttp_clients(zoho_emulator: ZohoEmulator) -> None:
    # aiohttp (3.14) silently retries an idempotent request once after a dropped connection, so one reset
    # is invisible to an aiohttp GET and two in a row surface as a connection error.
    add(zoho_emulator, "crm_bulk_write", "once", [Fault("reset"), "COMPLETED"])
    add(zoho_emulator, "crm_bulk_write", "twice", [Fault("reset"), Fault("reset"), "COMPLETED"])
    headers = {"Authorization": f"Zoho-oauthtoken {new_token(zoho_emulator)}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(status_url(zoho_emulator, "crm_bulk_write", "once"), headers=headers) as response:
            assert (await response.json())["status"] == "COMPLETED"
        assert zoho_emulator.status_requests("once") == 2
        url = status_url(zoho_emulator, "crm_bulk_write", "twice")
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url, headers=headers) as response:
                await response.read()
        assert zoho_emulator.status_requests("twice") == 2
        async with session.get(url, headers=headers) as response:
            assert (await response.json())["status"] == "COMPLETED"


@all_kinds
def test_fault_slow_answers_the_current_state_late(zoho_emulator: ZohoEmulator, kind: str) -> None:
    pending, done = FACTS[kind].pending, FACTS[kind].succeeded
    add(zoho_emulator, kind, "j", [pending, Fault("slow", delay=0.25), done])
    token = new_token(zoho_emulator)
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == pending
    started = time.monotonic()
    slow = poll(zoho_emulator, kind, "j", token)
    assert time.monotonic() - started >= 0.25
    assert state_of(kind, slow.json()) == pending
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == done


@all_kinds
def test_fault_non_json_and_missing_fields(zoho_emulator: ZohoEmulator, kind: str) -> None:
    add(zoho_emulator, kind, "j", [Fault("non_json"), Fault("missing_fields"), FACTS[kind].succeeded])
    token = new_token(zoho_emulator)
    garbage = poll(zoho_emulator, kind, "j", token)
    assert garbage.status == 200
    with pytest.raises(json.JSONDecodeError):
        garbage.json()
    missing = poll(zoho_emulator, kind, "j", token)
    assert missing.status == 200
    assert missing.json() == FACTS[kind].missing_fields_body


@all_kinds
def test_fault_invalid_token_revokes_the_presented_token(zoho_emulator: ZohoEmulator, kind: str) -> None:
    pending, done = FACTS[kind].pending, FACTS[kind].succeeded
    add(zoho_emulator, kind, "j", [pending, Fault("invalid_token"), done])
    token = new_token(zoho_emulator)
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == pending
    status, code = FACTS[kind].invalid_token
    for _ in range(2):  # the token stays dead; the dead-token poll does not consume the next step
        reply = poll(zoho_emulator, kind, "j", token)
        assert (reply.status, error_code_of(kind, reply.json())) == (status, code)
    assert state_of(kind, poll(zoho_emulator, kind, "j", new_token(zoho_emulator)).json()) == done


@pytest.mark.parametrize(
    ("kind", "fault", "expected_status"),
    [
        ("crm_bulk_write", Fault("error", code="NO_PERMISSION"), 403),
        ("bigin_bulk_write", Fault("error", code="AUTHORIZATION_FAILED"), 400),
        ("crm_bulk_write", Fault("error", code="INVALID_URL_PATTERN", status=400), 400),
        ("analytics_import", Fault("error", code=8138), 403),
        ("analytics_import", Fault("error", code=8134), 400),
        ("creator_bulk_insert", Fault("error", code=4000), 200),
        ("creator_bulk_insert", Fault("error", code=1130, status=401), 401),
    ],
)
def test_fault_error_uses_documented_statuses(
    zoho_emulator: ZohoEmulator, kind: str, fault: Fault, expected_status: int
) -> None:
    add(zoho_emulator, kind, "j", [fault, FACTS[kind].succeeded])
    token = new_token(zoho_emulator)
    reply = poll(zoho_emulator, kind, "j", token)
    assert reply.status == expected_status
    body = reply.json()
    assert error_code_of(kind, body) == fault.code
    if kind == "analytics_import":
        assert body["status"] == "failure"
    elif kind != "creator_bulk_insert":
        assert body["status"] == "error"
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == FACTS[kind].succeeded


def test_fault_expired_answers_job_not_found(zoho_emulator: ZohoEmulator) -> None:
    add(zoho_emulator, "analytics_import", "j", ["1004", Fault("expired")])
    token = new_token(zoho_emulator)
    assert poll(zoho_emulator, "analytics_import", "j", token).json()["data"]["jobCode"] == "1004"
    expired = poll(zoho_emulator, "analytics_import", "j", token)
    assert expired.status == 200
    assert expired.json()["data"]["jobCode"] == "1005"
