"""The trigger alone: serialization, restart, deadlines, and one token for many triggers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import pytest

from airflow_provider_zoho.hooks.token_cache import TOKEN_CACHE
from airflow_provider_zoho.hooks.zoho_async import close_shared_session
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.helpers import first_event, rebuild


def make_trigger(job_id: str = "77", *, seconds: float = 20.0, **kwargs: object) -> ZohoJobTrigger:
    return ZohoJobTrigger(
        kind="crm_bulk_write",
        coordinates={"job_id": job_id},
        end_time=time.time() + seconds,
        poll_interval=0.05,
        **kwargs,  # type: ignore[arg-type]
    )


def test_serialized_form_is_json_with_coordinates_and_no_secret(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["COMPLETED"])
    classpath, kwargs = make_trigger().serialize()
    assert classpath == "airflow_provider_zoho.triggers.job.ZohoJobTrigger"
    assert set(kwargs) == {"kind", "coordinates", "end_time", "zoho_conn_id", "poll_interval", "max_backoff"}
    asyncio.run(first_event(make_trigger()))  # a token now exists, and must still not be in the form
    stored = json.dumps(kwargs)
    client = ZohoEmulator.DEFAULT_CLIENT
    for secret in (client.client_secret, client.refresh_token, *zoho_conn.issued_tokens):
        assert secret not in stored
        assert secret not in repr(make_trigger())


def test_rebuilt_trigger_keeps_the_absolute_deadline() -> None:
    trigger = make_trigger(seconds=100)
    rebuilt = rebuild(trigger)
    assert isinstance(rebuilt, ZohoJobTrigger)
    assert rebuilt.end_time == trigger.end_time
    assert rebuilt.serialize() == trigger.serialize()


async def test_success_event_carries_the_summary(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["IN PROGRESS", "COMPLETED"], counts={"added_count": 5, "total_count": 5})
    event = await first_event(make_trigger())
    assert event["status"] == "success"
    assert event["summary"]["counts"]["added"] == 5
    assert zoho_conn.status_requests("77") == 2


async def test_resumes_after_a_triggerer_restart(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["ADDED", "IN PROGRESS", "IN PROGRESS", "IN PROGRESS", "COMPLETED"])
    trigger = make_trigger()
    running = asyncio.create_task(first_event(trigger))
    while zoho_conn.status_requests("77") < 2:  # noqa: ASYNC110 - the counter lives in the emulator thread
        await asyncio.sleep(0.01)
    running.cancel()  # the triggerer dies mid-job
    with pytest.raises(asyncio.CancelledError):
        await running
    polls_before = zoho_conn.status_requests("77")
    TOKEN_CACHE.clear()  # a new triggerer process has no token yet
    event = await first_event(rebuild(trigger))
    assert event["status"] == "success"
    assert zoho_conn.status_requests("77") == 5  # the job's lifecycle, polled once per step: no duplicates
    assert polls_before < 5
    assert zoho_conn.token_requests() == 2


async def test_past_deadline_polls_once_then_times_out(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", ["IN PROGRESS"])
    event = await first_event(make_trigger(seconds=-1))
    assert event["status"] == "timeout"
    assert "last state IN PROGRESS" in event["message"]
    assert zoho_conn.status_requests("77") == 1


async def test_backoff_never_passes_the_deadline(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "77", [Fault("rate_limited", retry_after=3600)])
    started = time.monotonic()
    # 3 s leave a loaded machine time for the first poll (token and status) to be answered before the
    # deadline; the hour Zoho asked for would still be far past it.
    event = await first_event(make_trigger(seconds=3))
    assert event["status"] == "timeout"
    assert event["error"]["code"] == "TOO_MANY_REQUESTS"
    assert time.monotonic() - started < 15


async def test_many_triggers_share_one_token(zoho_conn: ZohoEmulator) -> None:
    for number in range(40):
        zoho_conn.add_job("crm_bulk_write", str(100 + number), ["ADDED", "IN PROGRESS", "COMPLETED"])
    triggers = [rebuild(make_trigger(str(100 + number))) for number in range(40)]

    async def run(trigger: ZohoJobTrigger) -> str:
        async for event in trigger.run():
            return str(event.payload["status"])
        return "none"

    statuses = await asyncio.gather(*(run(trigger) for trigger in triggers))  # type: ignore[arg-type]
    await close_shared_session()
    assert statuses == ["success"] * 40
    assert zoho_conn.token_requests() == 1
    assert zoho_conn.status_requests() == 120


async def test_missing_connection_is_an_error_event(zoho_conn: ZohoEmulator) -> None:
    event = await first_event(make_trigger(zoho_conn_id="no_such_connection"))
    assert event["status"] == "error"
    assert "no_such_connection" in event["message"]


@pytest.mark.parametrize(
    ("argument", "value"), [("poll_interval", 0), ("poll_interval", float("nan")), ("max_backoff", -1)]
)
def test_trigger_rejects_intervals_that_would_busy_loop(argument: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{argument} must be a positive number of seconds"):
        ZohoJobTrigger(kind="crm_bulk_write", coordinates={"job_id": "1"}, end_time=time.time(), **{argument: value})


def test_a_row_from_a_newer_version_runs_ignoring_the_arguments_it_does_not_know(
    zoho_conn: ZohoEmulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """A downgrade or a mixed fleet: a triggerer meets a row with keys a later release added."""
    zoho_conn.add_job("crm_bulk_write", "77", ["IN PROGRESS", "COMPLETED"])
    _, kwargs = make_trigger().serialize()
    stored = json.loads(json.dumps({**kwargs, "max_polls": 9, "region_hint": "eu"}))
    caplog.set_level(logging.WARNING)
    trigger = ZohoJobTrigger(**stored)
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "success"
    assert zoho_conn.status_requests("77") == 2
    out, err = capfd.readouterr()
    # Said once: counted where this Airflow's logging puts it (stdlib capture on 2.11, stdout on 3).
    in_capture = [line for line in caplog.text.splitlines() if "max_polls" in line]
    warnings = in_capture or [line for line in (out + err).splitlines() if "max_polls" in line]
    assert len(warnings) == 1, warnings
    assert "region_hint" in warnings[0]
    assert trigger.serialize() == ("airflow_provider_zoho.triggers.job.ZohoJobTrigger", kwargs)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("crm_bulk_delete", "Unknown Zoho job kind 'crm_bulk_delete'"),
        ("airflow_provider_zoho.jobs:JobKind", "names a class, not a JobKind"),
    ],
)
def test_a_bad_kind_fails_when_the_trigger_is_built(kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ZohoJobTrigger(kind=kind, coordinates={"job_id": "1"}, end_time=time.time())


def test_the_trigger_checks_its_coordinates_too() -> None:
    """Built by hand, not by a sensor: a '..' link name must not reach a URL here either."""
    coordinates = {"account_owner_name": "..", "app_link_name": "a", "form_link_name": "f", "job_id": "1"}
    with pytest.raises(ValueError, match="account_owner_name must be a plain Zoho link name"):
        ZohoJobTrigger(kind="creator_bulk_insert", coordinates=coordinates, end_time=time.time())


def test_description_and_repr_name_the_job_by_its_id_coordinate() -> None:
    trigger = make_trigger("4242")
    assert trigger.description == "Zoho CRM bulk write job 4242"
    assert repr(trigger) == "ZohoJobTrigger(kind='crm_bulk_write', job_id='4242', zoho_conn_id='zoho_default')"
