"""Wait for a Zoho Analytics import job started outside Airflow, then report the imported row counts.

The workspace and job ids come from the run's conf (``{"workspace_id": "...", "job_id": "..."}``), which
overrides the params' defaults; the defaults match the packaged emulator's demo (``make demo``). The org id
(``ZANALYTICS-ORGID``) comes from the connection's ``analytics_org_id`` unless ``org_id=`` is given.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.sensors import ZohoAnalyticsImportJobSensor

POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


@dag(
    dag_id="example_zoho_analytics_import",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={
        "workspace_id": Param("1767024000003145002", type="string", pattern=r"^\d+$"),
        "job_id": Param("1767024000003153087", type="string", pattern=r"^\d+$"),
    },
    tags=["example", "zoho", "analytics"],
)
def example_zoho_analytics_import() -> None:
    wait_for_job = ZohoAnalyticsImportJobSensor(
        task_id="wait_for_job",
        workspace_id="{{ params.workspace_id }}",
        job_id="{{ params.job_id }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        # Zoho keeps a finished job's summary for one hour: look well within it.
        timeout=timedelta(minutes=50),
    )

    @task
    def report(summary: dict[str, Any]) -> dict[str, Any]:
        counts = summary["counts"]
        print(f"Analytics import {summary['job_id']} ended {summary['state']}: {counts}")
        return {"job_id": summary["job_id"], "state": summary["state"], **counts}

    report(wait_for_job.output)


example_zoho_analytics_import()
