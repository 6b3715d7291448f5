"""The triggerer-scale workload at 50 triggers: counts only (tokens, requests, sockets, events), no timings.

The workload code is the benchmark's own (``benchmarks/triggerer_scale.py``), so this test keeps the
benchmark honest: if these counts broke, the benchmark's table would be measuring something else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import pytest

from airflow_provider_zoho.connection_config import DEFAULT_MAX_CONCURRENT_REQUESTS
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from airflow_provider_zoho.triggers import job as job_trigger
from benchmarks.triggerer_scale import (
    FLOOR,
    HTTP,
    VARIANTS,
    ZOHO,
    Workload,
    access_tokens,
    clients,
    floor_requests,
    http_connection_env,
    job_definitions,
    plan_jobs,
    run_floor,
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
    for variant in VARIANTS:
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


async def test_the_floor_runs_the_same_workload(bench_emulator: ZohoEmulator) -> None:
    """The floor is the bar's yardstick: the same polls, the same answers, one bare session."""
    jobs = plan_jobs(WORKLOAD, FLOOR)
    payloads = await run_floor(floor_requests(jobs), WORKLOAD)
    assert wrong_events(jobs, payloads, FLOOR) == []
    assert bench_emulator.token_requests() == 0  # the http connections' fixed token
    assert bench_emulator.status_requests() == WORKLOAD.total_polls
    assert 1 <= bench_emulator.max_concurrent_connections <= DEFAULT_MAX_CONCURRENT_REQUESTS * WORKLOAD.connections


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


# A progress line: the state ends at "; counts", at the logger (structlog, on stdout) or at the end of the line.
PROGRESS = re.compile(r"Zoho CRM bulk write job 5 is ([A-Z ]+?)(?:;| \[|$)")


@pytest.mark.parametrize(
    ("logged_state", "every_poll", "expected"),
    [
        (None, False, ["ADDED", "IN PROGRESS"]),
        ("ADDED", False, ["IN PROGRESS"]),
        ("ADDED", True, ["ADDED", "ADDED", "IN PROGRESS", "IN PROGRESS", "IN PROGRESS"]),
    ],
    ids=["first answer and changes", "changes from what the sensor logged", "again once the interval passed"],
)
def test_progress_is_logged_when_the_state_changes_and_then_and_again_now_and_then(
    zoho_conn: ZohoEmulator,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    logged_state: str | None,
    every_poll: bool,
    expected: list[str],
) -> None:
    """A progress line per poll was the largest part of a trigger's CPU at scale: one per change now, and
    one every PROGRESS_LOG_SECONDS while nothing changes (0 here: every poll)."""
    if every_poll:
        monkeypatch.setattr(job_trigger, "PROGRESS_LOG_SECONDS", 0.0)
    script = ["ADDED", "ADDED", "IN PROGRESS", "IN PROGRESS", "IN PROGRESS", "COMPLETED"]
    zoho_conn.add_job("crm_bulk_write", "5", script)
    trigger = ZohoJobTrigger(
        kind="crm_bulk_write",
        coordinates={"job_id": "5"},
        end_time=time.time() + 600,
        poll_interval=0.01,
        logged_state=logged_state,
    )
    classpath, kwargs = trigger.serialize()
    assert kwargs.get("logged_state") == logged_state, "serialized only when given"
    caplog.set_level(logging.INFO)
    payloads = asyncio.run(run_serialized([json.dumps([classpath, kwargs])]))
    assert payloads[0]["status"] == "success"
    out, err = capfd.readouterr()
    # Airflow 3's structlog writes to stdout; through ``logging`` (Airflow 2) the lines reach caplog, and some
    # of them stderr too. One source is read, caplog first, as a line may reach both.
    seen = [
        [found[1] for found in map(PROGRESS.search, text.splitlines()) if found] for text in (caplog.text, out + err)
    ]
    assert next((states for states in seen if states), []) == expected
