"""A trigger run in a loop that ends (``airflow dags test``, the demo, a script) leaves no unclosed session.

aiohttp reports a session or connector still open when it is garbage-collected as an asyncio error:
``Unclosed client session`` and ``Unclosed connector``, which users took for a bug.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

import pytest

from airflow_provider_zoho.hooks import zoho_async
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger

LOOPS_USED: list[asyncio.AbstractEventLoop] = []


def run_like_dags_test(*triggers: ZohoJobTrigger) -> list[dict[str, Any]]:
    """Each trigger to its first event in a fresh loop, with no cleanup by the caller, as Airflow does."""

    async def first(trigger: ZohoJobTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    async def all_of_them() -> list[dict[str, Any]]:
        LOOPS_USED.append(asyncio.get_running_loop())
        return list(await asyncio.gather(*(first(trigger) for trigger in triggers)))

    return asyncio.run(all_of_them())


def make_trigger(job_id: str) -> ZohoJobTrigger:
    return ZohoJobTrigger(
        kind="crm_bulk_write", coordinates={"job_id": job_id}, end_time=time.time() + 30, poll_interval=0.01
    )


def test_no_unclosed_session_after_the_loop_ends(
    zoho_conn: ZohoEmulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    zoho_conn.add_job("crm_bulk_write", "1", ["IN PROGRESS", "COMPLETED"])
    zoho_conn.add_job("crm_bulk_write", "2", ["IN PROGRESS", "IN PROGRESS", "IN PROGRESS", "COMPLETED"])
    caplog.set_level(logging.ERROR, logger="asyncio")
    events = run_like_dags_test(make_trigger("1"), make_trigger("2"))
    gc.collect()  # aiohttp reports an unclosed session when it is collected
    assert [event["status"] for event in events] == ["success", "success"]
    assert zoho_conn.status_requests() == 6  # the session served both triggers until the last one ended
    assert "Unclosed" not in caplog.text + "".join(capfd.readouterr())
    # Nothing kept for the loop that is gone (other tests' loops may still hold theirs: not this test's business).
    assert LOOPS_USED[-1] not in zoho_async._sessions


def test_the_session_stays_open_while_another_trigger_polls(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "1", ["IN PROGRESS", "COMPLETED"])
    zoho_conn.add_job("crm_bulk_write", "2", ["IN PROGRESS"] * 5 + ["COMPLETED"])
    zoho_conn.reset_counters()
    run_like_dags_test(make_trigger("1"), make_trigger("2"))
    # One pooled connection carried both triggers' polls: the first trigger's end did not close the
    # session under the second (which would have opened new sockets).
    assert zoho_conn.status_requests() == 8
    assert zoho_conn.max_concurrent_connections <= 2
