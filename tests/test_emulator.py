"""Tests of the Zoho emulator itself, over real HTTP (urllib for sync tests, aiohttp for concurrency).

The expectations below are written from ZOHO_API.md and the doc samples, independently of the
emulator's dialect table, so a slip in that table shows up here.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from airflow_provider_zoho.testing import JOB_KINDS, Fault, ZohoEmulator

REPO_ROOT = Path(__file__).resolve().parents[1]
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


COORDS: dict[str, dict[str, Any]] = {
    "analytics_import": {"workspace_id": "35130000001055707", "org_id": "55522777"},
    "crm_bulk_write": {},
    "bigin_bulk_write": {},
    "creator_bulk_insert": {
        "account_owner_name": "jason18",
        "app_link_name": "zylker-store",
        "form_link_name": "Employee_Details",
    },
}
# (in-progress state, success state) as each product spells them
STATES = {
    "analytics_import": ("1002", "1004"),
    "crm_bulk_write": ("IN PROGRESS", "COMPLETED"),
    "bigin_bulk_write": ("IN PROGRESS", "COMPLETED"),
    "creator_bulk_insert": ("In-progress", "Completed"),
}


def status_url(emu: ZohoEmulator, kind: str, job_id: str, coords: dict[str, str] | None = None) -> str:
    c = COORDS[kind] if coords is None else coords
    path = {
        "analytics_import": lambda: f"/restapi/v2/bulk/workspaces/{c['workspace_id']}/importjobs/{job_id}",
        "crm_bulk_write": lambda: f"/crm/bulk/v8/write/{job_id}",
        "bigin_bulk_write": lambda: f"/bigin/bulk/v2/write/{job_id}",
        "creator_bulk_insert": lambda: (
            f"/creator/v2.1/bulk/{c['account_owner_name']}/{c['app_link_name']}"
            f"/form/{c['form_link_name']}/insert/{job_id}"
        ),
    }[kind]()
    return emu.base_url + path


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
    if kind == "analytics_import":
        headers["ZANALYTICS-ORGID"] = (COORDS[kind] if coords is None else coords)["org_id"]
    headers.update(extra_headers or {})
    return http("GET", status_url(emu, kind, job_id, coords), headers=headers)


def state_of(kind: str, body: dict[str, Any]) -> str:
    if kind == "analytics_import":
        code: str = body["data"]["jobCode"]
        return code
    if kind == "creator_bulk_insert":
        api_status: str = body["data"]["api_status"]
        return api_status
    status: str = body["status"]
    return status


def add(emu: ZohoEmulator, kind: str, job_id: str, script: list[Any], **kwargs: Any) -> None:
    emu.add_job(kind, job_id, script, **COORDS[kind], **kwargs)


def error_code_of(kind: str, body: dict[str, Any]) -> Any:
    return body["data"]["errorCode"] if kind == "analytics_import" else body["code"]


INVALID_TOKEN = {
    "analytics_import": (401, 8535),
    "crm_bulk_write": (401, "INVALID_TOKEN"),
    "bigin_bulk_write": (401, "INVALID_TOKEN"),
    "creator_bulk_insert": (401, 1030),
}
RATE_LIMIT_CODE = {
    "analytics_import": 6045,
    "crm_bulk_write": "TOO_MANY_REQUESTS",
    "bigin_bulk_write": "TOO_MANY_REQUESTS",
    "creator_bulk_insert": 2955,
}
SERVER_ERROR_CODE = {
    "analytics_import": 7005,
    "crm_bulk_write": "INTERNAL_ERROR",
    "bigin_bulk_write": "INTERNAL_ERROR",
    "creator_bulk_insert": 2945,
}
all_kinds = pytest.mark.parametrize("kind", JOB_KINDS)


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
    add(zoho_emulator, kind, "j1", [STATES[kind][0], STATES[kind][1]])
    token = new_token(zoho_emulator)
    assert poll(zoho_emulator, kind, "j1", token).status == 200
    zoho_emulator.revoke_tokens()
    status, code = INVALID_TOKEN[kind]
    for reply in (
        poll(zoho_emulator, kind, "j1", token),
        poll(zoho_emulator, kind, "j1", None),
        poll(zoho_emulator, kind, "j1", None, extra_headers={"Authorization": f"Bearer {new_token(zoho_emulator)}"}),
    ):
        assert reply.status == status
        assert error_code_of(kind, reply.json()) == code
    # Rejected polls do not consume script steps.
    assert state_of(kind, poll(zoho_emulator, kind, "j1", new_token(zoho_emulator)).json()) == STATES[kind][1]


def test_invalid_token_bodies_are_exact(zoho_emulator: ZohoEmulator) -> None:
    for kind in JOB_KINDS:
        add(zoho_emulator, kind, "j", ["COMPLETED" if "write" in kind else STATES[kind][1]])
    bodies = {kind: poll(zoho_emulator, kind, "j", "nope").json() for kind in JOB_KINDS}
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

    wrong_ws = poll(zoho_emulator, kind, "bad", token, coords={**COORDS[kind], "workspace_id": "999"})
    assert (wrong_ws.status, wrong_ws.json()["data"]["errorCode"]) == (404, 7103)

    wrong_org = poll(zoho_emulator, kind, "bad", token, coords={**COORDS[kind], "org_id": "1"})
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
    assert (resource["status"], resource["type"], resource["module"]) == ("COMPLETED", "data", "Deals")
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
        kind, "dev-job", ["Failed"], counts={"failed_records": 3}, environment="development", **COORDS[kind]
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

    wrong_owner = poll(zoho_emulator, kind, "dev-job", token, coords={**COORDS[kind], "account_owner_name": "x"})
    assert (wrong_owner.status, wrong_owner.json()["code"]) == (404, 1040)
    wrong_form = poll(zoho_emulator, kind, "3888833000000114027", token, coords={**COORDS[kind], "form_link_name": "F"})
    assert (wrong_form.status, wrong_form.json()["code"]) == (404, 1000)
    unknown = poll(zoho_emulator, kind, "nope", token)
    assert (unknown.status, unknown.json()["code"]) == (404, 1000)


# ---------------------------------------------------------------------------------------------------------
# Faults, each in every kind's dialect
# ---------------------------------------------------------------------------------------------------------
@all_kinds
def test_fault_rate_limited(zoho_emulator: ZohoEmulator, kind: str) -> None:
    done = STATES[kind][1]
    add(zoho_emulator, kind, "j", [Fault("rate_limited", retry_after=2), Fault("rate_limited"), done])
    token = new_token(zoho_emulator)
    first = poll(zoho_emulator, kind, "j", token)
    assert (first.status, first.headers["Retry-After"]) == (429, "2")
    assert error_code_of(kind, first.json()) == RATE_LIMIT_CODE[kind]
    second = poll(zoho_emulator, kind, "j", token)
    assert second.status == 429
    assert "Retry-After" not in second.headers
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == done


@all_kinds
def test_fault_server_error_json_and_html(zoho_emulator: ZohoEmulator, kind: str) -> None:
    add(
        zoho_emulator, kind, "j", [Fault("server_error", status=502), Fault("server_error", html=True), STATES[kind][1]]
    )
    token = new_token(zoho_emulator)
    as_json = poll(zoho_emulator, kind, "j", token)
    assert as_json.status == 502
    assert error_code_of(kind, as_json.json()) == SERVER_ERROR_CODE[kind]
    as_html = poll(zoho_emulator, kind, "j", token)
    assert as_html.status == 500
    assert as_html.headers.get_content_type() == "text/html"
    assert as_html.text.lstrip().startswith("<!DOCTYPE html>")


@all_kinds
def test_fault_reset_drops_the_connection(zoho_emulator: ZohoEmulator, kind: str) -> None:
    add(zoho_emulator, kind, "j", [Fault("reset"), STATES[kind][1]])
    token = new_token(zoho_emulator)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        poll(zoho_emulator, kind, "j", token)
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == STATES[kind][1]
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
    pending, done = STATES[kind]
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
    add(zoho_emulator, kind, "j", [Fault("non_json"), Fault("missing_fields"), STATES[kind][1]])
    token = new_token(zoho_emulator)
    garbage = poll(zoho_emulator, kind, "j", token)
    assert garbage.status == 200
    with pytest.raises(json.JSONDecodeError):
        garbage.json()
    missing = poll(zoho_emulator, kind, "j", token)
    assert missing.status == 200
    expected = {
        "analytics_import": {"status": "success", "summary": "Fetch import job info", "data": {}},
        "crm_bulk_write": {},
        "bigin_bulk_write": {},
        "creator_bulk_insert": {"code": 3000, "data": {}},
    }[kind]
    assert missing.json() == expected


@all_kinds
def test_fault_invalid_token_revokes_the_presented_token(zoho_emulator: ZohoEmulator, kind: str) -> None:
    pending, done = STATES[kind]
    add(zoho_emulator, kind, "j", [pending, Fault("invalid_token"), done])
    token = new_token(zoho_emulator)
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == pending
    status, code = INVALID_TOKEN[kind]
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
    add(zoho_emulator, kind, "j", [fault, STATES[kind][1]])
    token = new_token(zoho_emulator)
    reply = poll(zoho_emulator, kind, "j", token)
    assert reply.status == expected_status
    body = reply.json()
    assert error_code_of(kind, body) == fault.code
    if kind == "analytics_import":
        assert body["status"] == "failure"
    elif kind != "creator_bulk_insert":
        assert body["status"] == "error"
    assert state_of(kind, poll(zoho_emulator, kind, "j", token).json()) == STATES[kind][1]


def test_fault_expired_answers_job_not_found(zoho_emulator: ZohoEmulator) -> None:
    add(zoho_emulator, "analytics_import", "j", ["1004", Fault("expired")])
    token = new_token(zoho_emulator)
    assert poll(zoho_emulator, "analytics_import", "j", token).json()["data"]["jobCode"] == "1004"
    expired = poll(zoho_emulator, "analytics_import", "j", token)
    assert expired.status == 200
    assert expired.json()["data"]["jobCode"] == "1005"


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


def test_add_job_rejects_mistakes_early() -> None:
    emu = ZohoEmulator()  # validation needs no server
    with pytest.raises(ValueError, match="unknown job kind"):
        emu.add_job("crm", "j", ["COMPLETED"])
    with pytest.raises(ValueError, match="not a crm_bulk_write state"):
        emu.add_job("crm_bulk_write", "j", ["Completed!"])
    with pytest.raises(ValueError, match="not a creator_bulk_insert state"):
        emu.add_job("creator_bulk_insert", "j", ["1004"], **COORDS["creator_bulk_insert"])
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
        emu.add_job("creator_bulk_insert", "j", [Fault("error", code="NO_PERMISSION")], **COORDS["creator_bulk_insert"])


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
            **COORDS["analytics_import"],
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
                    **COORDS["creator_bulk_insert"],
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
            url = f"{base}/creator/v2.1/bulk/jason18/zylker-store/form/Employee_Details/insert/77"
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
