"""``make demo``: run every example DAG against the packaged Zoho emulator and check each task's outcome.

It starts ``python -m airflow_provider_zoho.testing`` on a free loopback port with one scripted job per
kind, points the ``zoho_default`` connection at it (``AIRFLOW_CONN_ZOHO_DEFAULT``), runs each example DAG
with ``airflow dags test`` (the sensors defer and their trigger runs inline), then reads every task's final
state and the sensor's XCom summary from the metadata database. It exits 1 if any task ended in another
state than the one scripted below.

Run it with the interpreter of the virtualenv to demo (``.venv/bin/python scripts/demo.py``); ``airflow``
is taken from the same ``bin`` folder. ``AIRFLOW_HOME`` defaults to ``.airflow/`` in the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_zoho.testing import ZohoEmulator, airflow_connection_json

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ORG_ID = "60012345678"
DAG_TEST_TIMEOUT = 300


@dataclass(frozen=True)
class Scenario:
    """One example DAG, the emulator job it waits for, and the task states that job must lead to."""

    dag_id: str
    job: Mapping[str, Any]
    expected: Mapping[str, str]
    story: str


# Job ids and coordinates are the example DAGs' param defaults, so the DAGs run with no conf.
SCENARIOS = (
    Scenario(
        dag_id="example_zoho_analytics_import",
        job={
            "kind": "analytics_import",
            "job_id": "1767024000003153087",
            "workspace_id": "1767024000003145002",
            "org_id": ORG_ID,
            "script": ["1001", "1002", "1004"],
            "counts": {"totalRowCount": 250, "successRowCount": 248, "warnings": 2},
        },
        expected={"wait_for_job": "success", "report": "success"},
        story="import completes (1001 -> 1002 -> 1004)",
    ),
    Scenario(
        dag_id="example_zoho_crm_bulk_write",
        job={
            "kind": "crm_bulk_write",
            "job_id": "111111000000541001",
            "script": ["ADDED", "IN PROGRESS", "COMPLETED"],
            "counts": {"added_count": 90, "updated_count": 8, "skipped_count": 2, "total_count": 100},
        },
        expected={"submit_job": "success", "wait_for_job": "success", "report": "success"},
        story="bulk write completes (ADDED -> IN PROGRESS -> COMPLETED)",
    ),
    Scenario(
        dag_id="example_zoho_bigin_bulk_write",
        job={
            "kind": "bigin_bulk_write",
            "job_id": "222222000000773001",
            "script": ["ADDED", "IN PROGRESS", "FAILED"],
        },
        expected={"submit_job": "success", "wait_for_job": "skipped", "report": "skipped"},
        story="bulk write FAILED; the sensor has soft_fail=True, so it is skipped",
    ),
    Scenario(
        dag_id="example_zoho_creator_bulk_insert",
        job={
            "kind": "creator_bulk_insert",
            "job_id": "1345000000123456",
            "account_owner_name": "jason18",
            "app_link_name": "zylker-store",
            "form_link_name": "Orders",
            "script": ["Ready-to-upload", "In-progress", "Failed"],
            "error_message": "Invalid value in the Email field",
        },
        expected={"start_job": "success", "wait_for_job": "failed", "report": "upstream_failed", "alert": "success"},
        story="bulk insert Failed: the sensor fails at once and the alert task runs",
    ),
)


def airflow_env(airflow_home: Path, emulator_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW_CONN_ZOHO_DEFAULT": airflow_connection_json(emulator_url, analytics_org_id=ORG_ID),
        "ZOHO_EXAMPLE_POLL_INTERVAL": "2",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def start_emulator(jobs_file: Path, log_file: Path) -> tuple[subprocess.Popen[str], str]:
    client = ZohoEmulator.DEFAULT_CLIENT
    command = [
        sys.executable,
        "-m",
        "airflow_provider_zoho.testing",
        "--port",
        "0",
        "--jobs",
        str(jobs_file),
        "--client-id",
        client.client_id,
        "--client-secret",
        client.client_secret,
        "--refresh-token",
        client.refresh_token,
    ]
    with log_file.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()  # the emulator prints its URL once it listens
    if not line.startswith("ZOHO_EMULATOR_URL="):
        stop(process)
        raise SystemExit(f"The emulator did not start (said {line!r}); see {log_file}")
    return process, line.removeprefix("ZOHO_EMULATOR_URL=")


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue


def run_airflow(args: list[str], env: Mapping[str, str], log_file: Path) -> int:
    with log_file.open("w") as log:
        try:
            return subprocess.run(
                [str(BIN / "airflow"), *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=DAG_TEST_TIMEOUT,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            return -1


def latest_run(database: Path, dag_id: str) -> tuple[dict[str, str], Any]:
    """Task states of the DAG's newest run, and the sensor's XCom summary (None when it pushed none)."""
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
        if row is None:
            return {}, None
        states = dict(
            db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, row[0]))
        )
        value = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = 'wait_for_job' AND key = 'return_value'",
            (dag_id, row[0]),
        ).fetchone()
    summary = None if value is None or value[0] is None else json.loads(value[0])
    return states, summary


def last_word_on_job(log_file: Path, job_id: str) -> str | None:
    """The last line the sensor or its trigger logged about the job, from ``Zoho ...`` on."""
    lines = [line for line in log_file.read_text(errors="replace").splitlines() if f"{job_id} is " in line]
    if not lines:
        return None
    line = lines[-1]
    return line[line.find("Zoho ") :].split(" [airflow", 1)[0].strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airflow-home", type=Path, default=Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow")))
    parser.add_argument("dag_ids", nargs="*", help="run only these example DAGs")
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if not args.dag_ids or s.dag_id in args.dag_ids]
    airflow_home: Path = args.airflow_home.resolve()
    logs = airflow_home / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    jobs_file = airflow_home / "demo-jobs.json"
    jobs_file.write_text(json.dumps([s.job for s in scenarios], indent=2))

    started = time.monotonic()
    emulator, url = start_emulator(jobs_file, logs / "emulator.log")
    print(f"Zoho emulator at {url}; AIRFLOW_HOME={airflow_home}; logs in {logs}", flush=True)
    mismatches: list[str] = []
    try:
        env = airflow_env(airflow_home, url)
        if run_airflow(["db", "migrate"], env, logs / "db-migrate.log") != 0:
            raise SystemExit(f"airflow db migrate failed; see {logs / 'db-migrate.log'}")
        for scenario in scenarios:
            print(f"\n== {scenario.dag_id}: {scenario.story}", flush=True)
            begun = time.monotonic()
            log_file = logs / f"{scenario.dag_id}.log"
            code = run_airflow(["dags", "test", scenario.dag_id], env, log_file)
            states, summary = latest_run(airflow_home / "airflow.db", scenario.dag_id)
            print(f"   airflow dags test exited {code} after {time.monotonic() - begun:.0f} s (log: {log_file})")
            for task_id, expected in scenario.expected.items():
                state = states.get(task_id) or "none"
                ok = state == expected
                print(f"   {'ok  ' if ok else 'FAIL'} {task_id:<14} {state:<16} expected {expected}")
                if not ok:
                    mismatches.append(f"{scenario.dag_id}.{task_id}: {state}, expected {expected}")
            print(f"   last word on the job: {last_word_on_job(log_file, scenario.job['job_id'])}")
            print(f"   XCom summary of wait_for_job: {json.dumps(summary)}")
    finally:
        stop(emulator)
    print(f"\n{len(scenarios)} DAGs in {time.monotonic() - started:.0f} s.", end=" ")
    if mismatches:
        print("Unexpected task states:\n  " + "\n  ".join(mismatches))
        return 1
    print("Every task ended in its scripted state.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
