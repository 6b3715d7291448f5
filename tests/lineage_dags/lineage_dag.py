"""One DAG for the OpenLineage test: a CRM load, an Analytics import and a CRM export, against the emulator."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.common.compat.sdk import dag

from airflow_provider_zoho.operators import (
    ZohoAnalyticsImportOperator,
    ZohoCRMBulkReadOperator,
    ZohoCRMBulkWriteOperator,
)

WORK = os.environ["ZOHO_LINEAGE_WORK"]
FAST = {"poll_interval": 0.2, "timeout": 120}


@dag(dag_id="zoho_lineage", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def zoho_lineage() -> None:
    load = ZohoCRMBulkWriteOperator(task_id="crm_load", module="Contacts", file=f"{WORK}/contacts.csv", **FAST)
    imported = ZohoAnalyticsImportOperator(
        task_id="analytics_import",
        workspace_id="35130000001055707",
        view_id="35130000001234567",
        file=f"{WORK}/sales.csv",
        import_type="APPEND",
        **FAST,
    )
    export = ZohoCRMBulkReadOperator(
        task_id="crm_export", module="Contacts", fields=["Last_Name", "Email"], destination=f"{WORK}/out.csv", **FAST
    )
    load >> imported >> export


zoho_lineage()
