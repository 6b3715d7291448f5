"""Export the result of a SQL query over a Zoho Analytics workspace with ``ZohoAnalyticsExportOperator``.

One task creates an asynchronous export job (waiting while the org already runs five), waits for it in the
triggerer, downloads the file and writes it once at ``destination``. Zoho cuts a SQL export at 800,000 rows
while reporting success: a result of exactly that many rows fails the task, saying so, instead of passing
as complete (``allow_truncated=True`` turns that into a warning).

Set the run's conf ``{"destination": "..."}`` to a folder (a local path or any ObjectStoragePath URI), and the
workspace and organization to yours.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import Param, dag, task

from airflow_provider_zoho.operators import ZohoAnalyticsExportOperator

# Zoho's export jobs take a while: poll every 30 s (the emulator demo and tests poll faster).
POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))


# [START example_zoho_analytics_export]
@dag(
    dag_id="example_zoho_analytics_export",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={
        "destination": Param("/data/zoho", type="string", minLength=1),
        "workspace_id": Param("35130000001055707", type="string", pattern="^[0-9]+$"),
        "org_id": Param("60012345678", type="string", pattern="^[0-9]+$"),
    },
    tags=["example", "zoho", "analytics", "export"],
)
def example_zoho_analytics_export() -> None:
    # [START howto_operator_zoho_analytics_export]
    export = ZohoAnalyticsExportOperator(
        task_id="export_sales",
        workspace_id="{{ params.workspace_id }}",
        org_id="{{ params.org_id }}",  # default: the connection's analytics_org_id
        sql_query='SELECT "Region", "Amount" FROM "Sales"',  # or view_id="..." for a table or view
        response_format="csv",
        destination="{{ params.destination }}/sales/{{ ds }}.csv",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=3600,
        retries=2,
    )
    # [END howto_operator_zoho_analytics_export]

    @task
    def report(summary: dict[str, Any]) -> int:
        """The operator's XCom: {"kind", "job_ids", "state", "records", "pages", "destination", ...}."""
        print(f"{summary['records']} rows, {summary['bytes']} bytes, to {summary['destination']}")
        return int(summary["records"])

    report(export.output)


example_zoho_analytics_export()
# [END example_zoho_analytics_export]
