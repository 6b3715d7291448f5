"""The example DAGs under a real scheduler and triggerer: the operators and sensors defer, the triggerer finishes them."""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_zoho.compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import Outcomes
from airflow_provider_zoho.testing.creator_insert import InsertOutcomes

from .conftest import CRM_ORG_ID, POLL_INTERVAL

if TYPE_CHECKING:
    from .conftest import AirflowDeployment

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="starts Airflow 3's api-server and dag-processor"),
]

TRIGGER_CLASSPATH = "airflow_provider_zoho.triggers.job.ZohoJobTrigger"
# The Creator example's form (example_dags/example_zoho_creator.py): the requests of its load go under it.
CREATOR_INSERT = "/creator/v2.1/bulk/jason18/zylker-store/form/Contacts/insert"
RUN_TIMEOUT = 180.0
# The CRM export (tests/e2e/dags/e2e_crm_export.py): the Leads records seeded for it, all exported.
EXPORTED_LEADS = 1500
SENSOR = "wait_for_job"
# Airflow 3.3.2 can fail a deferred task whose trigger fires within seconds of the deferral: the executor's
# late "success" for the try that deferred arrives after the trigger re-queued the task (apache/airflow
# #66374, #71580, #72716). So the jobs stay pending for about 20 s of trigger polls after the deferral, far
# longer than the scheduler takes to handle that report, even on a busy machine. (end_from_trigger does not
# re-queue the task: its failing job may end sooner.)
DEFERRED_SECONDS = 20
PENDING_POLLS = math.ceil(DEFERRED_SECONDS / POLL_INTERVAL)


@dataclass
class Run:
    dag_id: str
    job_id: str  # the job the deferred task waits for ("" until the operator creates it)
    expected: dict[str, str]
    sensor: str = SENSOR  # the task that defers
    conf: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    sensor_states: list[str] = field(default_factory=list)  # each distinct state, in the order seen
    triggerer_ids: set[int] = field(default_factory=set)
    trigger_classpaths: set[str] = field(default_factory=set)

    def observe(self, deployment: AirflowDeployment) -> None:
        rows = deployment.query(
            "SELECT ti.state, t.classpath, t.triggerer_id FROM task_instance ti "
            "LEFT JOIN trigger t ON t.id = ti.trigger_id "
            "WHERE ti.dag_id = ? AND ti.run_id = ? AND ti.task_id = ?",
            self.dag_id,
            self.run_id,
            self.sensor,
        )
        for state, classpath, triggerer_id in rows:
            if state and (not self.sensor_states or self.sensor_states[-1] != state):
                self.sensor_states.append(state)
            if classpath:
                self.trigger_classpaths.add(classpath)
            if triggerer_id is not None:
                self.triggerer_ids.add(triggerer_id)

    def finished(self, deployment: AirflowDeployment) -> bool:
        state = deployment.api("GET", f"/dags/{self.dag_id}/dagRuns/{self.run_id}")["state"]
        return state in ("success", "failed")

    def task_states(self, deployment: AirflowDeployment) -> dict[str, str | None]:
        answer = deployment.api("GET", f"/dags/{self.dag_id}/dagRuns/{self.run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in answer["task_instances"]}

    def xcom(self, deployment: AirflowDeployment, task_id: str, key: str = "return_value") -> Any:
        rows = deployment.query(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
            self.dag_id,
            self.run_id,
            task_id,
            key,
        )
        return json.loads(rows[0][0]) if rows and rows[0][0] is not None else None


def write_contacts(path: Path, rows: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Last_Name", "First_Name", "Email"])
        writer.writerows([f"Boyle{n}", f"Pat{n}", f"pat{n}@example.com"] for n in range(rows))
    return path


def test_deferred_tasks_finish_in_the_triggerer(
    airflow_deployment: AirflowDeployment, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    deployment, emulator = airflow_deployment, zoho_emulator
    # The CRM example loads 20 contacts through the deferrable operator; Zoho skips line 3 (the header is line 1).
    contacts = write_contacts(tmp_path / "contacts.csv", 20)
    emulator.set_bulk_write_outcomes(
        Outcomes(skipped={3: "DUPLICATE_DATA-Email"}, script=("ADDED", *["IN PROGRESS"] * PENDING_POLLS, "COMPLETED"))
    )
    # The Creator example inserts 20 other contacts the same way; Creator refuses line 4, within the
    # example's max_failed_records=5, so the load succeeds with that record from the failure file.
    employees = write_contacts(tmp_path / "creator.csv", 20)
    emulator.creator_inserts.outcomes = InsertOutcomes(
        failed={4: "Invalid value in the Email field"},
        script=(*["In-progress"] * (PENDING_POLLS + 1), "Completed"),
    )
    # The CRM export reads the Leads seeded here; its bulk read job stays IN PROGRESS for DEFERRED_SECONDS. Every
    # bulk read's: the scheduler also starts example_zoho_crm_export's daily run (unpaused, catchup=False).
    emulator.reads.seed_records("crm", "Leads", EXPORTED_LEADS)
    emulator.reads.set_script(["QUEUED", *["IN PROGRESS"] * PENDING_POLLS, "COMPLETED"])
    exports = tmp_path / "exports"
    counts = {"added_count": 41, "updated_count": 7, "skipped_count": 2, "total_count": 50}
    runs = [
        Run(
            "example_zoho_crm_load",
            "",
            {"load_contacts": "success", "report": "success"},
            sensor="load_contacts",
            conf={"file": str(contacts)},
        ),
        Run(
            "example_zoho_creator_load",
            "",
            {"load_contacts": "success", "report": "success", "alert": "skipped"},
            sensor="load_contacts",
            conf={"file": str(employees)},
        ),
        # end_from_trigger: the triggerer itself ends both sensors; only ``check`` runs on a worker after.
        Run(
            "e2e_end_from_trigger",
            "700000000000000303",
            {"wait_ok": "success", "wait_fail": "failed", "check": "success"},
            sensor="wait_ok",
            conf={"ok_job_id": "700000000000000303", "failing_job_id": "700000000000000304"},
        ),
        Run(
            "e2e_crm_export", "", {"export_leads": "success"}, sensor="export_leads", conf={"destination": str(exports)}
        ),
    ]
    emulator.add_job(
        "crm_bulk_write", "700000000000000303", ["ADDED", *["IN PROGRESS"] * PENDING_POLLS, "COMPLETED"], counts=counts
    )
    emulator.add_job("crm_bulk_write", "700000000000000304", ["ADDED", "IN PROGRESS", "FAILED"])

    for run in runs:
        deployment.wait_until(
            f"{run.dag_id} to be parsed", lambda r=run: deployment.api("GET", f"/dags/{r.dag_id}"), 60
        )
        answer = deployment.api("POST", f"/dags/{run.dag_id}/dagRuns", json={"logical_date": None, "conf": run.conf})
        run.run_id = answer["dag_run_id"]

    def all_finished() -> bool:
        for run in runs:
            run.observe(deployment)
        return all(run.finished(deployment) for run in runs)

    started = time.monotonic()
    deployment.wait_until("every DAG run to finish", all_finished, RUN_TIMEOUT, interval=0.3)
    print(f"All runs finished {time.monotonic() - started:.0f} s after being triggered")

    # The operator uploaded the file once and created one job: no retry, no second try of the upload.
    [upload] = emulator.uploads()
    [created] = [job for job in emulator.created_jobs() if job.kind == "crm_bulk_write"]
    assert (upload.kind, created.kind) == ("crm_bulk_write", "crm_bulk_write")
    assert created.body["resource"][0]["file_id"] == upload.file_id
    assert created.body["operation"] == "upsert"
    load, creator_load, ended_by_trigger, export = runs
    [read_job] = [job for job in emulator.reads.created.values() if job.body["query"]["module"]["api_name"] == "Leads"]
    export.job_id = read_job.job_id
    load.job_id = created.job_id
    # The Creator operator created one job, uploaded the file to it and started it, once each (no abort).
    [inserted] = emulator.creator_inserts.created.values()
    creator_load.job_id = inserted.job_id
    creator_calls = [
        f"{r.method} {r.path}{'?' + r.query_string if r.query_string else ''}"
        for r in emulator.received_requests()
        if r.path.startswith(CREATOR_INSERT) and r.method != "GET"
    ]
    insert = f"{CREATOR_INSERT}/{inserted.job_id}"
    assert creator_calls == [f"POST {CREATOR_INSERT}", f"POST {insert}", f"PATCH {insert}"]
    assert inserted.csv_text == employees.read_bytes().decode()  # as written: csv ends lines with CRLF

    triggerers = {row[0] for row in deployment.query("SELECT id FROM job WHERE job_type = 'TriggererJob'")}
    for run in runs:
        assert run.task_states(deployment) == run.expected, run.dag_id
        # The task polled once on the worker, deferred, and was resumed once its trigger fired.
        assert "deferred" in run.sensor_states, (run.dag_id, run.sensor_states)
        assert run.sensor_states[-1] == run.expected[run.sensor], (run.dag_id, run.sensor_states)
        # The trigger was ours, and the triggerer process (a TriggererJob in the metadata DB) ran it.
        assert run.trigger_classpaths == {TRIGGER_CLASSPATH}, run.dag_id
        assert run.triggerer_ids, f"{run.dag_id}: no triggerer ever picked up the trigger"
        assert run.triggerer_ids <= triggerers, (run.triggerer_ids, triggerers)
        # Every scripted state was served: one poll on the worker, the rest from the trigger.
        assert emulator.status_requests(run.job_id) >= PENDING_POLLS + 2, run.dag_id

    # The trigger's own log lines are written by the triggerer (Airflow writes them next to the task log).
    trigger_logs = "".join(
        p.read_text(errors="replace") for p in (deployment.home / "logs").rglob("*trigger*") if p.is_file()
    )
    assert "airflow_provider_zoho.triggers.job.ZohoJobTrigger" in trigger_logs
    assert f"{created.job_id} is IN PROGRESS" in trigger_logs
    assert f"{inserted.job_id} is " in trigger_logs  # the Creator job's polls, in Zoho's spelling

    # The operator's XComs: the ids as soon as the job existed, then the summary with the failed row.
    assert load.xcom(deployment, "load_contacts", "zoho_job_ids") == [created.job_id]
    summary = load.xcom(deployment, "load_contacts")
    loaded = {"added": 19, "updated": 0, "skipped": 1, "unprocessed": 0, "total": 20}
    assert {key: summary[key] for key in ("kind", "job_ids", "state", "counts")} == {
        "kind": "crm_bulk_write",
        "job_ids": [created.job_id],
        "state": "COMPLETED",
        "counts": loaded,
    }
    assert summary["failed_records"] == [
        {
            "row": 3,
            "status": "skipped",
            "errors": "DUPLICATE_DATA-Email",
            "Last_Name": "Boyle1",
            "First_Name": "Pat1",
            "Email": "pat1@example.com",
        }
    ]
    assert [job["job_id"] for job in summary["jobs"]] == [created.job_id]
    assert load.xcom(deployment, "report") == loaded
    failed_file = Path(f"{contacts}.failed.csv").read_text()
    assert "DUPLICATE_DATA-Email" in failed_file
    assert "pat1@example.com" in failed_file

    # The Creator operator's XComs: the id pushed before the wait, then the summary with Creator's failure file.
    assert creator_load.xcom(deployment, "load_contacts", "zoho_job_ids") == [inserted.job_id]
    creator_summary = creator_load.xcom(deployment, "load_contacts")
    inserted_counts = {"total": 20, "success": 19, "failed": 1, "unprocessed": 0}
    assert {key: creator_summary[key] for key in ("kind", "job_ids", "state", "counts")} == {
        "kind": "creator_bulk_insert",
        "job_ids": [inserted.job_id],
        "state": "COMPLETED",
        "counts": inserted_counts,
    }
    assert creator_summary["failed_records"] == [
        {
            "row": None,  # Creator's failure file does not say which input line a record came from
            "status": "failed",
            "errors": "Invalid value in the Email field",
            "Last_Name": "Boyle2",
            "First_Name": "Pat2",
            "Email": "pat2@example.com",
        }
    ]
    assert creator_load.xcom(deployment, "report") == inserted_counts
    assert creator_load.xcom(deployment, "alert") is None
    # end_from_trigger: the trigger ended the task as a success straight from ``deferred``, with no worker
    # resuming it, and pushed the summary that ``check`` pulled back as a dict (not a JSON string).
    after_deferral = ended_by_trigger.sensor_states[ended_by_trigger.sensor_states.index("deferred") + 1 :]
    assert after_deferral == ["success"], ended_by_trigger.sensor_states
    sensor_counts = {"added": 41, "updated": 7, "skipped": 2, "total": 50}
    assert ended_by_trigger.xcom(deployment, "wait_ok")["counts"] == sensor_counts
    assert ended_by_trigger.xcom(deployment, "check") == {"state": "COMPLETED", **sensor_counts}
    assert ended_by_trigger.xcom(deployment, "wait_fail") is None
    # One token per process that talked to Zoho: each operator's first try and its resumption (which
    # downloads the result), the two sensors' task processes (their first poke), and the triggerer, whose
    # four triggers shared one.
    assert emulator.token_requests() <= 7

    # The CRM export: one bulk read job, deferred to the triggerer (checked above), its file written whole.
    export_summary = export.xcom(deployment, "export_leads")
    assert {key: export_summary[key] for key in ("kind", "job_ids", "state", "records", "pages")} == {
        "kind": "crm_bulk_read",
        "job_ids": [read_job.job_id],
        "state": "COMPLETED",
        "records": EXPORTED_LEADS,
        "pages": 1,
    }
    exported = (exports / "leads.csv").read_text().splitlines()
    assert len(exported) == EXPORTED_LEADS + 1  # the header, then a line per record
    assert {"Last_Name", "Company", "Email"} <= set(exported[0].split(","))  # Zoho puts the record's id first
    # Issue 20: the finished task's "Zoho" extra link, as the UI asks Airflow's REST API for it.
    links = deployment.api("GET", f"/dags/{export.dag_id}/dagRuns/{export.run_id}/taskInstances/export_leads/links")
    assert links["extra_links"]["Zoho"].startswith("https://crm.zoho.")
    assert links["extra_links"]["Zoho"].endswith(f"/crm/org{CRM_ORG_ID}/tab/Leads")
