"""Insert a CSV's records into a Zoho Creator form with ``ZohoCreatorBulkInsertOperator``; alert when it fails.

One task creates the bulk insert job, uploads the file, starts the job, waits for it in the triggerer and,
when records failed, downloads Zoho's failure file into the summary. More failed (or unprocessed) records
than ``max_failed_records``, a failed job, or the timeout fail the task; then ``report`` does not run and
``alert`` (``trigger_rule="one_failed"``) does. Creator can abort a job: when the task is killed or times
out, the operator aborts it, which frees the form (Creator runs one bulk insert per form at a time).

The CSV's header holds the form's field link names (``Name.first_name`` for a composite field).
``file`` is a local path or any ObjectStoragePath URI: trigger the DAG with ``{"file": "..."}``.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.operators import ZohoCreatorBulkInsertOperator

POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


# [START example_zoho_creator_load]
@dag(
    dag_id="example_zoho_creator_load",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"file": Param("/data/contacts.csv", type="string", minLength=1)},
    tags=["example", "zoho", "creator"],
)
def example_zoho_creator_load() -> None:
    # [START howto_operator_zoho_creator_bulk_insert]
    load = ZohoCreatorBulkInsertOperator(
        task_id="load_contacts",
        account_owner_name="jason18",
        app_link_name="zylker-store",
        form_link_name="Contacts",
        file="{{ params.file }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=3600,  # then the job is aborted and the task fails
        max_failed_records=5,  # failed + unprocessed records above this fail the task
        retries=1,  # a retry reattaches to the job (Airflow 3.3+): no second insert
    )
    # [END howto_operator_zoho_creator_bulk_insert]

    @task
    def report(summary: dict[str, Any]) -> dict[str, int]:
        """The operator's XCom: {"kind", "job_ids", "state", "counts", "failed_records", "jobs"}."""
        print(f"Creator bulk insert {summary['job_ids']} {summary['state']}: {summary['counts']}")
        for record in summary["failed_records"][:5]:  # Creator's failure file has no input line number
            print(f"  failed: {record['errors']} {record}")
        return dict(summary["counts"])

    @task(trigger_rule="one_failed")
    def alert(**context: Any) -> str:
        message = f"The Creator load of {context['params']['file']} did not complete: see load_contacts' log"
        print(message)  # in production: page someone, open a ticket...
        return message

    report(load.output)
    load >> alert()


example_zoho_creator_load()
# [END example_zoho_creator_load]
