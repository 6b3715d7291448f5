"""Deferrable mode honours poke mode's ``exponential_backoff`` and ``max_wait``.

The counts are the point: Zoho's API budget is spent per call, so a long job must cost few calls.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from airflow_provider_zoho.triggers.job import pending_poll_interval
from benchmarks.polling_cost import simulate
from tests.helpers import first_event, rebuild


def test_the_interval_doubles_per_pending_answer_up_to_max_wait() -> None:
    intervals = [pending_poll_interval(30, n, exponential=True, max_wait=600) for n in range(1, 9)]
    assert intervals == [30, 60, 120, 240, 480, 600, 600, 600]
    assert pending_poll_interval(30, 7, exponential=False, max_wait=600) == 30
    assert pending_poll_interval(30, 10_000, exponential=True, max_wait=None) > 0  # no overflow


def test_a_two_hour_job_costs_at_most_twenty_calls_and_is_seen_within_max_wait() -> None:
    fixed = simulate(7200, 30, exponential=False, max_wait=None)
    backoff = simulate(7200, 30, exponential=True, max_wait=600)
    assert fixed.status_calls == 241
    assert backoff.status_calls <= 20
    assert backoff.seen_after_end <= 600


def test_the_sensor_hands_its_backoff_settings_to_the_trigger(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "61", ["IN PROGRESS"])
    sensor = ZohoCRMBulkWriteJobSensor(
        task_id="wait",
        job_id="61",
        deferrable=True,
        poll_interval=30,
        exponential_backoff=True,
        max_wait=timedelta(minutes=10),
        timeout=3600,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})  # type: ignore[arg-type]
    trigger = rebuild(deferred.value.trigger)
    assert isinstance(trigger, ZohoJobTrigger)
    assert (trigger.exponential_backoff, trigger.max_wait) == (True, 600.0)


def test_without_backoff_the_stored_form_is_unchanged() -> None:
    trigger = ZohoJobTrigger(kind="crm_bulk_write", coordinates={"job_id": "61"}, end_time=time.time() + 60)
    assert "exponential_backoff" not in trigger.serialize()[1]


async def test_a_backing_off_trigger_polls_far_less(zoho_conn: ZohoEmulator) -> None:
    """Over the same 3 s, polling every 0.02 s would make about 150 calls; doubling up to 0.32 s, about 14.

    Only an upper bound is checked: a busy machine can only make fewer calls, never more.
    """
    zoho_conn.add_job("crm_bulk_write", "62", ["IN PROGRESS"])
    trigger = ZohoJobTrigger(
        kind="crm_bulk_write",
        coordinates={"job_id": "62"},
        end_time=time.time() + 3,
        poll_interval=0.02,
        exponential_backoff=True,
        max_wait=0.32,
    )
    event = await first_event(trigger, limit=30)
    assert event["status"] == "timeout"
    assert 1 <= zoho_conn.status_requests("62") <= 25


def test_the_trigger_knows_the_state_the_sensor_logged(zoho_conn: ZohoEmulator) -> None:
    """So the first pending answer in the triggerer is not logged a second time: one log line per state, not per poll."""
    zoho_conn.add_job("crm_bulk_write", "63", ["IN PROGRESS"])
    sensor = ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="63", deferrable=True, timeout=3600)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})  # type: ignore[arg-type]
    trigger = rebuild(deferred.value.trigger)
    assert isinstance(trigger, ZohoJobTrigger)
    assert trigger.logged_state == "IN PROGRESS"
