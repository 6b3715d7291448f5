"""Wait for a Zoho Creator bulk insert job; alert when it fails.

``start_job`` stands in for the call that creates the bulk insert job (it passes on the ``job_id`` param);
the sensor pulls the id from its XCom with a Jinja template. When the job ends Failed, Aborted or Expired
the sensor fails at once (no retry can change the outcome), ``report`` is not run, and ``alert`` runs.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.sensors import ZohoCreatorBulkInsertJobSensor

POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


@dag(
    dag_id="example_zoho_creator_bulk_insert",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={
        "account_owner_name": Param("jason18", type="string"),
        "app_link_name": Param("zylker-store", type="string"),
        "form_link_name": Param("Orders", type="string"),
        "job_id": Param("1345000000123456", type="string", pattern=r"^\d+$"),
    },
    tags=["example", "zoho", "creator"],
)
def example_zoho_creator_bulk_insert() -> None:
    @task
    def start_job(**context: Any) -> str:
        return str(context["params"]["job_id"])

    wait_for_job = ZohoCreatorBulkInsertJobSensor(
        task_id="wait_for_job",
        account_owner_name="{{ params.account_owner_name }}",
        app_link_name="{{ params.app_link_name }}",
        form_link_name="{{ params.form_link_name }}",
        job_id="{{ ti.xcom_pull(task_ids='start_job') }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=3),
    )

    @task
    def report(summary: dict[str, Any]) -> dict[str, Any]:
        counts = summary["counts"]
        print(f"Creator bulk insert {summary['job_id']} ended {summary['state']}: {counts}")
        return {"job_id": summary["job_id"], "state": summary["state"], **counts}

    @task(trigger_rule="one_failed")
    def alert(**context: Any) -> str:
        message = f"Creator bulk insert {context['params']['job_id']} did not complete: see wait_for_job's log"
        print(message)  # in production: page someone, open a ticket...
        return message

    start_job() >> wait_for_job
    report(wait_for_job.output)
    wait_for_job >> alert()


example_zoho_creator_bulk_insert()
