"""Tests of the Zoho emulator itself, over real HTTP (urllib for sync tests, aiohttp for concurrency and
streams, requests where redirects and raw bodies matter).

The expectations below are written from ZOHO_API.md and the doc samples, independently of the
emulator's dialect table, so a slip in that table shows up here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from airflow_provider_zoho.testing import HOSTILE_FAULT_KINDS, Fault, ZohoEmulator
from airflow_provider_zoho.testing.__main__ import EXAMPLE_JOBS
from airflow_provider_zoho.testing.__main__ import main as emulator_cli
from airflow_provider_zoho.testing.faults import ACCOUNT_FAULT_KINDS, JOB_FAULT_KINDS
from airflow_provider_zoho.testing.kinds import KIND_FACTS, at

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT = ZohoEmulator.DEFAULT_CLIENT
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never route 127.0.0.1 via a proxy


# ---------------------------------------------------------------------------------------------------------
# HTTP helpers and per-kind knowledge (the test's own model of Zoho)
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: Message
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def http(method: str, url: str, *, headers: dict[str, str] | None = None, data: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Reply(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read().decode())


def token_call(emu: ZohoEmulator, client: tuple[str, str, str] = CLIENT, *, form: bool = False) -> dict[str, Any]:
    params = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "client_id": client[0], "client_secret": client[1], "refresh_token": client[2]}
    )
    if form:
        reply = http(
            "POST",
            f"{emu.base_url}/oauth/v2/token",
            data=params.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    else:
        reply = http("POST", f"{emu.base_url}/oauth/v2/token?{params}")
    assert reply.status == 200, "Zoho's accounts server answers token requests with HTTP 200, errors included"
    body: dict[str, Any] = reply.json()
    return body


def new_token(emu: ZohoEmulator) -> str:
    token: str = token_call(emu)["access_token"]
    return token


# Per-kind facts (coordinates, states, paths, codes) are written from ZOHO_API.md in testing/kinds.py,
# independently of the emulator's product table.
FACTS = KIND_FACTS


def status_url(emu: ZohoEmulator, kind: str, job_id: str, coords: dict[str, str] | None = None) -> str:
    return emu.base_url + FACTS[kind].status_path(job_id, coords)


def poll(
    emu: ZohoEmulator,
    kind: str,
    job_id: str,
    token: str | None,
    *,
    coords: dict[str, str] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Reply:
    headers = {} if token is None else {"Authorization": f"Zoho-oauthtoken {token}"}
    headers.update(FACTS[kind].request_headers(coords))
    headers.update(extra_headers or {})
    return http("GET", status_url(emu, kind, job_id, coords), headers=headers)


def state_of(kind: str, body: dict[str, Any]) -> str:
    state: str = FACTS[kind].state_of(body)
    return state


def add(emu: ZohoEmulator, kind: str, job_id: str, script: list[Any], **kwargs: Any) -> None:
    emu.add_job(kind, job_id, script, **FACTS[kind].coordinates, **kwargs)


def error_code_of(kind: str, body: dict[str, Any]) -> Any:
    return FACTS[kind].error_code_of(body)


all_kinds = pytest.mark.parametrize("kind", list(KIND_FACTS))


# ---------------------------------------------------------------------------------------------------------
# OAuth token endpoint
# ---------------------------------------------------------------------------------------------------------
def test_token_via_query_string_and_form_body(zoho_emulator: ZohoEmulator) -> None:
    first = token_call(zoho_emulator)
    second = token_call(zoho_emulator, form=True)
    for body in (first, second):
        assert body["api_domain"] == zoho_emulator.base_url
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert body["access_token"].startswith("1000.")
    assert first["access_token"] != second["access_token"]
    assert zoho_emulator.issued_tokens == [first["access_token"], second["access_token"]]
    assert zoho_emulator.token_requests() == 2
    assert zoho_emulator.token_requests(CLIENT.refresh_token) == 2
    assert zoho_emulator.token_requests("someone-else") == 0


def test_token_errors_come_with_http_200(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.add_client("other-client", "other-secret", "other-refresh")
    assert token_call(zoho_emulator, ("nobody", "x", CLIENT.refresh_token)) == {"error": "invalid_client"}
    assert token_call(zoho_emulator, (CLIENT.client_id, "wrong", CLIENT.refresh_token)) == {"error": "invalid_client"}
    assert token_call(zoho_emulator, (CLIENT.client_id, CLIENT.client_secret, "wrong")) == {"error": "invalid_code"}
    # A refresh token belongs to its client.
    assert token_call(zoho_emulator, (CLIENT.client_id, CLIENT.client_secret, "other-refresh")) == {
        "error": "invalid_code"
    }
    assert zoho_emulator.issued_tokens == []
    assert zoho_emulator.token_requests() == 4
    assert zoho_emulator.token_requests("wrong") == 1


def test_token_throttle_per_refresh_token_window() -> None:
    window = 2.0  # four token calls fit in it even on a busy machine
    with ZohoEmulator(token_limit_per_window=3, token_window_seconds=window) as emu:
        emu.add_client(*CLIENT)
        emu.add_client("c2", "s2", "r2")
        assert "access_token" in token_call(emu)
        first_issued_by = time.monotonic()
        for _ in range(2):
            assert "access_token" in token_call(emu)
        denied = token_call(emu)
        assert denied["error"] == "Access Denied"
        assert "too many requests" in denied["error_description"]
        assert "access_token" in token_call(emu, ("c2", "s2", "r2")), "the limit is per refresh token"
        assert emu.token_requests(CLIENT.refresh_token) == 4, "a throttled request still counts"
        time.sleep(max(0.0, first_issued_by + window - time.monotonic()))  # the first token leaves the window
        assert "access_token" in token_call(emu), "the window slides"


def test_sixteenth_live_token_invalidates_the_oldest() -> None:
    with ZohoEmulator(token_limit_per_window=100) as emu:
        emu.add_client(*CLIENT)
        emu.add_job("crm_bulk_write", "j", ["COMPLETED"])
        tokens = [new_token(emu) for _ in range(16)]
        assert poll(emu, "crm_bulk_write", "j", tokens[0]).status == 401
        assert all(poll(emu, "crm_bulk_write", "j", t).status == 200 for t in tokens[1:])


def test_access_token_expires_after_ttl() -> None:
    ttl = 1.5  # a poll right after the token call answers within it even on a busy machine
    with ZohoEmulator(token_ttl=ttl) as emu:
        emu.add_client(*CLIENT)
        emu.add_job("crm_bulk_write", "j", ["COMPLETED"])
        body = token_call(emu)
        issued_by = time.monotonic()
        assert body["expires_in"] == ttl
        assert poll(emu, "crm_bulk_write", "j", body["access_token"]).status == 200
        time.sleep(max(0.0, issued_by + ttl - time.monotonic()))
        reply = poll(emu, "crm_bulk_write", "j", body["access_token"])
        assert (reply.status, reply.json()["code"]) == (401, "INVALID_TOKEN")


@all_kinds
def test_revoked_missing_and_malformed_tokens_get_the_kinds_invalid_token_error(
    zoho_emulator: ZohoEmulator, kind: str
) -> None:
    add(zoho_emulator, kind, "j1", [FACTS[kind].pending, FACTS[kind].succeeded])
    token = new_token(zoho_emulator)
    assert poll(zoho_emulator, kind, "j1", token).status == 200
    zoho_emulator.revoke_tokens()
    status, code = FACTS[kind].invalid_token
    for reply in (
        poll(zoho_emulator, kind, "j1", token),
        poll(zoho_emulator, kind, "j1", None),
        poll(zoho_emulator, kind, "j1", None, extra_headers={"Authorization": f"Bearer {new_token(zoho_emulator)}"}),
    ):
        assert reply.status == status
        assert error_code_of(kind, reply.json()) == code
    # Rejected polls do not consume script steps.
    assert state_of(kind, poll(zoho_emulator, kind, "j1", new_token(zoho_emulator)).json()) == FACTS[kind].succeeded


def test_invalid_token_bodies_are_exact(zoho_emulator: ZohoEmulator) -> None:
    for kind in FACTS:
        add(zoho_emulator, kind, "j", [FACTS[kind].succeeded])
    bodies = {kind: poll(zoho_emulator, kind, "j", "nope").json() for kind in FACTS}
    assert bodies["crm_bulk_write"] == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    assert bodies["bigin_bulk_write"] == bodies["crm_bulk_write"]
    assert bodies["analytics_import"]["status"] == "failure"
    assert bodies["analytics_import"]["summary"] == "INVALID_OAUTHTOKEN"
    assert bodies["creator_bulk_insert"] == {
        "code": 1030,
        "message": "Authorization Failure. The access token is either invalid or has expired.",
    }


def test_scripted_accounts_faults_are_consumed_first(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.script_accounts(
        [
            Fault("throttle"),
            Fault("invalid_code"),
            Fault("invalid_client"),
            Fault("server_error", status=503),
            {"fault": "server_error", "html": True},
            Fault("reset"),
        ]
    )
    assert token_call(zoho_emulator)["error"] == "Access Denied"
    assert token_call(zoho_emulator) == {"error": "invalid_code"}
    assert token_call(zoho_emulator) == {"error": "invalid_client"}
    url = f"{zoho_emulator.base_url}/oauth/v2/token?grant_type=refresh_token"
    assert http("POST", url).status == 503
    html = http("POST", url)
    assert html.status == 500
    assert html.headers.get_content_type() == "text/html"
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        http("POST", url)
    assert "access_token" in token_call(zoho_emulator), "normal service after the script"
    assert zoho_emulator.token_requests() == 7
    with pytest.raises(ValueError, match="not an accounts fault"):
        zoho_emulator.script_accounts([Fault("slow", delay=1)])


# ---------------------------------------------------------------------------------------------------------
# Lifecycles
# ---------------------------------------------------------------------------------------------------------
def test_analytics_lifecycle_and_sample_shape(zoho_emulator: ZohoEmulator) -> None:
    kind = "analytics_import"
    add(zoho_emulator, kind, "1767024000003153087", ["1001", "1002", "1004"], counts={"totalRowCount": 755})
    token = new_token(zoho_emulator)
    bodies = [poll(zoho_emulator, kind, "1767024000003153087", token).json() for _ in range(4)]
    assert [b["data"]["jobCode"] for b in bodies] == ["1001", "1002", "1004", "1004"], "last step repeats"
    assert [b["data"]["jobStatus"] for b in bodies[:3]] == ["JOB NOT INITIATED", "JOB IN PROGRESS", "JOB COMPLETED"]
    assert all(b["status"] == "success" for b in bodies)
    assert "jobInfo" not in bodies[0]["data"]
    assert "jobInfo" not in bodies[1]["data"]
    done = bodies[2]["data"]
    assert done["jobId"] == "1767024000003153087"
    assert set(done) == {"jobId", "jobCode", "jobStatus", "jobInfo", "expiryTime"}
    assert isinstance(done["expiryTime"], str)
    assert done["expiryTime"].isdigit()
    assert int(done["expiryTime"]) > time.time() * 1000
    info = done["jobInfo"]
    assert set(info) == {"viewId", "importSummary", "columnDetails", "importErrors"}
    assert set(info["importSummary"]) == {
        "importType",
        "totalColumnCount",
        "selectedColumnCount",
        "totalRowCount",
        "successRowCount",
        "warnings",
        "importOperation",
    }
    assert info["importSummary"]["totalRowCount"] == 755
    assert zoho_emulator.status_requests("1767024000003153087") == 4


def test_analytics_failed_job_and_request_errors(zoho_emulator: ZohoEmulator) -> None:
    kind = "analytics_import"
    add(zoho_emulator, kind, "bad", ["1003"], error_code=7235, error_message="no column matches")
    token = new_token(zoho_emulator)
    info = poll(zoho_emulator, kind, "bad", token).json()["data"]["jobInfo"]
    assert (info["errorCode"], info["errorMessage"]) == (7235, "no column matches")
    assert info["importSummary"]["successRowCount"] < info["importSummary"]["totalRowCount"]

    missing_org = http(
        "GET", status_url(zoho_emulator, kind, "bad"), headers={"Authorization": f"Zoho-oauthtoken {token}"}
    )
    assert missing_org.status == 400
    assert missing_org.json()["summary"] == "ORGID_NOT_PRESENT_IN_THE_HEADER"
    assert missing_org.json()["data"]["errorCode"] == 8083

    wrong_ws = poll(zoho_emulator, kind, "bad", token, coords={**FACTS[kind].coordinates, "workspace_id": "999"})
    assert (wrong_ws.status, wrong_ws.json()["data"]["errorCode"]) == (404, 7103)

    wrong_org = poll(zoho_emulator, kind, "bad", token, coords={**FACTS[kind].coordinates, "org_id": "1"})
    assert wrong_org.status >= 400
    assert wrong_org.json()["status"] == "failure"

    unknown = poll(zoho_emulator, kind, "nope", token)
    assert unknown.status == 200, "Zoho documents an unknown import job as a success envelope"
    assert unknown.json()["data"]["jobCode"] == "1005"
    assert unknown.json()["data"]["jobStatus"] == "JOB NOT FOUND"


@pytest.mark.parametrize(("kind", "prefix"), [("crm_bulk_write", "/crm/"), ("bigin_bulk_write", "/bigin/")])
def test_bulk_write_lifecycle(zoho_emulator: ZohoEmulator, kind: str, prefix: str) -> None:
    add(zoho_emulator, kind, "111", ["ADDED", "IN PROGRESS", "COMPLETED"], counts={"added_count": 5, "total_count": 5})
    token = new_token(zoho_emulator)
    added, running, done = (poll(zoho_emulator, kind, "111", token).json() for _ in range(3))
    assert [b["status"] for b in (added, running, done)] == ["ADDED", "IN PROGRESS", "COMPLETED"]
    assert "result" not in added
    assert "result" not in running
    assert done["result"]["download_url"].endswith("/111.zip")
    assert done["id"] == "111"
    assert done["operation"] == "insert"
    assert done["character_encoding"] == "UTF-8"
    resource = done["resource"][0]
    assert (resource["status"], resource["type"], resource["module"]["api_name"]) == ("COMPLETED", "data", "Deals")
    assert resource["file"] == {
        "status": "COMPLETED",
        "name": "Deals.csv",
        "added_count": 5,
        "skipped_count": 0,
        "updated_count": 0,
        "total_count": 5,
    }
    other = "bigin_bulk_write" if kind == "crm_bulk_write" else "crm_bulk_write"
    not_found = poll(zoho_emulator, other, "111", token)
    assert not_found.status == 404, "CRM and Bigin jobs live in separate namespaces"
    assert not_found.json() == {
        "code": "RESOURCE_NOT_FOUND",
        "details": {},
        "message": "The requested resource doesn't exist.",
        "status": "error",
    }
    assert prefix in status_url(zoho_emulator, kind, "111")


@pytest.mark.parametrize("kind", ["crm_bulk_write", "bigin_bulk_write"])
def test_bulk_write_failures_and_spelling_variants(zoho_emulator: ZohoEmulator, kind: str) -> None:
    add(zoho_emulator, kind, "f", ["INPROGRESS", "FAILED"])
    add(zoho_emulator, kind, "jf", ["JOB_FAILED"])
    token = new_token(zoho_emulator)
    assert poll(zoho_emulator, kind, "f", token).json()["status"] == "INPROGRESS", "reported as written"
    failed = poll(zoho_emulator, kind, "f", token).json()
    assert failed["status"] == "COMPLETED"
    assert failed["resource"][0]["status"] == "FAILED"
    assert failed["resource"][0]["file"]["status"] == "FAILED"
    job_failed = poll(zoho_emulator, kind, "jf", token).json()
    assert job_failed["status"] == "FAILED"
    assert job_failed["resource"][0]["status"] == "FAILED"
    assert "result" not in job_failed


def test_creator_lifecycle_environment_and_path_errors(zoho_emulator: ZohoEmulator) -> None:
    kind = "creator_bulk_insert"
    add(zoho_emulator, kind, "3888833000000114027", ["Ready-to-upload", "In-progress", "Completed"])
    zoho_emulator.add_job(
        kind, "dev-job", ["Failed"], counts={"failed_records": 3}, environment="development", **FACTS[kind].coordinates
    )
    token = new_token(zoho_emulator)
    bodies = [poll(zoho_emulator, kind, "3888833000000114027", token).json() for _ in range(3)]
    assert [b["data"]["api_status"] for b in bodies] == ["Ready-to-upload", "In-progress", "Completed"]
    assert all(b["code"] == 3000 for b in bodies)
    assert bodies[2]["data"]["record_details"] == {
        "total_records": 100,
        "failed_records": 0,
        "unprocessed_records": 0,
        "success_records": 100,
    }

    no_env = poll(zoho_emulator, kind, "dev-job", token)
    assert (no_env.status, no_env.json()["code"]) == (404, 1000)
    with_env = poll(zoho_emulator, kind, "dev-job", token, extra_headers={"environment": "development"})
    assert with_env.status == 200
    assert with_env.json()["data"]["api_status"] == "Failed"
    assert with_env.json()["data"]["record_details"]["failed_records"] == 3

    wrong_owner = poll(
        zoho_emulator, kind, "dev-job", token, coords={**FACTS[kind].coordinates, "account_owner_name": "x"}
    )
    assert (wrong_owner.status, wrong_owner.json()["code"]) == (404, 1040)
    wrong_form = poll(
        zoho_emulator, kind, "3888833000000114027", token, coords={**FACTS[kind].coordinates, "form_link_name": "F"}
    )
    assert (wrong_form.status, wrong_form.json()["code"]) == (404, 1000)
    unknown = poll(zoho_emulator, kind, "nope", token)
    assert (unknown.status, unknown.json()["code"]) == (404, 1000)


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


# ---------------------------------------------------------------------------------------------------------
# Hostile endpoints: what a proxy or a broken server might answer (requests and aiohttp as clients)
# ---------------------------------------------------------------------------------------------------------
def session() -> requests.Session:
    client = requests.Session()
    client.trust_env = False  # never route 127.0.0.1 via a proxy
    return client


TOKEN_FORM = {
    "grant_type": "refresh_token",
    "client_id": CLIENT.client_id,
    "client_secret": CLIENT.client_secret,
    "refresh_token": CLIENT.refresh_token,
}


def status_headers(kind: str, token: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {token}", **FACTS[kind].request_headers()}


@pytest.fixture
def other_host() -> Iterator[ZohoEmulator]:
    """A second emulator: the other host a redirect points at."""
    with ZohoEmulator() as other:
        yield other


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_fault_redirect_on_the_token_endpoint(
    zoho_emulator: ZohoEmulator, other_host: ZohoEmulator, status: int
) -> None:
    target = f"{other_host.base_url}/oauth/v2/token"
    zoho_emulator.script_accounts([Fault("redirect", status=status, location=target)])
    with session() as client:
        reply = client.post(f"{zoho_emulator.base_url}/oauth/v2/token", data=TOKEN_FORM, allow_redirects=False)
    assert (reply.status_code, reply.headers["Location"]) == (status, target)
    assert other_host.received_requests() == []
    assert "access_token" in token_call(zoho_emulator), "normal service after the script"


def test_a_followed_token_redirect_delivers_the_form_to_the_other_host(
    zoho_emulator: ZohoEmulator, other_host: ZohoEmulator
) -> None:
    """What the request log is for: seeing which secrets reached the host a redirect named."""
    zoho_emulator.script_accounts([Fault("redirect", location=f"{other_host.base_url}/steal?x=1")])
    with session() as client:
        client.post(f"{zoho_emulator.base_url}/oauth/v2/token", data=TOKEN_FORM)  # requests follows a 307
    [stolen] = other_host.received_requests()
    assert (stolen.method, stolen.path, stolen.query) == ("POST", "/steal", {"x": "1"})
    assert CLIENT.client_secret.encode() in stolen.body
    assert stolen.header("content-type") == "application/x-www-form-urlencoded"


@all_kinds
def test_fault_redirect_on_status_gets(zoho_emulator: ZohoEmulator, other_host: ZohoEmulator, kind: str) -> None:
    target = f"{other_host.base_url}/elsewhere"
    add(
        zoho_emulator,
        kind,
        "j",
        [
            FACTS[kind].pending,
            Fault("redirect", location=target),
            Fault("redirect", status=308, location=target),
            FACTS[kind].succeeded,
        ],
    )
    token = new_token(zoho_emulator)
    url = status_url(zoho_emulator, kind, "j")
    with session() as client:
        assert state_of(kind, client.get(url, headers=status_headers(kind, token)).json()) == FACTS[kind].pending
        first = client.get(url, headers=status_headers(kind, token), allow_redirects=False)
        assert (first.status_code, first.headers["Location"]) == (307, target)
        followed = client.get(url, headers=status_headers(kind, token))
        assert [r.status_code for r in followed.history] == [308]
        assert state_of(kind, client.get(url, headers=status_headers(kind, token)).json()) == FACTS[kind].succeeded
    [arrived] = other_host.received_requests()
    assert (arrived.method, arrived.path) == ("GET", "/elsewhere")
    assert arrived.header("Authorization") is None, "requests drops Authorization on a cross-host redirect"


@pytest.mark.parametrize(("status", "expected"), [(None, 500), (200, 200), (502, 502)])
def test_fault_echo_on_the_token_endpoint_shows_the_form_and_headers(
    zoho_emulator: ZohoEmulator, status: int | None, expected: int
) -> None:
    zoho_emulator.script_accounts([Fault("echo", status=status)])
    with session() as client:
        reply = client.post(f"{zoho_emulator.base_url}/oauth/v2/token", data=TOKEN_FORM, headers={"X-Trace": "t-1"})
    assert reply.status_code == expected
    assert reply.headers["Content-Type"].startswith("text/html")
    assert urllib.parse.urlencode(TOKEN_FORM) in reply.text, "the raw form, secrets included"
    assert "X-Trace: t-1" in reply.text
    assert "POST /oauth/v2/token" in reply.text


@all_kinds
def test_fault_echo_on_status_gets_answers_normally_and_carries_the_headers(
    zoho_emulator: ZohoEmulator, kind: str
) -> None:
    pending, done = FACTS[kind].pending, FACTS[kind].succeeded
    add(zoho_emulator, kind, "j", [pending, Fault("echo"), done, Fault("echo", status=200), Fault("echo", status=502)])
    token = new_token(zoho_emulator)
    url = status_url(zoho_emulator, kind, "j")
    with session() as client:
        replies = [client.get(url, headers=status_headers(kind, token)) for _ in range(5)]
    assert [r.status_code for r in replies] == [200, 200, 200, 200, 502]
    assert [state_of(kind, r.json()) for r in replies[:4]] == [pending, pending, done, done]
    for reply in replies[1], replies[3]:
        body = reply.json()
        echo = FACTS[kind].payload_of(body)["echo"]
        assert echo["headers"]["Authorization"] == f"Zoho-oauthtoken {token}"
        assert echo["body"] == ""
    error = replies[4].json()
    assert error_code_of(kind, error) == FACTS[kind].server_error_code
    assert f"Zoho-oauthtoken {token}" in FACTS[kind].error_message_of(error)


def test_fault_echo_error_takes_a_code(zoho_emulator: ZohoEmulator) -> None:
    add(zoho_emulator, "crm_bulk_write", "j", [Fault("echo", status=401, code="INVALID_TOKEN")])
    token = new_token(zoho_emulator)
    reply = poll(zoho_emulator, "crm_bulk_write", "j", token)
    assert (reply.status, reply.json()["code"]) == (401, "INVALID_TOKEN")
    assert token in reply.json()["message"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("endpoint", ["accounts", "status"])
async def test_fault_huge_streams_a_body_that_never_parses(
    zoho_emulator: ZohoEmulator, endpoint: str, chunked: bool
) -> None:
    fault = Fault("huge", size=3_000_000, chunked=chunked)
    add(zoho_emulator, "crm_bulk_write", "j", [fault])
    async with aiohttp.ClientSession() as client:
        if endpoint == "accounts":
            zoho_emulator.script_accounts([fault])
            response = await client.post(f"{zoho_emulator.base_url}/oauth/v2/token", data=TOKEN_FORM)
        else:
            headers = status_headers("crm_bulk_write", new_token(zoho_emulator))
            response = await client.get(status_url(zoho_emulator, "crm_bulk_write", "j"), headers=headers)
        async with response:
            assert response.status == 200
            if chunked:
                assert response.headers["Transfer-Encoding"] == "chunked"
                assert "Content-Length" not in response.headers
            else:
                assert response.headers["Content-Length"] == "3000000"
            first = await response.content.readexactly(8)
            rest = 0
            async for chunk in response.content.iter_any():
                assert set(chunk) == {ord("x")}
                rest += len(chunk)
    assert first == b'{"pad":"'
    assert 8 + rest == 3_000_000


async def test_big_answers_are_streamed_not_built(zoho_emulator: ZohoEmulator) -> None:
    """The default sizes (50 MB, 500 MB inflated) cost the emulator a few MB: its memory stays flat."""
    zoho_emulator.script_accounts([Fault("huge"), Fault("huge", chunked=True), Fault("gzip_bomb")])
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as client:
            for expected in (50_000_000, 50_000_000):
                async with client.post(f"{zoho_emulator.base_url}/oauth/v2/token") as response:
                    received = 0
                    async for chunk in response.content.iter_any():
                        received += len(chunk)
                assert received == expected
            async with client.post(f"{zoho_emulator.base_url}/oauth/v2/token") as response:
                compressed = await response.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(compressed) < 1_000_000
    assert peak < 10_000_000, f"peak {peak} bytes traced while serving 50 MB bodies"


@pytest.mark.parametrize("endpoint", ["accounts", "status"])
def test_fault_gzip_bomb_inflates_to_its_size(zoho_emulator: ZohoEmulator, endpoint: str) -> None:
    size = 20_000_000
    add(zoho_emulator, "bigin_bulk_write", "j", [Fault("gzip_bomb", size=size)])
    with session() as client:
        if endpoint == "accounts":
            zoho_emulator.script_accounts([Fault("gzip_bomb", size=size)] * 2)
            replies = [client.post(f"{zoho_emulator.base_url}/oauth/v2/token", stream=True) for _ in range(2)]
        else:
            headers = status_headers("bigin_bulk_write", new_token(zoho_emulator))
            url = status_url(zoho_emulator, "bigin_bulk_write", "j")
            replies = [client.get(url, headers=headers, stream=True) for _ in range(2)]
        raws = [reply.raw.read(decode_content=False) for reply in replies]
    assert all(reply.headers["Content-Encoding"] == "gzip" for reply in replies)
    assert raws[0] == raws[1], "compressed once per size, then served from the cache"
    assert len(raws[0]) < size // 500
    inflater = zlib.decompressobj(31)
    inflated = 0
    data = raws[0]
    while data:
        block = inflater.decompress(data, 1 << 20)
        assert set(block) <= {ord(" ")}
        inflated += len(block)
        data = inflater.unconsumed_tail
    assert inflated == size


async def test_fault_drip_sends_headers_at_once_then_one_byte_per_delay(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.script_accounts([Fault("drip", delay=0.05, size=6)])
    async with aiohttp.ClientSession() as client:
        started = time.monotonic()
        async with client.post(f"{zoho_emulator.base_url}/oauth/v2/token") as response:
            assert (response.status, response.headers["Content-Length"]) == (200, "6")
            body = await response.read()
        elapsed = time.monotonic() - started
    assert body == b'{"pad"'
    assert elapsed >= 5 * 0.05, "five pauses between six bytes"


def _emulator_tasks(emulator: ZohoEmulator) -> int:
    """Tasks alive on the emulator's event loop (a white-box look, to see that a drip has ended)."""

    async def count() -> int:
        return len(asyncio.all_tasks())

    loop = emulator._loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(count(), loop).result(timeout=10)


def test_fault_drip_stops_quietly_when_the_client_goes_away(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = ZohoEmulator().start()
    try:
        emulator.add_client(*CLIENT)
        emulator.add_job("crm_bulk_write", "j", [Fault("drip", delay=0.02)])
        headers = status_headers("crm_bulk_write", new_token(emulator))
        idle = _emulator_tasks(emulator)
        emulator.script_accounts([Fault("drip", delay=0.02)])
        with session() as client:
            for reply in (
                client.post(f"{emulator.base_url}/oauth/v2/token", stream=True),
                client.get(status_url(emulator, "crm_bulk_write", "j"), headers=headers, stream=True),
            ):
                assert reply.raw.read(3) == b'{"p'
                reply.close()  # hangs up mid-body
        deadline = time.monotonic() + 30
        while _emulator_tasks(emulator) > idle and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _emulator_tasks(emulator) == idle, "each drip ended with its client"
        with session() as client:  # and one still dripping when the emulator stops
            dripping = client.get(status_url(emulator, "crm_bulk_write", "j"), headers=headers, stream=True)
            assert dripping.raw.read(1) == b"{"
            emulator.stop()
    finally:
        emulator.stop()
    assert emulator._thread is None
    complaints = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert complaints == []


@pytest.mark.parametrize("endpoint", ["accounts", "status"])
def test_fault_deep_json(zoho_emulator: ZohoEmulator, endpoint: str) -> None:
    add(zoho_emulator, "creator_bulk_insert", "j", [Fault("deep_json", depth=7), Fault("deep_json")])
    with session() as client:
        if endpoint == "accounts":
            zoho_emulator.script_accounts([Fault("deep_json", depth=7), Fault("deep_json")])
            replies = [client.post(f"{zoho_emulator.base_url}/oauth/v2/token") for _ in range(2)]
        else:
            headers = status_headers("creator_bulk_insert", new_token(zoho_emulator))
            url = status_url(zoho_emulator, "creator_bulk_insert", "j")
            replies = [client.get(url, headers=headers) for _ in range(2)]
    assert [r.status_code for r in replies] == [200, 200]
    assert replies[0].json() == [[[[[[[]]]]]]]
    assert replies[1].text == "[" * 100_000 + "]" * 100_000


@all_kinds
def test_fault_huge_count_makes_every_count_a_huge_number(zoho_emulator: ZohoEmulator, kind: str) -> None:
    done = FACTS[kind].succeeded
    add(zoho_emulator, kind, "j", [done, Fault("huge_count"), Fault("huge_count", size=30)])
    token = new_token(zoho_emulator)
    path, names = FACTS[kind].counts_field, FACTS[kind].count_names
    normal = poll(zoho_emulator, kind, "j", token)
    huge = poll(zoho_emulator, kind, "j", token)
    small = poll(zoho_emulator, kind, "j", token)
    with pytest.raises(ValueError, match="digits"):
        huge.json()  # Python refuses to convert an int of more than 4300 digits
    digits = json.loads(huge.text, parse_int=len)  # each integer replaced by its number of digits
    counts = at(digits, path)
    assert {name: counts[name] for name in names} == dict.fromkeys(names, 5000)
    assert at(small.json(), path)[next(iter(names))] == int("9" * 30)
    assert state_of(kind, small.json()) == done, "the answer is otherwise the normal one"
    assert set(at(normal.json(), path)) == set(counts)


@pytest.mark.parametrize("value", ["soon", [1], -5, None, math.nan, math.inf, -math.inf])
def test_fault_odd_expiry_issues_a_valid_token_with_that_expiry(zoho_emulator: ZohoEmulator, value: Any) -> None:
    zoho_emulator.script_accounts([Fault("odd_expiry", value=value)])
    add(zoho_emulator, "crm_bulk_write", "j", ["COMPLETED"])
    with session() as client:
        reply = client.post(f"{zoho_emulator.base_url}/oauth/v2/token", data=TOKEN_FORM)
    body = json.loads(reply.text)  # accepts NaN and Infinity, as Python's json does
    if isinstance(value, float) and math.isnan(value):
        assert '"expires_in": NaN' in reply.text
        assert math.isnan(body["expires_in"])
    else:
        assert body["expires_in"] == value
    assert body["access_token"] in zoho_emulator.issued_tokens
    assert poll(zoho_emulator, "crm_bulk_write", "j", body["access_token"]).status == 200


@pytest.mark.parametrize("value", [None, "abc\nX-Injected: 1"])
def test_fault_bad_token_is_never_accepted(zoho_emulator: ZohoEmulator, value: str | None) -> None:
    zoho_emulator.script_accounts([Fault("bad_token", value=value)])
    add(zoho_emulator, "crm_bulk_write", "j", ["COMPLETED"])
    body = token_call(zoho_emulator)
    token = body["access_token"]
    assert "\n" in token
    if value is None:
        assert "\r\n" in token
    else:
        assert token == value
    assert zoho_emulator.issued_tokens == []
    for part in token.splitlines():
        assert poll(zoho_emulator, "crm_bulk_write", "j", part).status == 401


def test_request_log_records_what_arrived_in_order_and_is_bounded() -> None:
    with ZohoEmulator(request_log_size=3) as emulator:
        emulator.add_client(*CLIENT)
        with session() as client:
            client.post(f"{emulator.base_url}/oauth/v2/token?grant_type=refresh_token", data=TOKEN_FORM)
            client.get(f"{emulator.base_url}/crm/bulk/v8/write/7?a=1&b=", headers={"X-Custom": "v"})
            client.post(f"{emulator.base_url}/nowhere", data=b"z" * 100_000)
        token, status, big = emulator.received_requests()
        assert (token.method, token.path, token.query_string, token.query) == (
            "POST",
            "/oauth/v2/token",
            "grant_type=refresh_token",
            {"grant_type": "refresh_token"},
        )
        assert token.body == urllib.parse.urlencode(TOKEN_FORM).encode()
        assert (status.method, status.path, status.query, status.body) == (
            "GET",
            "/crm/bulk/v8/write/7",
            {"a": "1", "b": ""},
            b"",
        )
        assert status.headers["X-Custom"] == "v"
        assert status.header("x-custom") == "v"
        assert status.header("Authorization") is None
        assert big.path == "/nowhere", "unrouted requests are logged too"
        assert big.body == b"z" * 65536, "bodies are cut at 64 KiB"
        with session() as client:
            client.get(f"{emulator.base_url}/last")
        assert [r.path for r in emulator.received_requests()] == ["/crm/bulk/v8/write/7", "/nowhere", "/last"]
        emulator.reset_counters()
        assert emulator.received_requests() == []
    with pytest.raises(ValueError, match="request_log_size"):
        ZohoEmulator(request_log_size=0)


def test_hostile_faults_in_json_form_through_the_admin_api(
    zoho_emulator: ZohoEmulator, other_host: ZohoEmulator
) -> None:
    faults = [
        Fault("redirect", status=308, location=f"{other_host.base_url}/x"),
        Fault("echo", status=503, code="INTERNAL_ERROR"),
        Fault("huge", size=10, chunked=True),
        Fault("gzip_bomb", size=1000),
        Fault("drip", size=2, delay=0.01),
        Fault("deep_json", depth=3),
        Fault("huge_count", size=10),
    ]
    accounts = [Fault("odd_expiry", value=math.inf), Fault("bad_token"), Fault("odd_expiry", value=[1])]
    jobs = [{"kind": "crm_bulk_write", "job_id": "h", "script": ["IN PROGRESS", *(f.to_dict() for f in faults)]}]
    base = f"{zoho_emulator.base_url}/__emulator__"
    with session() as client:
        # json.dumps writes inf as Infinity, which the emulator's json parser reads back.
        assert client.post(f"{base}/jobs", data=json.dumps(jobs), headers={"Content-Type": "application/json"}).ok
        assert client.post(f"{base}/accounts", data=json.dumps([f.to_dict() for f in accounts])).ok
        assert math.isinf(client.post(f"{zoho_emulator.base_url}/oauth/v2/token").json()["expires_in"])
        assert "\r\n" in client.post(f"{zoho_emulator.base_url}/oauth/v2/token").json()["access_token"]
        odd = client.post(f"{zoho_emulator.base_url}/oauth/v2/token").json()
        assert odd["expires_in"] == [1]
        headers = status_headers("crm_bulk_write", odd["access_token"])
        url = status_url(zoho_emulator, "crm_bulk_write", "h")
        assert client.get(url, headers=headers).json()["status"] == "IN PROGRESS"
        redirected = client.get(url, headers=headers, allow_redirects=False)
        assert (redirected.status_code, redirected.headers["Location"]) == (308, f"{other_host.base_url}/x")
        echoed = client.get(url, headers=headers)
        assert (echoed.status_code, echoed.json()["code"]) == (503, "INTERNAL_ERROR")
        assert client.get(url, headers=headers).text == '{"pad":"xx'
        assert client.get(url, headers=headers).text == " " * 1000
        assert client.get(url, headers=headers).text == '{"'
        assert client.get(url, headers=headers).json() == [[[]]]
        assert client.get(url, headers=headers).json()["resource"][0]["file"]["total_count"] == 10**10 - 1


def test_fault_values_round_trip_and_validate() -> None:
    fault = Fault.from_dict({"fault": "rate_limited", "retry_after": 1})
    assert fault == Fault("rate_limited", retry_after=1)
    assert fault.to_dict() == {"fault": "rate_limited", "retry_after": 1}
    for original in (Fault("server_error", status=503, html=True), Fault("slow", delay=0.5), Fault("reset")):
        assert Fault.from_dict(original.to_dict()) == original
    assert Fault.from_dict({"kind": "error", "code": "NO_PERMISSION"}).code == "NO_PERMISSION"
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="unknown fault field"):
        Fault.from_dict({"fault": "slow", "dealy": 1})
    with pytest.raises(ValueError, match="needs a code"):
        Fault("error")
    with pytest.raises(ValueError, match="5xx"):
        Fault("server_error", status=404)


def test_hostile_fault_values_round_trip_through_json_and_validate() -> None:
    for original in (
        Fault("redirect", status=308, location="https://elsewhere.example/x"),
        Fault("echo", status=502, code=7005),
        Fault("huge", size=10, chunked=True),
        Fault("gzip_bomb", size=1000),
        Fault("drip", size=5, delay=0.5),
        Fault("deep_json", depth=3),
        Fault("huge_count", size=7),
        Fault("odd_expiry", value=[1]),
        Fault("odd_expiry", value=math.inf),
        Fault("bad_token", value="a\r\nb"),
    ):
        assert Fault.from_dict(json.loads(json.dumps(original.to_dict()))) == original
    nan = Fault.from_dict(json.loads(json.dumps(Fault("odd_expiry", value=math.nan).to_dict())))
    assert math.isnan(nan.value)
    assert Fault("odd_expiry").to_dict() == {"fault": "odd_expiry"}
    # Defaults that depend on the kind are applied when read, not stored.
    assert (Fault("drip").effective_delay, Fault("drip").effective_size) == (1.0, 3600)
    assert (Fault("slow").effective_delay, Fault("slow", delay=2).effective_delay) == (0.0, 2)
    assert Fault("huge").effective_size == 50_000_000
    assert Fault("gzip_bomb").effective_size == 500_000_000
    assert Fault("huge_count").effective_size == 5000
    assert Fault("deep_json").effective_depth == 100_000
    with pytest.raises(ValueError, match="location"):
        Fault("redirect")
    with pytest.raises(ValueError, match="location"):
        Fault("redirect", location="/relative")
    with pytest.raises(ValueError, match="redirect status"):
        Fault("redirect", status=200, location="http://x.example/")
    with pytest.raises(ValueError, match="echo status"):
        Fault("echo", status=302)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="size must be a positive integer"):
            Fault("huge", size=bad)
        with pytest.raises(ValueError, match="depth must be a positive integer"):
            Fault("deep_json", depth=bad)
    with pytest.raises(ValueError, match="delay"):
        Fault("drip", delay=-1)
    with pytest.raises(ValueError, match="JSON value"):
        Fault("odd_expiry", value=object())


def test_hostile_faults_only_where_they_make_sense() -> None:
    emu = ZohoEmulator()  # validation needs no server
    for accounts_only in ("odd_expiry", "bad_token"):
        with pytest.raises(ValueError, match="not a job fault"):
            emu.add_job("crm_bulk_write", "j", [Fault(accounts_only)])
    with pytest.raises(ValueError, match="not an accounts fault"):
        emu.script_accounts([Fault("huge_count")])
    with pytest.raises(ValueError, match="integers"):  # an echoed error's code is checked like an error's
        emu.add_job(
            "creator_bulk_insert",
            "j",
            [Fault("echo", status=500, code="X")],
            **FACTS["creator_bulk_insert"].coordinates,
        )
    assert HOSTILE_FAULT_KINDS <= JOB_FAULT_KINDS | ACCOUNT_FAULT_KINDS
    assert HOSTILE_FAULT_KINDS - {"odd_expiry", "bad_token"} <= JOB_FAULT_KINDS
    assert HOSTILE_FAULT_KINDS - {"huge_count"} <= ACCOUNT_FAULT_KINDS


def test_add_job_rejects_mistakes_early() -> None:
    emu = ZohoEmulator()  # validation needs no server
    with pytest.raises(ValueError, match="unknown job kind"):
        emu.add_job("crm", "j", ["COMPLETED"])
    with pytest.raises(ValueError, match="not a crm_bulk_write state"):
        emu.add_job("crm_bulk_write", "j", ["Completed!"])
    with pytest.raises(ValueError, match="not a creator_bulk_insert state"):
        emu.add_job("creator_bulk_insert", "j", ["1004"], **FACTS["creator_bulk_insert"].coordinates)
    with pytest.raises(TypeError, match="workspace_id"):
        emu.add_job("analytics_import", "j", ["1004"], org_id="1")
    with pytest.raises(TypeError, match="not"):
        emu.add_job("crm_bulk_write", "j", ["COMPLETED"], workspace_id="1")
    with pytest.raises(ValueError, match="counts"):
        emu.add_job("crm_bulk_write", "j", ["COMPLETED"], counts={"success_records": 1})
    with pytest.raises(ValueError, match="at least one step"):
        emu.add_job("crm_bulk_write", "j", [])
    with pytest.raises(ValueError, match="not a job fault"):
        emu.add_job("crm_bulk_write", "j", [Fault("throttle")])
    with pytest.raises(ValueError, match="strings"):
        emu.add_job("crm_bulk_write", "j", [Fault("error", code=8138)])
    with pytest.raises(ValueError, match="integers"):
        emu.add_job(
            "creator_bulk_insert",
            "j",
            [Fault("error", code="NO_PERMISSION")],
            **FACTS["creator_bulk_insert"].coordinates,
        )


# ---------------------------------------------------------------------------------------------------------
# Counters, concurrency, admin API, lifecycle, CLI
# ---------------------------------------------------------------------------------------------------------
def test_counters_and_reset(zoho_emulator: ZohoEmulator) -> None:
    add(zoho_emulator, "crm_bulk_write", "a", ["COMPLETED"])
    add(zoho_emulator, "bigin_bulk_write", "b", ["COMPLETED"])
    token = new_token(zoho_emulator)
    for _ in range(3):
        poll(zoho_emulator, "crm_bulk_write", "a", token)
    poll(zoho_emulator, "bigin_bulk_write", "b", token)
    poll(zoho_emulator, "bigin_bulk_write", "missing", token)
    assert zoho_emulator.status_requests() == 5
    assert (zoho_emulator.status_requests("a"), zoho_emulator.status_requests("b")) == (3, 1)
    assert zoho_emulator.status_requests("missing") == 1, "unanswered GETs count too"
    assert zoho_emulator.max_concurrent_connections >= 1
    zoho_emulator.reset_counters()
    assert (zoho_emulator.token_requests(), zoho_emulator.status_requests()) == (0, 0)
    assert zoho_emulator.status_requests("a") == 0
    assert zoho_emulator.issued_tokens == [token], "reset_counters keeps the token history"
    assert poll(zoho_emulator, "crm_bulk_write", "a", token).status == 200, "and the tokens"


async def test_concurrent_connections_are_counted_and_1000_pollers_are_served() -> None:
    emu = ZohoEmulator(token_limit_per_window=1000).start()
    try:
        emu.add_client(*CLIENT)
        emu.add_job("crm_bulk_write", "slow", [Fault("slow", delay=0.3)])
        for i in range(1000):
            emu.add_job("bigin_bulk_write", f"job-{i}", ["IN PROGRESS", "COMPLETED"])
        token = new_token(emu)
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def get(path: str) -> tuple[int, Any]:
                async with session.get(emu.base_url + path, headers=headers) as response:
                    return response.status, await response.json()

            slow = await asyncio.gather(*(get("/crm/bulk/v8/write/slow") for _ in range(25)))
            assert all(status == 200 and body["status"] == "ADDED" for status, body in slow)
            assert emu.max_concurrent_connections >= 25

            started = time.monotonic()
            for expected in ("IN PROGRESS", "COMPLETED"):
                results = await asyncio.gather(*(get(f"/bigin/bulk/v2/write/job-{i}") for i in range(1000)))
                assert all(status == 200 and body["status"] == expected for status, body in results)
            # A sanity bound far above what any machine needs (about 1 s idle): the benchmark measures speed.
            assert time.monotonic() - started < 60
        assert emu.status_requests() == 25 + 2000
        assert emu.status_requests("job-999") == 2
    finally:
        emu.stop()


def test_admin_api(zoho_emulator: ZohoEmulator) -> None:
    base = zoho_emulator.base_url + "/__emulator__"

    def post(path: str, payload: Any) -> Reply:
        return http(
            "POST", base + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )

    assert post("/clients", {"client_id": "c", "client_secret": "s", "refresh_token": "r"}).json() == {"ok": True}
    assert "access_token" in token_call(zoho_emulator, ("c", "s", "r"))
    jobs = [
        {
            "kind": "analytics_import",
            "job_id": "a1",
            "script": ["1002", {"fault": "rate_limited", "retry_after": 1}, "1004"],
            **FACTS["analytics_import"].coordinates,
        },
        {"kind": "crm_bulk_write", "job_id": "c1", "script": ["COMPLETED"], "counts": {"added_count": 7}},
    ]
    assert post("/jobs", jobs).status == 200
    token = new_token(zoho_emulator)
    assert poll(zoho_emulator, "analytics_import", "a1", token).json()["data"]["jobCode"] == "1002"
    assert poll(zoho_emulator, "analytics_import", "a1", token).status == 429
    assert poll(zoho_emulator, "crm_bulk_write", "c1", token).json()["resource"][0]["file"]["added_count"] == 7

    bad = post("/jobs", [{"kind": "crm_bulk_write", "job_id": "ok", "script": ["ADDED"]}, {"kind": "crm_bulk_write"}])
    assert bad.status == 400
    assert bad.json()["ok"] is False
    assert poll(zoho_emulator, "crm_bulk_write", "ok", token).status == 404, "a bad batch applies nothing"

    stats = http("GET", base + "/stats").json()
    assert stats["token_requests"] == 2
    assert stats["status_requests"] == 4
    assert stats["status_requests_by_job"] == {"a1": 2, "c1": 1, "ok": 1}
    assert stats["max_concurrent_connections"] >= 1

    assert post("/accounts", [{"fault": "invalid_client"}]).status == 200
    assert token_call(zoho_emulator) == {"error": "invalid_client"}
    assert post("/revoke_tokens", {}).status == 200
    assert poll(zoho_emulator, "crm_bulk_write", "c1", token).status == 401
    assert post("/reset_counters", {}).status == 200
    assert http("GET", base + "/stats").json()["status_requests"] == 0


def test_start_stop_lifecycle() -> None:
    emu = ZohoEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    with emu:
        assert emu.start() is emu, "start is idempotent"
        url = emu.base_url
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
    started = time.monotonic()
    emu.stop()  # idempotent
    assert time.monotonic() - started < 1
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_stop_does_not_wait_for_in_flight_slow_answers() -> None:
    emu = ZohoEmulator().start()
    emu.add_client(*CLIENT)
    emu.add_job("crm_bulk_write", "j", [Fault("slow", delay=30)])
    token = new_token(emu)
    sock = socket.create_connection(("127.0.0.1", int(emu.base_url.rsplit(":", 1)[1])))
    sock.sendall(
        b"GET /crm/bulk/v8/write/j HTTP/1.1\r\nHost: x\r\nAuthorization: Zoho-oauthtoken "
        + token.encode()
        + b"\r\n\r\n"
    )
    deadline = time.monotonic() + 5
    while emu.status_requests("j") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    emu.stop()
    sock.close()
    assert time.monotonic() - started < 5


def test_the_testing_package_imports_without_airflow() -> None:
    """The pytest plugin loads in every test session of every user; the benchmark reads the kind facts."""
    modules = ["pytest_plugin", "kinds", "hostile", "__main__"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module('airflow_provider_zoho.testing.' + name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.json"
    path.write_text(
        json.dumps(
            [
                {
                    "kind": "creator_bulk_insert",
                    "job_id": "77",
                    "script": ["In-progress", {"fault": "rate_limited", "retry_after": 1}, "Completed"],
                    **FACTS["creator_bulk_insert"].coordinates,
                }
            ]
        )
    )
    return path


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError("the emulator CLI printed nothing")
        return proc.stdout.readline().strip()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(jobs_file: Path, stop_signal: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_zoho.testing",
            "--jobs",
            str(jobs_file),
            "--client-id",
            "cli-id",
            "--client-secret",
            "cli-secret",
            "--refresh-token",
            "cli-refresh",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    ) as proc:
        try:
            line = _read_line(proc, timeout=15)
            assert line.startswith("ZOHO_EMULATOR_URL=http://127.0.0.1:")
            base = line.split("=", 1)[1]
            params = "grant_type=refresh_token&client_id=cli-id&client_secret=cli-secret&refresh_token=cli-refresh"
            token = http("POST", f"{base}/oauth/v2/token?{params}").json()["access_token"]
            url = base + FACTS["creator_bulk_insert"].status_path("77")
            auth = {"Authorization": f"Zoho-oauthtoken {token}"}
            assert http("GET", url, headers=auth).json()["data"]["api_status"] == "In-progress"
            limited = http("GET", url, headers=auth)
            assert (limited.status, limited.headers["Retry-After"]) == (429, "1")
            assert http("GET", url, headers=auth).json()["data"]["api_status"] == "Completed"
            assert http("GET", f"{base}/__emulator__/stats").json()["status_requests_by_job"] == {"77": 3}
            proc.send_signal(stop_signal)
            assert proc.wait(timeout=10) == 0
            assert proc.stderr is not None
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_example_jobs_file_loads_one_job_per_kind() -> None:
    definitions = json.loads(EXAMPLE_JOBS.read_text())
    assert sorted(d["kind"] for d in definitions) == sorted(KIND_FACTS)
    ZohoEmulator().add_jobs(definitions)  # validates every definition, as --jobs does


def test_cli_without_client_flags_serves_the_default_client_and_prints_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a user does outside pytest: start it with the example jobs, point Airflow at the printed URL."""
    from airflow_provider_zoho.hooks.zoho import ZohoHook
    from airflow_provider_zoho.jobs import JOB_KINDS
    from airflow_provider_zoho.testing import airflow_connection_json

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    command = ["--jobs", str(EXAMPLE_JOBS), "--analytics-org-id", "55522777"]
    with subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_zoho.testing", *command],  # port 0: a free one
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    ) as proc:
        try:
            url = _read_line(proc, timeout=30).removeprefix("ZOHO_EMULATOR_URL=")
            assert proc.stdout is not None  # printed with the URL line, so already in the pipe's buffer:
            name, _, printed = shlex.split(proc.stdout.readline())[1].partition("=")
            assert name == "AIRFLOW_CONN_ZOHO_DEFAULT"
            assert json.loads(printed) == json.loads(airflow_connection_json(url, analytics_org_id="55522777"))
            monkeypatch.setenv(name, airflow_connection_json(url, analytics_org_id="55522777"))
            hook = ZohoHook("zoho_default")
            crm = hook.get_job_status(JOB_KINDS["crm_bulk_write"], {"job_id": "111111000000541001"})
            assert crm.state == "ADDED"
            analytics = {"workspace_id": "1767024000003145002", "job_id": "1767024000003153087"}
            assert hook.get_job_status(JOB_KINDS["analytics_import"], analytics).state == "1001"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_help_documents_the_jobs_file_and_the_admin_api(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        emulator_cli(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for route in ("jobs", "clients", "grant_codes", "accounts", "revoke_tokens", "reset_counters", "stats"):
        assert f"/__emulator__/{route}" in text
    assert str(EXAMPLE_JOBS) in text
    assert '"kind"' in text
    assert '"script"' in text
    # Port 8080 is Airflow's API server: neither the help nor the README's emulator section suggests it.
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Testing your own DAGs") :]
    section = section[: section.index("\n## ", 1)]
    for text_ in (text, section):
        assert "--port 8080" not in text_
        assert ":8080" not in text_


def test_cli_names_an_unusable_jobs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "jobs.json"
    bad.write_text('[{"kind": "crm_bulk_write", "job_id": "1"}]')
    assert emulator_cli(["--jobs", str(bad)]) == 2
    assert (
        capsys.readouterr().err
        == f"{bad}: job definition lacks 'script': {{'kind': 'crm_bulk_write', 'job_id': '1'}}\n"
    )
    assert emulator_cli(["--jobs", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot read it (No such file or directory)" in capsys.readouterr().err
