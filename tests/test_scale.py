"""The triggerer-scale workload at 50 triggers: counts only (tokens, requests, sockets, events), no timings.

The workload code is the benchmark's own (``benchmarks/triggerer_scale.py``), so this test keeps the
benchmark honest: if these counts broke, the benchmark's table would be measuring something else.
"""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_zoho.connection_config import DEFAULT_MAX_CONCURRENT_REQUESTS
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from benchmarks.triggerer_scale import (
    HTTP,
    ZOHO,
    Workload,
    access_tokens,
    clients,
    http_connection_env,
    job_definitions,
    plan_jobs,
    run_serialized,
    serialized_triggers,
    wrong_events,
    zoho_connection_env,
)

WORKLOAD = Workload(triggers=50, connections=2, polls=3, poll_interval=0.05)


@pytest.fixture
def bench_emulator(zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> ZohoEmulator:
    """The emulator with the workload's clients and both variants' jobs, and the connections pointing at it."""
    bench_clients = clients(WORKLOAD)
    for client in bench_clients:
        zoho_emulator.add_client(client.client_id, client.client_secret, client.refresh_token)
    for variant in (ZOHO, HTTP):
        zoho_emulator.add_jobs(job_definitions(plan_jobs(WORKLOAD, variant), WORKLOAD, variant))
    env = zoho_connection_env(zoho_emulator.base_url, bench_clients)
    env.update(http_connection_env(zoho_emulator.base_url, access_tokens(zoho_emulator.base_url, bench_clients)))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    zoho_emulator.reset_counters()
    return zoho_emulator


async def test_zoho_triggers_one_token_per_connection_one_request_per_poll(bench_emulator: ZohoEmulator) -> None:
    jobs = plan_jobs(WORKLOAD, ZOHO)
    payloads = await run_serialized(serialized_triggers(jobs, WORKLOAD, ZOHO))
    assert wrong_events(jobs, payloads, ZOHO) == []
    assert bench_emulator.token_requests() == WORKLOAD.connections
    for client in clients(WORKLOAD):
        assert bench_emulator.token_requests(client.refresh_token) == 1
    assert bench_emulator.status_requests() == WORKLOAD.total_polls
    for job in jobs:
        assert bench_emulator.status_requests(job.job_id) == WORKLOAD.polls
    # Each connection has at most its cap of requests, and so of sockets, in flight at once.
    assert 1 <= bench_emulator.max_concurrent_connections <= DEFAULT_MAX_CONCURRENT_REQUESTS * WORKLOAD.connections


async def test_http_sensor_trigger_runs_the_same_workload(bench_emulator: ZohoEmulator) -> None:
    """The comparison is fair only if the http trigger makes the same polls and gets the right answers."""
    pytest.importorskip("airflow.providers.http", reason="the benchmark's http extra is not installed")
    jobs = plan_jobs(WORKLOAD, HTTP)
    payloads = await run_serialized(serialized_triggers(jobs, WORKLOAD, HTTP))
    assert wrong_events(jobs, payloads, HTTP) == []
    assert bench_emulator.token_requests() == 0  # a fixed token in the connection's headers
    assert bench_emulator.status_requests() == WORKLOAD.total_polls


async def test_a_429_holds_off_pollers_that_were_already_asleep(zoho_conn: ZohoEmulator) -> None:
    """One 429 slows every poller of the connection, including those whose sleep began before it.

    A fast poller meets a 429 (Retry-After far beyond the deadline) while the others sleep their first
    interval; on waking they must keep holding off, so each makes just the one poll a trigger makes at
    its deadline, not one more into the throttled window.
    """
    zoho_conn.add_job("crm_bulk_write", "1", [Fault("rate_limited", retry_after=60)])
    for number in range(2, 12):
        zoho_conn.add_job("crm_bulk_write", str(number), ["IN PROGRESS"])
    # The others sleep 2 s (less 10 % jitter) first: time for the fast poller's 429 even on a busy machine.
    slow_interval = 2.0
    end_time = time.time() + 2 * slow_interval

    def trigger(job_id: str, poll_interval: float) -> ZohoJobTrigger:
        return ZohoJobTrigger(
            kind="crm_bulk_write", coordinates={"job_id": job_id}, end_time=end_time, poll_interval=poll_interval
        )

    stored = [json.dumps(trigger("1", 0.01).serialize())]
    stored += [json.dumps(trigger(str(number), slow_interval).serialize()) for number in range(2, 12)]
    payloads = await run_serialized(stored)
    assert [payload["status"] for payload in payloads] == ["timeout"] * 11
    assert [zoho_conn.status_requests(str(number)) for number in range(2, 12)] == [1] * 10
