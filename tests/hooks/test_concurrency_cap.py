"""Zoho's concurrency limit, played by the emulator, and the per-connection cap that keeps triggers under it.

Counts only, never times: a request held in flight is a ``slow`` answer far longer than any test waits for
(the emulator cancels it when it stops), and waits end on what the emulator has counted.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from airflow_provider_zoho.connection_config import DEFAULT_MAX_CONCURRENT_REQUESTS
from airflow_provider_zoho.exceptions import ZohoTransientError
from airflow_provider_zoho.hooks.throttle import THROTTLE
from airflow_provider_zoho.hooks.zoho_async import ZohoAsyncHook
from airflow_provider_zoho.jobs import CRM_BULK_WRITE
from airflow_provider_zoho.testing import ClientCredentials, Fault, ZohoEmulator
from airflow_provider_zoho.testing.__main__ import _parse_args
from benchmarks.triggerer_scale import (
    ZOHO,
    Workload,
    access_tokens,
    clients,
    job_definitions,
    plan_jobs,
    run_serialized,
    serialized_triggers,
    wrong_events,
    zoho_connection_env,
)
from tests.conftest import connection_uri_json

CLIENT = ZohoEmulator.DEFAULT_CLIENT
OTHER = ClientCredentials("other-client", "other-secret", "other-refresh")
HELD = Fault("slow", delay=600)  # in flight until the emulator stops
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never route 127.0.0.1 via a proxy

pytestmark = pytest.mark.usefixtures("async_session_cleanup")


async def counted(emulator: ZohoEmulator, name: str, value: int) -> None:
    """Wait until the emulator's ``name`` counter reaches ``value`` (bounded only as a safety net).

    The counter lives in the emulator's thread, which offers nothing to await: it is read every 10 ms.
    """
    async with asyncio.timeout(120):
        while emulator.stats()[name] < value:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_the_emulator_answers_too_many_requests_past_its_limit_per_client(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.add_client(*OTHER)
    zoho_emulator.add_job("crm_bulk_write", "1", [HELD])
    zoho_emulator.add_job("crm_bulk_write", "2", ["IN PROGRESS"])
    zoho_emulator.set_concurrency_limit(2)
    mine, others = access_tokens(zoho_emulator.base_url, [CLIENT, OTHER])
    url = zoho_emulator.base_url + "/crm/bulk/v8/write/{}"

    async with aiohttp.ClientSession() as session:

        async def get(job_id: str, token: str) -> tuple[int, Any]:
            headers = {"Authorization": f"Zoho-oauthtoken {token}"}
            async with session.get(url.format(job_id), headers=headers) as response:
                return response.status, await response.json()

        held = [asyncio.ensure_future(get("1", mine)) for _ in range(2)]
        try:
            await counted(zoho_emulator, "in_flight", 2)
            status, body = await get("2", mine)
            assert (status, body["code"], body["status"]) == (429, "TOO_MANY_REQUESTS", "error")
            assert (await get("2", others))[0] == 200, "the limit is per client"
            zoho_emulator.set_concurrency_limit(None)
            assert (await get("2", mine))[0] == 200, "no limit once it is lifted"
            assert not any(task.done() for task in held)
        finally:
            for task in held:
                task.cancel()
            await asyncio.gather(*held, return_exceptions=True)
    stats = zoho_emulator.stats()
    assert (stats["over_concurrency"], stats["max_in_flight"]) == (1, 3)
    assert stats["status_requests"] == 5, "a request answered 429 is a status request too"


def test_the_limit_is_set_through_the_admin_api_and_the_command_line(zoho_emulator: ZohoEmulator) -> None:
    def post(payload: Any) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            zoho_emulator.base_url + "/__emulator__/concurrency",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with _OPENER.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    assert zoho_emulator.stats()["concurrency_limit"] is None, "off unless asked for"
    assert post({"limit": 3}) == (200, {"ok": True})
    assert zoho_emulator.stats()["concurrency_limit"] == 3
    status, answer = post({"limit": 0})
    assert status == 400
    assert "concurrency_limit must be a whole number >= 1" in answer["error"]
    status, answer = post({"limt": 3})
    assert status == 400
    assert 'expected {"limit": N}' in answer["error"]
    assert post({"limit": None})[0] == 200
    assert zoho_emulator.stats()["concurrency_limit"] is None
    with pytest.raises(ValueError, match="concurrency_limit must be"):
        ZohoEmulator(concurrency_limit=True)  # type: ignore[arg-type]
    assert _parse_args(["--concurrency-limit", "5"]).concurrency_limit == 5
    with pytest.raises(SystemExit):
        _parse_args(["--concurrency-limit", "0"])


async def test_triggers_under_the_connection_cap_never_meet_the_limit(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty triggers on one connection, slow answers: at most the cap in flight, not one 429."""
    workload = Workload(triggers=40, connections=1, polls=3, poll_interval=0.05, answer_delay=0.05, max_backoff=1.0)
    zoho_emulator.set_concurrency_limit(DEFAULT_MAX_CONCURRENT_REQUESTS)
    bench_clients = clients(workload)
    for client in bench_clients:
        zoho_emulator.add_client(*client)
    jobs = plan_jobs(workload, ZOHO)
    zoho_emulator.add_jobs(job_definitions(jobs, workload, ZOHO))
    for name, value in zoho_connection_env(zoho_emulator.base_url, bench_clients).items():
        monkeypatch.setenv(name, value)

    payloads = await run_serialized(serialized_triggers(jobs, workload, ZOHO))

    assert wrong_events(jobs, payloads, ZOHO) == []
    stats = zoho_emulator.stats()
    assert stats["over_concurrency"] == 0
    assert 1 <= stats["max_in_flight"] <= DEFAULT_MAX_CONCURRENT_REQUESTS
    assert stats["status_requests"] == workload.total_polls


@pytest.mark.parametrize("cap", [2, 6], ids=["capped", "cap above the limit"])
async def test_the_cap_decides_whether_requests_past_the_limit_are_sent(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    """Six polls at once against a limit of 2, each answer held: a cap of 2 queues four of them in the hook;
    a cap of 6 sends them all, and Zoho refuses four with 429."""
    limit, polls = 2, 6
    zoho_emulator.set_concurrency_limit(limit)
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_CAPPED", connection_uri_json(zoho_emulator, max_concurrent_requests=cap))
    for number in range(polls):
        zoho_emulator.add_job("crm_bulk_write", str(number), [HELD])
    hook = ZohoAsyncHook("zoho_capped")
    await hook.get_access_token()
    polling = [asyncio.ensure_future(hook.get_job_status(CRM_BULK_WRITE, {"job_id": str(n)})) for n in range(polls)]
    refused: list[BaseException] = []
    try:
        if cap < polls:
            await counted(zoho_emulator, "status_requests", limit)
            # The other four wait for the connection's gate, which the two held answers keep closed.
            gate = THROTTLE.slot((await hook.get_config()).token_cache_key, cap)
            assert gate.locked()
            assert zoho_emulator.stats()["status_requests"] == limit
        else:
            async with asyncio.timeout(120):  # a safety net: four answers come back at once
                for finished in asyncio.as_completed(polling):
                    with pytest.raises(ZohoTransientError) as raised:
                        await finished
                    refused.append(raised.value)
                    if len(refused) == polls - limit:
                        break
            assert [error.http_status for error in refused] == [429] * (polls - limit)  # type: ignore[attr-defined]
        assert sum(not task.done() for task in polling) == polls - len(refused)
    finally:
        for task in polling:
            task.cancel()
        await asyncio.gather(*polling, return_exceptions=True)
    stats = zoho_emulator.stats()
    assert stats["max_in_flight"] == limit
    assert stats["over_concurrency"] == len(refused)
