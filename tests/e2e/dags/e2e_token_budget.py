"""Many tasks of one connection at once, for the end-to-end token budget test.

24 mapped deferrable sensors and 24 mapped CRM loads, every one a task process of its own (and the sensors'
triggers in the triggerer), with default settings: together they must make at most 2 token requests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_zoho.operators import ZohoCRMBulkWriteOperator
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor


@dag(dag_id="e2e_token_budget", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def e2e_token_budget() -> None:
    @task
    def from_conf(name: str, **context: Any) -> list[str]:
        return list(context["dag_run"].conf[name])

    ZohoCRMBulkWriteJobSensor.partial(
        task_id="wait", deferrable=True, poll_interval=2, timeout=timedelta(minutes=10)
    ).expand(job_id=from_conf.override(task_id="job_ids")("jobs"))
    ZohoCRMBulkWriteOperator.partial(
        task_id="load", module="Contacts", deferrable=True, poll_interval=2, max_failed_records=None
    ).expand(file=from_conf.override(task_id="files")("files"))


e2e_token_budget()
