"""Import a CSV into a Zoho Analytics table with ``ZohoAnalyticsImportOperator``, skipping rows that do not fit.

One task uploads the file, creates the import job, waits for it in the triggerer and returns a summary.
``on_error="SKIPROW"`` lets the import go on past a row that does not fit the table (a text in a number
column...): Zoho still ends the job "completed" (1004), so the operator checks the counts, and more rows
left out than ``max_failed_records`` fails the task. Analytics gives no per-row result: the summary keeps
Zoho's ``importErrors`` text instead, which ``report`` prints.

``import_type="UPDATEADD"`` updates the rows whose ``Email`` matches and appends the others;
``"TRUNCATEADD"`` would delete every row of the table first. ``table_name="..."`` instead of ``view_id``
creates a new table. The org id (``ZANALYTICS-ORGID``) comes from the connection's ``analytics_org_id``.
``file`` is a local path or any ObjectStoragePath URI: trigger the DAG with ``{"file": "..."}``.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.operators import ZohoAnalyticsImportOperator

# Zoho suggests polling an import about every 10 s (the emulator demo and tests poll faster).
POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "10"))


# [START example_zoho_analytics_load]
@dag(
    dag_id="example_zoho_analytics_load",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"file": Param("/data/contacts.csv", type="string", minLength=1)},
    tags=["example", "zoho", "analytics"],
)
def example_zoho_analytics_load() -> None:
    # [START howto_operator_zoho_analytics_import]
    load = ZohoAnalyticsImportOperator(
        task_id="load_contacts",
        workspace_id="1767024000003145002",
        view_id="1767024000003145010",  # the Contacts table
        file="{{ params.file }}",  # fileType from the extension
        import_type="UPDATEADD",
        matching_columns=["Email"],
        on_error="SKIPROW",  # a row that does not fit is left out, not the whole import
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=50 * 60,  # Zoho keeps an import's summary for one hour: look well within it
        max_failed_records=10,  # totalRowCount - successRowCount above this fails the task
        retries=2,  # a retry reattaches to the import (Airflow 3.3+) instead of importing again
    )
    # [END howto_operator_zoho_analytics_import]

    @task
    def report(summary: dict[str, Any]) -> dict[str, int]:
        """The operator's XCom: {"kind", "job_ids", "state", "counts", "view_id", "import_errors", ...}."""
        print(f"Analytics import {summary['job_ids']} into table {summary['view_id']}: {summary['counts']}")
        if summary["import_errors"]:
            print(f"  Zoho's import errors: {summary['import_errors']}")
        return dict(summary["counts"])

    report(load.output)


example_zoho_analytics_load()
# [END example_zoho_analytics_load]
