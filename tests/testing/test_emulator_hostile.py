"""The emulator's hostile endpoints: what a proxy or a broken server might answer (requests and aiohttp as
clients), and how hostile faults are written, validated and logged.

Over real HTTP (urllib for sync tests, aiohttp for concurrency and streams, requests where redirects and raw
bodies matter). The expectations are written from Zoho's docs (``docs/zoho-api.md``) and the doc samples,
independently of the emulator's dialect table, so a slip in that table shows up here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import tracemalloc
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import requests

from airflow_provider_zoho.testing import HOSTILE_FAULT_KINDS, Fault, ZohoEmulator
from airflow_provider_zoho.testing.faults import ACCOUNT_FAULT_KINDS, JOB_FAULT_KINDS
from airflow_provider_zoho.testing.kinds import at
from tests.testing.emulator_calls import (
    CLIENT,
    FACTS,
    add,
    all_kinds,
    error_code_of,
    new_token,
    poll,
    state_of,
    status_url,
    token_call,
)


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
    if not FACTS[kind].count_names:
        pytest.skip(
            f"{kind}'s status reports no counts (Analytics' export job: analytics-okf get-export-job-details.md)"
        )
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
