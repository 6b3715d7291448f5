"""Sensors that end their task from the triggerer (``end_from_trigger=True``), for the end-to-end test.

``wait_ok``'s job completes: the trigger must end the task as a success and push the summary, which
``check`` pulls and must get back as a dict. ``wait_fail``'s job fails: the trigger must fail the task.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor

SENSOR_ARGS: dict[str, Any] = {
    "deferrable": True,
    "end_from_trigger": True,
    "poll_interval": float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "2")),  # set by tests/e2e/conftest.py
    "timeout": timedelta(minutes=5),
}


@dag(dag_id="e2e_end_from_trigger", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def e2e_end_from_trigger() -> None:
    wait_ok = ZohoCRMBulkWriteJobSensor(task_id="wait_ok", job_id="{{ dag_run.conf['ok_job_id'] }}", **SENSOR_ARGS)
    ZohoCRMBulkWriteJobSensor(task_id="wait_fail", job_id="{{ dag_run.conf['failing_job_id'] }}", **SENSOR_ARGS)

    @task
    def check(summary: Any) -> dict[str, Any]:
        if not isinstance(summary, dict):  # Airflow 3.3.2 double-encodes a trigger event's XComs
            raise TypeError(f"pulled a {type(summary).__name__}, not the summary dict: {summary!r}")
        return {"state": summary["state"], **summary["counts"]}

    check(wait_ok.output)


e2e_end_from_trigger()
