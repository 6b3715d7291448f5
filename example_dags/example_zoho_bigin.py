"""Start a Zoho Bigin load with the operator and wait with the sensor; if the job fails, skip instead of failing.

``ZohoBiginBulkWriteOperator(wait_for_completion=False)`` uploads the CSV and creates the bulk write job(s),
then returns ``{"job_ids": [...], ...}``. ``ZohoBiginBulkWriteJobSensor`` waits for each of them (one mapped
sensor per job: a file over 25,000 records makes several), deferred to the triggerer.
Splitting the start from the wait lets the sensor use ``soft_fail=True``, which suits a load the rest of
the pipeline can do without: a failed job, an error Zoho will not recover from, or the timeout marks the
sensor (and so ``report``) *skipped* rather than failed.

The same sensor waits for a job created outside Airflow: give it ``job_id="{{ params.job_id }}"`` instead.
``file`` is a local path or any ObjectStoragePath URI; trigger the DAG with ``{"file": "..."}``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.operators import ZohoBiginBulkWriteOperator
from airflow_provider_zoho.sensors import ZohoBiginBulkWriteJobSensor

POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


# [START example_zoho_bigin_load]
@dag(
    dag_id="example_zoho_bigin_load",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"file": Param("/data/contacts.csv", type="string", minLength=1)},
    tags=["example", "zoho", "bigin"],
)
def example_zoho_bigin_load() -> None:
    # [START howto_operator_zoho_bigin_bulk_write]
    load = ZohoBiginBulkWriteOperator(
        task_id="load_contacts",
        module="Contacts",
        file="{{ params.file }}",
        operation="upsert",
        find_by="Email",
        wait_for_completion=False,  # return once the jobs exist; the sensor below waits
    )
    # [END howto_operator_zoho_bigin_bulk_write]

    @task
    def job_ids(started: dict[str, Any]) -> list[str]:
        """The ids from the operator's return value (Airflow maps only over a ``return_value``)."""
        return list(started["job_ids"])

    # [START howto_sensor_zoho_bigin_bulk_write]
    wait_for_job = ZohoBiginBulkWriteJobSensor.partial(
        task_id="wait_for_job",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=1),
        max_failed_records=10,
        soft_fail=True,  # an optional enrichment: skip downstream work rather than fail the run
    ).expand(job_id=job_ids(load.output))
    # [END howto_sensor_zoho_bigin_bulk_write]

    @task
    def report(summaries: list[dict[str, Any]]) -> dict[str, int]:
        """Each mapped sensor's XCom: {"job_id", "kind", "state", "counts", "response"}, summed."""
        totals: dict[str, int] = {}
        for summary in summaries:
            print(f"Bigin bulk write {summary['job_id']} ended {summary['state']}: {summary['counts']}")
            for name, value in summary["counts"].items():
                totals[name] = totals.get(name, 0) + value
        return totals

    report(wait_for_job.output)


example_zoho_bigin_load()
# [END example_zoho_bigin_load]
