"""Wait for a Zoho Bigin bulk write job that enriches contacts; if it fails, skip instead of failing.

``soft_fail=True`` suits a job the rest of the pipeline can do without: a failed job, an error Zoho will
not recover from, or the timeout marks the sensor (and so ``report``) *skipped* rather than failed.
As in the CRM example, ``submit_job`` stands in for the call that creates the job and passes the id on
through XCom; trigger with ``{"job_id": "<your job id>"}`` to watch a real job.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.sensors import ZohoBiginBulkWriteJobSensor

POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


@dag(
    dag_id="example_zoho_bigin_bulk_write",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"job_id": Param("222222000000773001", type="string", pattern=r"^\d+$")},
    tags=["example", "zoho", "bigin"],
)
def example_zoho_bigin_bulk_write() -> None:
    @task
    def submit_job(**context: Any) -> str:
        return str(context["params"]["job_id"])

    wait_for_job = ZohoBiginBulkWriteJobSensor(
        task_id="wait_for_job",
        job_id=submit_job(),
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1),
        soft_fail=True,  # an optional enrichment: skip downstream work rather than fail the run
    )

    @task
    def report(summary: dict[str, Any]) -> dict[str, Any]:
        counts = summary["counts"]
        print(f"Bigin bulk write {summary['job_id']} ended {summary['state']}: {counts}")
        return {"job_id": summary["job_id"], "state": summary["state"], **counts}

    report(wait_for_job.output)


example_zoho_bigin_bulk_write()
