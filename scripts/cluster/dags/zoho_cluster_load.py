"""The cluster test's DAG: a CRM load mapped over 12 CSV files and a deferrable CRM sensor mapped over 12 jobs.

Each worker keeps its own copy of the files (``ZOHO_CLUSTER_DATA``, under its own AIRFLOW_HOME): the path is a
template rendered on the worker that runs the task, since the workers share no disk. The loads wait in poke
mode, on the worker, so a worker killed while they run takes them down mid-wait and their retries must
reattach to the jobs they created. The sensors defer at once into a triggerer, which is killed while they wait.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import dag, task

from airflow_provider_zoho.operators import ZohoCRMBulkWriteOperator
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor

FILES = 12
POLL_INTERVAL = float(os.environ.get("ZOHO_CLUSTER_POLL_INTERVAL", "5"))
DATA_DIR = os.environ.get("ZOHO_CLUSTER_DATA", str(Path(__file__).resolve().parent / "data"))
RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=5)}


@dag(
    dag_id="zoho_cluster_load",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_tasks=64,
    user_defined_macros={"data_dir": DATA_DIR},
    default_args=RETRIES,
)
def zoho_cluster_load() -> None:
    @task
    def job_ids(**context: Any) -> list[str]:
        return list(context["dag_run"].conf["jobs"])

    ZohoCRMBulkWriteJobSensor.partial(
        task_id="wait",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=15),
    ).expand(job_id=job_ids())
    ZohoCRMBulkWriteOperator.partial(
        task_id="load",
        module="Contacts",
        operation="upsert",
        find_by="Email",
        deferrable=False,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=15).total_seconds(),
    ).expand(file=[f"{{{{ data_dir }}}}/contacts_{number:02d}.csv" for number in range(1, FILES + 1)])


zoho_cluster_load()
