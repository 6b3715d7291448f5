"""Copy a Zoho CRM module into storage every day, incrementally, with ``ZohoCRMBulkReadOperator``.

One task does what a CRM export takes: it creates a bulk read job for the records modified since the start of
the run's data interval, waits for it in the triggerer, downloads its zip, checks it, and goes on page by page
(200,000 records each) until the last; the pages go into one CSV at ``destination``, written once at the end.
A retry goes on from the page the failed try reached (Airflow 3.3+) instead of exporting again.

``destination`` is a local path or any ObjectStoragePath URI (``s3://lake/zoho/contacts/{{ ds }}.csv``): set
the run's conf ``{"destination": "..."}`` to a folder. The task's outlet gets an asset event whose extra holds
``{"records", "job_ids", "watermark"}``: the second DAG, scheduled on that asset, reads what arrived.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import Asset, Param, dag, task

from airflow_provider_zoho.operators import ZohoCRMBulkReadOperator

# Zoho's bulk jobs take minutes: poll every 30 s (the emulator demo and tests poll faster).
POLL_INTERVAL = float(os.environ.get("ZOHO_EXAMPLE_POLL_INTERVAL", "30"))
CONTACTS = Asset("zoho_crm_contacts")


# [START example_zoho_crm_export]
@dag(
    dag_id="example_zoho_crm_export",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"destination": Param("/data/zoho", type="string", minLength=1)},
    tags=["example", "zoho", "crm", "export"],
)
def example_zoho_crm_export() -> None:
    # [START howto_operator_zoho_crm_bulk_read]
    export = ZohoCRMBulkReadOperator(
        task_id="export_contacts",
        module="Contacts",
        destination="{{ params.destination }}/contacts/{{ ds }}.csv",
        fields=["Last_Name", "First_Name", "Email", "Modified_Time"],  # None: every field
        modified_since="{{ data_interval_start }}",  # incremental: what changed in the interval and after
        deferrable=True,  # wait in the triggerer, not in a worker slot
        poll_interval=POLL_INTERVAL,
        timeout=3 * 3600,  # seconds from the task's start, every page included
        retries=2,  # a retry goes on from the page it reached (Airflow 3.3+): no second export
        outlets=[CONTACTS],  # the asset event's extra: {"records", "job_ids", "watermark"}
    )
    # [END howto_operator_zoho_crm_bulk_read]

    @task
    def report(summary: dict[str, Any]) -> int:
        """The operator's XCom: {"kind", "job_ids", "state", "records", "pages", "destination", ...}."""
        print(
            f"{summary['records']} records in {summary['pages']} page(s), {summary['bytes']} bytes, to "
            f"{summary['destination']}; latest Modified_Time {summary['watermark']}"
        )
        return int(summary["records"])

    report(export.output)


example_zoho_crm_export()


@dag(
    dag_id="example_zoho_crm_export_consumer",
    schedule=[CONTACTS],  # runs after each export
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "zoho", "crm", "export"],
)
def example_zoho_crm_export_consumer() -> None:
    @task
    def what_arrived(**context: Any) -> list[dict[str, Any]]:
        # Airflow 3 names them triggering_asset_events; Airflow 2, triggering_dataset_events.
        events = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
        extras = [dict(event.extra) for asset_events in events.values() for event in asset_events]
        for extra in extras:
            print(
                f"{extra.get('records')} records arrived (jobs {extra.get('job_ids')}, up to {extra.get('watermark')})"
            )
        return extras

    what_arrived()


example_zoho_crm_export_consumer()
# [END example_zoho_crm_export]
