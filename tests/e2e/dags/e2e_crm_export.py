"""A CRM export through the deferrable ``ZohoCRMBulkReadOperator``, for the scheduler + triggerer test.

The Leads module, which no other end-to-end DAG writes, so the test knows how many records it exports: the
ones it seeds. The file goes to ``{{ params.destination }}/leads.csv``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import Param, dag

from airflow_provider_zoho.operators import ZohoCRMBulkReadOperator


@dag(
    dag_id="e2e_crm_export",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"destination": Param("/tmp/zoho", type="string", minLength=1)},
)
def e2e_crm_export() -> None:
    ZohoCRMBulkReadOperator(
        task_id="export_leads",
        module="Leads",
        destination="{{ params.destination }}/leads.csv",
        fields=["Last_Name", "Company", "Email", "Modified_Time"],
        deferrable=True,
        poll_interval=float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "2")),
        timeout=600,
    )


e2e_crm_export()
