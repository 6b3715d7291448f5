"""``end_from_trigger``: the trigger ends the task itself instead of resuming it on a worker."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.compat import (
    AIRFLOW_V_3_0_PLUS,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)
from airflow_provider_zoho.hooks.zoho_async import close_shared_session
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.helpers import rebuild


def make_trigger(*, seconds: float = 20.0, **kwargs: Any) -> ZohoJobTrigger:
    return ZohoJobTrigger(
        kind="crm_bulk_write",
        coordinates={"job_id": "77"},
        end_time=time.time() + seconds,
        poll_interval=0.05,
        **kwargs,
    )


async def only_event(trigger: ZohoJobTrigger, task_instance: Any = None) -> TriggerEvent:
    """Run the trigger as the triggerer would (rebuilt from its stored form) and return its one event."""
    rebuilt = rebuild(trigger)
    if task_instance is not None:
        rebuilt.task_instance = task_instance  # what the triggerer sets before run()
    try:
        async with asyncio.timeout(30):
            events = [event async for event in rebuilt.run()]
    finally:
        await close_shared_session()
    assert len(events) == 1
    return events[0]


def make_sensor(**kwargs: Any) -> ZohoCRMBulkWriteJobSensor:
    options: dict[str, Any] = {"poll_interval": 0.05, "timeout": 20, "deferrable": True, **kwargs}
    return ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="77", **options)


async def test_success_ends_the_task_with_the_summary_as_xcom(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["IN PROGRESS", "COMPLETED"], counts={"added_count": 5, "total_count": 5})
    event = await only_event(make_trigger(end_from_trigger=True))
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms is not None
    summary = event.xcoms["return_value"]
    assert isinstance(summary, dict)
    assert summary["job_id"] == "77"
    assert summary["state"] == "COMPLETED"
    counts = summary["counts"]
    assert isinstance(counts, dict)
    assert counts["added"] == 5


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2 stores the event's XComs as they are")
async def test_in_a_triggerer_airflow_3_gets_the_xcom_pushed_like_a_worker_would(
    zoho_conn: ZohoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow 3 double-encodes a TaskSuccessEvent's XComs, so the trigger pushes the summary itself."""
    from airflow.sdk.execution_time.xcom import XCom

    pushed: list[tuple[str, Any, dict[str, Any]]] = []

    async def aset(key: str, value: Any, **where: Any) -> None:
        pushed.append((key, value, where))

    monkeypatch.setattr(XCom, "aset", aset)
    zoho_conn.add_job("crm_bulk_write", "77", ["COMPLETED"])
    ti = SimpleNamespace(dag_id="d", task_id="wait", run_id="r", map_index=3)
    event = await only_event(make_trigger(end_from_trigger=True), task_instance=ti)
    assert isinstance(event, TaskSuccessEvent)
    assert not event.xcoms
    [(key, summary, where)] = pushed
    assert key == "return_value"
    assert summary["job_id"] == "77"
    assert where == {"dag_id": "d", "task_id": "wait", "run_id": "r", "map_index": 3}


async def test_without_xcom_push_success_carries_no_xcom(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["COMPLETED"])
    event = await only_event(make_trigger(end_from_trigger=True, do_xcom_push=False))
    assert isinstance(event, TaskSuccessEvent)
    assert not event.xcoms


async def test_a_failed_job_fails_the_task(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["IN PROGRESS", "FAILED"])
    event = await only_event(make_trigger(end_from_trigger=True))
    assert isinstance(event, TaskFailedEvent)


async def test_soft_fail_skips_instead(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["FAILED"])
    event = await only_event(make_trigger(end_from_trigger=True, soft_fail=True))
    assert isinstance(event, TaskSkippedEvent)


async def test_a_timeout_fails_the_task(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["IN PROGRESS"])
    event = await only_event(make_trigger(seconds=-1, end_from_trigger=True))
    assert isinstance(event, TaskFailedEvent)


async def test_a_permanent_zoho_error_fails_the_task(zoho_conn: ZohoEmulator) -> None:
    event = await only_event(make_trigger(end_from_trigger=True))  # no such job: RESOURCE_NOT_FOUND
    assert isinstance(event, TaskFailedEvent)


async def test_off_by_default_the_task_resumes_on_a_worker(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["COMPLETED"])
    event = await only_event(make_trigger())
    assert not isinstance(event, TaskSuccessEvent)
    assert event.payload["status"] == "success"


def test_stored_form_keeps_the_option_and_is_unchanged_without_it() -> None:
    _, default = make_trigger().serialize()
    assert "end_from_trigger" not in default
    _, kwargs = make_trigger(end_from_trigger=True, soft_fail=True).serialize()
    assert kwargs["end_from_trigger"] is True
    rebuilt = rebuild(make_trigger(end_from_trigger=True, soft_fail=True, do_xcom_push=False))
    assert isinstance(rebuilt, ZohoJobTrigger)
    assert (rebuilt.end_from_trigger, rebuilt.soft_fail, rebuilt.do_xcom_push) == (True, True, False)


def test_the_sensor_hands_the_option_to_its_trigger(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["IN PROGRESS"])
    sensor = make_sensor(end_from_trigger=True, soft_fail=True)
    assert sensor.end_from_trigger is True  # Airflow reads this attribute to warn about listeners
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, ZohoJobTrigger)
    assert (trigger.end_from_trigger, trigger.soft_fail, trigger.do_xcom_push) == (True, True, True)


def test_unsupported_airflow_is_refused_at_parse_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("airflow_provider_zoho.sensors.job.SUPPORTS_END_FROM_TRIGGER", False)
    monkeypatch.setattr("airflow_provider_zoho.triggers.job.SUPPORTS_END_FROM_TRIGGER", False)
    with pytest.raises(ValueError, match="end_from_trigger"):
        make_sensor(end_from_trigger=True)
    with pytest.raises(ValueError, match="end_from_trigger"):
        make_trigger(end_from_trigger=True)
    assert make_sensor().end_from_trigger is False  # the default still parses
