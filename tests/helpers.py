"""Running sensors and triggers the way Airflow does, without a scheduler (the e2e tests do that)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.providers.common.compat.module_loading import import_string
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.compat import BaseTrigger
from airflow_provider_zoho.hooks.zoho_async import close_shared_session
from airflow_provider_zoho.sensors import (
    ZohoAnalyticsImportJobSensor,
    ZohoBiginBulkWriteJobSensor,
    ZohoCreatorBulkInsertJobSensor,
    ZohoCRMBulkWriteJobSensor,
    ZohoJobSensor,
)

SENSORS: dict[str, type[ZohoJobSensor]] = {
    "analytics_import": ZohoAnalyticsImportJobSensor,
    "crm_bulk_write": ZohoCRMBulkWriteJobSensor,
    "bigin_bulk_write": ZohoBiginBulkWriteJobSensor,
    "creator_bulk_insert": ZohoCreatorBulkInsertJobSensor,
}
KINDS = sorted(SENSORS)
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
JOB_COORDINATES: dict[str, dict[str, str]] = {
    "analytics_import": {"workspace_id": "35130000001055707", "org_id": "55522777"},
    "crm_bulk_write": {},
    "bigin_bulk_write": {},
    "creator_bulk_insert": {"account_owner_name": "jason18", "app_link_name": "zylker-store", "form_link_name": "Emp"},
}
FINAL_STATES: dict[str, tuple[str, str]] = {  # kind -> (pending state, succeeded state)
    "analytics_import": ("1002", "1004"),
    "crm_bulk_write": ("IN PROGRESS", "COMPLETED"),
    "bigin_bulk_write": ("IN PROGRESS", "COMPLETED"),
    "creator_bulk_insert": ("In-progress", "Completed"),
}


def rebuild(trigger: BaseTrigger) -> BaseTrigger:
    """What the triggerer does: store the serialized form (as JSON in the database), then rebuild it."""
    classpath, kwargs = trigger.serialize()
    stored = json.loads(json.dumps(kwargs))
    return import_string(classpath)(**stored)  # type: ignore[no-any-return]


async def first_event(trigger: BaseTrigger, limit: float = 30.0) -> dict[str, Any]:
    try:
        async with asyncio.timeout(limit):
            async for event in trigger.run():
                return dict(event.payload)
    finally:
        await close_shared_session()
    raise AssertionError("the trigger ended without an event")


def run_sensor(sensor: ZohoJobSensor) -> Any:
    """Execute a sensor; if it defers, run its trigger through a serialize/rebuild cycle and resume it."""
    try:
        return sensor.execute(context={})  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        event = asyncio.run(first_event(rebuild(deferred.trigger)))
        return getattr(sensor, deferred.method_name)(context={}, event=event)
