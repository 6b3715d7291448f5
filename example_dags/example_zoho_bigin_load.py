"""Load a CSV into Zoho Bigin with ``ZohoBiginBulkWriteOperator``: upload, create, wait, and report failed rows.

``file`` is a local path or any ObjectStoragePath URI (``s3://bucket/contacts.csv``); pass another one as
the run's conf ``{"file": "..."}``. The task fails when more than ``max_failed_records`` records did not
land; every failed row goes to ``failed_records_path`` and the first 100 to the summary.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.operators import ZohoBiginBulkWriteOperator

POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


@dag(
    dag_id="example_zoho_bigin_load",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"file": Param("/data/contacts.csv", type="string")},
    tags=["example", "zoho", "bigin"],
)
def example_zoho_bigin_load() -> None:
    load = ZohoBiginBulkWriteOperator(
        task_id="load_contacts",
        module="Contacts",
        file="{{ params.file }}",
        operation="upsert",
        find_by="Email",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=2).total_seconds(),
        max_failed_records=10,
        failed_records_path="{{ params.file }}.failed.csv",
        retries=2,  # a retry reattaches to the job (Airflow 3.3+): no second upload
    )

    @task
    def report(summary: dict[str, Any]) -> dict[str, int]:
        print(f"Jobs {summary['job_ids']} {summary['state']}: {summary['counts']}")
        for row in summary["failed_records"][:5]:
            print(f"  row {row['row']}: {row['status']} {row['errors']}")
        return dict(summary["counts"])

    report(load.output)


example_zoho_bigin_load()
