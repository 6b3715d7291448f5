"""Both hooks and the trigger against endpoints that misbehave on purpose: bounded answers, no redirects.

Each answer is bounded in bytes and in time, a token request never follows a redirect, and every odd
answer becomes an outcome from the error table instead of a raw Python exception. Each test here failed on
the code before these bounds existed (hung, grew the process by the size of the answer, or raised).
"""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from airflow_provider_zoho.errors import parse_retry_after
from airflow_provider_zoho.exceptions import ZohoError, ZohoFatalError, ZohoTransientError
from airflow_provider_zoho.hooks import ZohoAsyncHook, ZohoHook
from airflow_provider_zoho.hooks.exchange import Answer, answer_text, read_token_response
from airflow_provider_zoho.hooks.redaction import Redactor
from airflow_provider_zoho.hooks.zoho_async import close_shared_session
from airflow_provider_zoho.jobs import CRM_BULK_WRITE, read_job_status
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.conftest import connection_uri_json
from tests.helpers import first_event
from tests.loopback import LoopbackServer

pytestmark = pytest.mark.usefixtures("async_session_cleanup")

CONN_ID = "zoho_hostile"
SMALL_LIMIT = 1_000_000  # max_response_bytes for these tests: the answers below are 30 to 300 times larger
JOB = {"job_id": "31"}


@pytest.fixture
def zoho(zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> ZohoEmulator:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_uri_json(zoho_emulator, max_response_bytes=SMALL_LIMIT)
    )
    return zoho_emulator


@pytest.fixture
def other_host() -> Iterator[ZohoEmulator]:
    """A second server, where a redirect points: whatever reaches it has left the connection's host."""
    with ZohoEmulator() as elsewhere:
        yield elsewhere


def on_a_fresh_loop(call: Callable[[ZohoAsyncHook], Awaitable[Any]]) -> Any:
    """Run one async hook call as a trigger would, closing the loop's session after it."""

    async def run() -> Any:
        try:
            return await call(ZohoAsyncHook(CONN_ID))
        finally:
            await close_shared_session()

    return asyncio.run(run())


def sync_status() -> Any:
    return ZohoHook(CONN_ID).get_job_status(CRM_BULK_WRITE, JOB)


def async_status() -> Any:
    return on_a_fresh_loop(lambda hook: hook.get_job_status(CRM_BULK_WRITE, JOB))


def sync_token() -> Any:
    return ZohoHook(CONN_ID).get_access_token()


def async_token() -> Any:
    return on_a_fresh_loop(lambda hook: hook.get_access_token())


BOTH_PATHS = pytest.mark.parametrize("status", [sync_status, async_status], ids=["sync", "async"])
BOTH_TOKEN_PATHS = pytest.mark.parametrize("token", [sync_token, async_token], ids=["sync", "async"])


def secrets_of(emulator: ZohoEmulator) -> list[str]:
    client = ZohoEmulator.DEFAULT_CLIENT
    return [client.client_secret, client.refresh_token, *emulator.issued_tokens]


# -- 1. redirects -----------------------------------------------------------------------------------------


@BOTH_TOKEN_PATHS
def test_a_token_request_never_follows_a_redirect(
    zoho: ZohoEmulator, other_host: ZohoEmulator, token: Callable[[], Any]
) -> None:
    zoho.script_accounts([Fault("redirect", status=307, location=f"{other_host.base_url}/oauth/v2/token")])
    with pytest.raises(ZohoFatalError) as raised:
        token()
    assert raised.value.code == "TOKEN_REDIRECT"
    assert "127.0.0.1" in str(raised.value)  # it names where the redirect pointed
    assert other_host.received_requests() == []  # the form with the secrets went nowhere else
    assert all(secret not in str(raised.value) for secret in secrets_of(zoho))


@BOTH_PATHS
def test_a_status_redirect_to_another_host_carries_no_authorization(
    zoho: ZohoEmulator, other_host: ZohoEmulator, status: Callable[[], Any]
) -> None:
    elsewhere = f"{other_host.base_url}/crm/bulk/v8/write/31"
    zoho.add_job("crm_bulk_write", "31", [Fault("redirect", location=elsewhere), "COMPLETED"])
    # The other host refuses a request without a token; the hook gets a fresh token and asks its own host again.
    assert status().state == "COMPLETED"
    arrived = [request for request in other_host.received_requests() if request.path.startswith("/crm/")]
    assert len(arrived) == 1
    assert arrived[0].header("Authorization") is None


# -- 4. bounded in bytes ------------------------------------------------------------------------------------


HUGE_ANSWERS = {
    "huge with Content-Length": Fault("huge", size=30_000_000),
    "huge, chunked": Fault("huge", size=30_000_000, chunked=True),
    "gzip bomb": Fault("gzip_bomb", size=300_000_000),
}


@BOTH_PATHS
@pytest.mark.parametrize("fault", list(HUGE_ANSWERS.values()), ids=list(HUGE_ANSWERS))
def test_a_huge_answer_is_refused_with_flat_memory(zoho: ZohoEmulator, fault: Fault, status: Callable[[], Any]) -> None:
    zoho.add_job("crm_bulk_write", "31", [fault, "COMPLETED"])
    # The token first, outside the measure: registering it with Airflow's secrets masker recompiles a pattern of
    # every secret the process has masked, which grows with the suite, not with the answer.
    sync_token()
    tracemalloc.start()
    try:
        with pytest.raises(ZohoTransientError) as raised:
            status()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.code == "INVALID_RESPONSE"
    assert f"{SMALL_LIMIT:,} bytes" in str(raised.value)
    # Held at most the bound plus a read chunk or two, whatever the answer's size; never the answer.
    assert peak < 4 * SMALL_LIMIT, f"peak {peak:,} bytes"
    assert status().state == "COMPLETED"  # and the next poll goes on as usual


@BOTH_TOKEN_PATHS
def test_a_huge_token_answer_is_refused(zoho: ZohoEmulator, token: Callable[[], Any]) -> None:
    zoho.script_accounts([Fault("gzip_bomb", size=300_000_000)])
    with pytest.raises(ZohoTransientError, match="INVALID_RESPONSE"):
        token()


# -- 5. bounded in time --------------------------------------------------------------------------------------


@BOTH_PATHS
def test_a_dripping_answer_meets_the_whole_request_deadline(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, status: Callable[[], Any]
) -> None:
    """A byte every 0.2 s never trips a per-socket timeout; only a deadline for the whole answer ends it."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_uri_json(zoho_emulator, timeout=1))
    zoho_emulator.add_job("crm_bulk_write", "31", [Fault("drip", delay=0.2, size=3600)])
    with pytest.raises(ZohoTransientError) as raised:
        status()  # without the deadline: 3600 bytes x 0.2 s = 12 minutes, past pytest's timeout
    assert raised.value.code == "TIMEOUT"


async def test_the_trigger_ends_at_its_deadline_in_the_middle_of_an_answer(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connection allows a request 60 s; the trigger's deadline is much sooner and must win.
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_uri_json(zoho_emulator, timeout=60))
    zoho_emulator.add_job("crm_bulk_write", "31", ["IN PROGRESS", Fault("drip", delay=0.2, size=3600)])
    trigger = ZohoJobTrigger(
        kind="crm_bulk_write", coordinates=JOB, end_time=time.time() + 2, zoho_conn_id=CONN_ID, poll_interval=0.01
    )
    started = time.monotonic()
    event = await first_event(trigger, limit=50)
    assert event["status"] == "timeout"
    assert "TIMEOUT" in event["message"]
    assert time.monotonic() - started < 40  # the deadline, not the connection's 60 s request timeout


# -- 6. Retry-After is capped and ended by success ------------------------------------------------------------


@pytest.mark.parametrize("retry_after", [1e12, 86_400.0], ids=["1e12", "a day"])
async def test_retry_after_never_holds_a_trigger_past_its_max_backoff(zoho: ZohoEmulator, retry_after: float) -> None:
    zoho.add_job("crm_bulk_write", "31", ["IN PROGRESS", Fault("rate_limited", retry_after=retry_after), "COMPLETED"])
    trigger = ZohoJobTrigger(
        kind="crm_bulk_write",
        coordinates=JOB,
        end_time=time.time() + 60,
        zoho_conn_id=CONN_ID,
        poll_interval=0.01,
        max_backoff=0.5,
    )
    event = await first_event(trigger, limit=50)
    assert event["status"] == "success"  # not a timeout 60 s later: the pause was capped at 0.5 s
    hook = ZohoAsyncHook(CONN_ID)
    await hook.get_config()
    assert hook.throttle_remaining() == 0.0  # the completed answer ended the shared pause


@pytest.mark.parametrize("header", ["inf", "Infinity", "nan", "-inf"])
def test_a_retry_after_that_is_not_a_number_of_seconds_counts_as_none(header: str) -> None:
    assert parse_retry_after(header) is None


def test_a_far_future_retry_after_date_is_a_plain_number_the_poller_caps() -> None:
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == pytest.approx(253402300799 - time.time(), abs=5)


# -- 7. odd answers become outcomes from the error table --------------------------------------------------------


@BOTH_PATHS
def test_json_nested_too_deep_is_an_invalid_answer(zoho: ZohoEmulator, status: Callable[[], Any]) -> None:
    zoho.add_job("crm_bulk_write", "31", [Fault("deep_json", depth=100_000), "COMPLETED"])
    with pytest.raises(ZohoTransientError, match="INVALID_RESPONSE"):
        status()


@BOTH_PATHS
def test_a_count_of_5000_digits_is_an_invalid_answer(zoho: ZohoEmulator, status: Callable[[], Any]) -> None:
    zoho.add_job("crm_bulk_write", "31", ["IN PROGRESS", Fault("huge_count", size=5000), "COMPLETED"])
    assert status().state == "IN PROGRESS"
    with pytest.raises(ZohoTransientError, match="INVALID_RESPONSE"):
        status()  # Python refuses to parse an int of over 4,300 digits: the answer is not usable JSON
    assert status().state == "COMPLETED"


def test_read_job_status_keeps_only_counts_that_fit() -> None:
    body = {"status": "COMPLETED", "resource": [{"file": {"added_count": 10**5000, "skipped_count": 2}}]}
    assert read_job_status(CRM_BULK_WRITE, "31", body).counts == {"skipped": 2}


@BOTH_TOKEN_PATHS
@pytest.mark.parametrize("expires_in", ["soon", [1], -5, 0, float("nan"), float("inf"), 10**9], ids=repr)
def test_a_token_lifetime_that_is_not_seconds_is_an_invalid_answer(
    zoho: ZohoEmulator, token: Callable[[], Any], expires_in: Any
) -> None:
    zoho.script_accounts([Fault("odd_expiry", value=expires_in)])
    with pytest.raises(ZohoTransientError, match="INVALID_RESPONSE"):
        token()
    assert zoho.token_requests() == 1
    token()  # the next answer is normal: a token, cached for its real lifetime
    token()
    assert zoho.token_requests() == 2


@BOTH_TOKEN_PATHS
def test_a_token_with_a_line_break_is_an_invalid_answer(zoho: ZohoEmulator, token: Callable[[], Any]) -> None:
    zoho.script_accounts([Fault("bad_token")])
    with pytest.raises(ZohoTransientError, match="INVALID_RESPONSE") as raised:
        token()
    assert "X-Injected" not in str(raised.value)


# -- 2. (pure) an echoed form is redacted before any message is built from it ----------------------------------


def test_an_echoed_form_is_redacted_before_the_error_is_built() -> None:
    secret, refresh = "5e3c1f0a9b8d7c6e5f4a3b2c1d0e9f8a7b", "1000.abcdef0123456789.fedcba9876543210"
    page = f"<pre>grant_type=refresh_token&client_secret={secret}&refresh_token={refresh}</pre>".encode()
    redactor = Redactor((secret, refresh))
    with pytest.raises(ZohoError) as raised:
        read_token_response(Answer(500, answer_text(page, redactor)))
    assert "client_secret=***" in str(raised.value)
    assert secret not in str(raised.value)
    assert refresh not in str(raised.value)


def test_every_zoho_text_in_a_message_is_bounded() -> None:
    error = ZohoFatalError("NO_PERMISSION", "x" * 100_000, service="api")
    assert len(str(error)) < 2_200
    assert "more characters cut" in str(error)


# -- 10. proxies -------------------------------------------------------------------------------------------------


class RecordingProxy(LoopbackServer):
    """A plain-HTTP forward proxy on loopback that counts what passes through it."""

    def __init__(self) -> None:
        super().__init__()
        self.forwarded: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        target = str(request.url) if request.raw_path.startswith("http") else request.raw_path
        self.forwarded.append(target)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "proxy-connection")}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(request.method, request.raw_path, headers=headers, data=await request.read()) as answer,
        ):
            body = await answer.read()
            return web.Response(status=answer.status, body=body, headers={"Content-Type": answer.content_type})


@BOTH_PATHS
def test_both_paths_honour_the_proxy_environment(
    zoho: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, status: Callable[[], Any]
) -> None:
    zoho.add_job("crm_bulk_write", "31", ["COMPLETED"])
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with RecordingProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        assert status().state == "COMPLETED"
    assert [url for url in proxy.forwarded if url.endswith("/oauth/v2/token")], proxy.forwarded
    assert [url for url in proxy.forwarded if url.endswith("/crm/bulk/v8/write/31")], proxy.forwarded


def test_the_no_proxy_list_is_honoured_by_both_paths(zoho: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    zoho.add_job("crm_bulk_write", "31", ["COMPLETED"])
    with RecordingProxy() as proxy:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1")
        assert sync_status().state == "COMPLETED"
        assert async_status().state == "COMPLETED"
    assert proxy.forwarded == []


def test_a_json_answer_survives_redaction_intact() -> None:
    """Redacting the raw text keeps the JSON valid: a secret is always inside a string there."""
    token = "1000.0123456789abcdef.0123456789abcdef"
    raw = json.dumps({"status": "COMPLETED", "echo": {"Authorization": f"Zoho-oauthtoken {token}"}}).encode()
    decoded = json.loads(answer_text(raw, Redactor((token,))))
    assert decoded["echo"]["Authorization"] == "Zoho-oauthtoken ***"
