"""Deferring without the worker's first poll: no token request on workers, however many start.

Zoho grants 10 token requests per 10 minutes per refresh token; each Celery or Kubernetes worker process starts
with an empty cache. With ``poke_before_defer=False`` only the triggerer asks for a token.
"""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.hooks import ZohoAsyncHook
from airflow_provider_zoho.hooks.throttle import THROTTLE
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from benchmarks.cluster_tokens import measure
from tests.helpers import first_event, rebuild


async def test_the_sensor_defers_without_asking_zoho_and_the_trigger_looks_at_once(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "71", ["IN PROGRESS", "COMPLETED"])
    sensor = ZohoCRMBulkWriteJobSensor(
        task_id="wait", job_id="71", deferrable=True, poke_before_defer=False, poll_interval=0.05, timeout=60
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})  # type: ignore[arg-type]
    assert (zoho_conn.token_requests(), zoho_conn.status_requests()) == (0, 0)
    trigger = rebuild(deferred.value.trigger)
    assert isinstance(trigger, ZohoJobTrigger)
    assert trigger.first_poll_now
    event = await first_event(trigger)
    assert event["status"] == "success"
    assert zoho_conn.status_requests("71") == 2  # both answers came to the trigger: nothing was skipped


async def test_a_trigger_told_to_look_at_once_still_waits_out_the_connections_pause(zoho_conn: ZohoEmulator) -> None:
    """Zoho refusing tokens (or a 429) pauses the connection: a trigger starting then would only be refused too.

    A lower bound on the time taken, so a slow machine cannot fail it.
    """
    zoho_conn.add_job("crm_bulk_write", "72", ["COMPLETED"])
    key = (await ZohoAsyncHook().get_config()).token_cache_key
    pause = 1.0
    started = time.monotonic()
    THROTTLE.pause(key, pause)
    trigger = ZohoJobTrigger(
        kind="crm_bulk_write",
        coordinates={"job_id": "72"},
        zoho_conn_id="zoho_default",
        poll_interval=0.05,
        end_time=time.time() + 60,
        first_poll_now=True,
    )
    event = await first_event(trigger)
    assert event["status"] == "success"
    assert time.monotonic() - started >= pause
    assert zoho_conn.status_requests("72") == 1


def test_sensors_in_fresh_processes_make_no_token_request_of_their_own(zoho_emulator: ZohoEmulator) -> None:
    """Two sensors, each executed in a new process as a worker would, then their triggers in this one."""
    measured = measure(zoho_emulator.base_url, 2, poke_before_defer=False)
    assert (measured.worker_requests, measured.triggerer_requests, measured.triggerer_refused) == (0, 1, 0)
    assert measured.statuses == ["success", "success"]
    measured = measure(zoho_emulator.base_url, 2, poke_before_defer=True)
    # The default: the workers' first polls share one token through the machine's file store, and the
    # triggerer, on the same machine, reuses it.
    assert (measured.worker_requests, measured.worker_refused, measured.triggerer_requests) == (1, 0, 0)
    assert measured.statuses == ["success", "success"]


def test_refused_token_requests_are_told_apart(zoho_emulator: ZohoEmulator) -> None:
    """The first token request is refused (whichever worker makes it): that worker defers all the same."""
    zoho_emulator.script_accounts([Fault("throttle")])
    measured = measure(zoho_emulator.base_url, 2, poke_before_defer=True)
    assert (measured.worker_requests, measured.worker_refused) == (2, 1)
    assert (measured.triggerer_requests, measured.triggerer_refused) == (0, 0)  # it reuses the second's token
    assert measured.statuses == ["success", "success"]
