"""Wait for a Zoho CRM bulk write job, then report what it wrote.

In production, ``submit_job`` would upload the CSV (Zoho's bulk upload API) and call Create Bulk Write Job,
returning the job id it got. Here it passes on the ``job_id`` param instead, so the DAG runs as is against
the packaged emulator (``make demo``); trigger it with ``{"job_id": "<your job id>"}`` as the run's conf to
watch a real job. The sensor receives the id through XCom.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor

# Zoho's bulk jobs take minutes: poll every 30 s (the emulator demo and tests poll faster).
POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


@dag(
    dag_id="example_zoho_crm_bulk_write",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"job_id": Param("111111000000541001", type="string", pattern=r"^\d+$")},
    tags=["example", "zoho", "crm"],
)
def example_zoho_crm_bulk_write() -> None:
    @task
    def submit_job(**context: Any) -> str:
        return str(context["params"]["job_id"])

    wait_for_job = ZohoCRMBulkWriteJobSensor(
        task_id="wait_for_job",
        job_id=submit_job(),  # pulled from the upstream task's XCom when the sensor runs
        deferrable=True,  # wait in the triggerer, not in a worker slot
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=2),
    )

    @task
    def report(summary: dict[str, Any]) -> dict[str, Any]:
        """The sensor's XCom: {"job_id", "kind", "state", "counts", "response"}."""
        counts = summary["counts"]
        print(f"CRM bulk write {summary['job_id']} ended {summary['state']}: {counts}")
        return {"job_id": summary["job_id"], "state": summary["state"], **counts}

    report(wait_for_job.output)


example_zoho_crm_bulk_write()
