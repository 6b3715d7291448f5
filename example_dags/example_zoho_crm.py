"""Load a CSV into Zoho CRM with ``ZohoCRMBulkWriteOperator``, and fail the run if too many records did not land.

One task does what a CRM load takes: it checks the file, uploads it (zipped, one job per 25,000 records),
creates the bulk write job, waits for it in the triggerer, downloads Zoho's result and returns a summary with
the counts and the rows that failed. A few rejected records are normal (a duplicate, an invalid email):
``max_failed_records`` says how many the run tolerates before the task fails, so a partial failure never
shows green. A retry reattaches to the job the failed try created (Airflow 3.3+) instead of loading again.

``file`` is a local path or any ObjectStoragePath URI (``s3://bucket/contacts.csv``): trigger the DAG with
``{"file": "..."}`` as the run's conf. Its header holds the fields' API names (``Last_Name,Email,...``).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.operators import ZohoCRMBulkWriteOperator

# Zoho's bulk jobs take minutes: poll every 30 s (the emulator demo and tests poll faster).
POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


# [START example_zoho_crm_load]
@dag(
    dag_id="example_zoho_crm_load",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"file": Param("/data/contacts.csv", type="string", minLength=1)},
    tags=["example", "zoho", "crm"],
)
def example_zoho_crm_load() -> None:
    # [START howto_operator_zoho_crm_bulk_write]
    load = ZohoCRMBulkWriteOperator(
        task_id="load_contacts",
        module="Contacts",
        file="{{ params.file }}",
        operation="upsert",  # insert new contacts, update those whose Email exists
        find_by="Email",
        deferrable=True,  # wait in the triggerer, not in a worker slot
        poll_interval=POLL_INTERVAL,
        timeout=2 * 3600,  # seconds from the task's start, deferrals included
        max_failed_records=10,  # more records skipped or unprocessed than this fails the task
        failed_records_path="{{ params.file }}.failed.csv",  # every failed row, for a person to fix
        retries=2,  # a retry reattaches to the job (Airflow 3.3+): no second upload
    )
    # [END howto_operator_zoho_crm_bulk_write]

    @task
    def report(summary: dict[str, Any]) -> dict[str, int]:
        """The operator's XCom: {"kind", "job_ids", "state", "counts", "failed_records", "jobs"}."""
        print(f"CRM jobs {summary['job_ids']} {summary['state']}: {summary['counts']}")
        for row in summary["failed_records"][:5]:
            print(f"  line {row['row']}: {row['status']} {row['errors']}")
        return dict(summary["counts"])

    report(load.output)


example_zoho_crm_load()
# [END example_zoho_crm_load]
