"""A deployment's tasks share one token by default: 48 task processes and a triggerer, at most 2 requests.

A real scheduler, triggerer, dag-processor and api-server (LocalExecutor), default ``[zoho]`` settings, and
the emulator enforcing Zoho's token limit (10 per 10 minutes, then ``Access Denied``): 24 mapped deferrable
sensors and 24 mapped CRM loads on one connection must all succeed with at most 2 token requests in total.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_zoho.compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import Outcomes

from .conftest import POLL_INTERVAL

if TYPE_CHECKING:
    from .conftest import AirflowDeployment

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="starts Airflow 3's api-server and dag-processor"),
]

DAG_ID = "e2e_token_budget"
TASKS = 24
# Jobs stay pending for about 20 s of polls after a deferral (see test_scheduler_triggerer.DEFERRED_SECONDS).
PENDING = ["IN PROGRESS"] * math.ceil(20 / POLL_INTERVAL)


def test_48_tasks_make_at_most_2_token_requests(
    airflow_deployment: AirflowDeployment, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    deployment, emulator = airflow_deployment, zoho_emulator
    assert emulator.token_limit_per_window == 10  # Zoho's own limit, which the emulator enforces by default
    jobs = [f"7200000000000{n:05d}" for n in range(TASKS)]
    for job_id in jobs:
        emulator.add_job("crm_bulk_write", job_id, ["ADDED", *PENDING, "COMPLETED"])
    emulator.set_bulk_write_outcomes(Outcomes(script=("ADDED", *PENDING, "COMPLETED")))
    files = []
    for n in range(TASKS):
        path = tmp_path / f"contacts-{n}.csv"
        path.write_text(f"Last_Name,Email\nBoyle{n},pat{n}@example.com\n")
        files.append(str(path))
    deployment.wait_until(f"{DAG_ID} to be parsed", lambda: deployment.api("GET", f"/dags/{DAG_ID}"), 60)
    run_id = deployment.api(
        "POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"jobs": jobs, "files": files}}
    )["dag_run_id"]

    def finished() -> bool:
        return deployment.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"] in ("success", "failed")

    deployment.wait_until("the run to finish", finished, 480, interval=1)
    answer = deployment.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")
    states: dict[str, int] = {}
    for ti in answer["task_instances"]:
        key = f"{ti['task_id']}={ti['state']}"
        states[key] = states.get(key, 0) + 1
    assert states == {"job_ids=success": 1, "files=success": 1, "wait=success": TASKS, "load=success": TASKS}
    assert len(emulator.created_jobs()) == TASKS  # each file loaded once
    print(f"token requests for {2 * TASKS} Zoho tasks: {emulator.token_requests()}")
    assert emulator.token_requests() <= 2
