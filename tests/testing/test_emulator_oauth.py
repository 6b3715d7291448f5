"""The emulator's OAuth token endpoint over real HTTP: grants, errors with HTTP 200, throttles, token limits.

Over real HTTP (urllib for sync tests, aiohttp for concurrency and streams, requests where redirects and raw
bodies matter). The expectations are written from Zoho's docs (``docs/zoho-api.md``) and the doc samples,
independently of the emulator's dialect table, so a slip in that table shows up here.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from airflow_provider_zoho.testing import Fault, ZohoEmulator
from tests.testing.emulator_calls import (
    CLIENT,
    FACTS,
    add,
    all_kinds,
    error_code_of,
    http,
    new_token,
    poll,
    state_of,
    token_call,
)


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
