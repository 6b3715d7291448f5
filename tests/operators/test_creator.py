"""The Creator bulk insert operator over real HTTP against the emulator: create, upload, start, wait, abort."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.compat import AIRFLOW_V_3_0_PLUS, AirflowException, AirflowFailException
from airflow_provider_zoho.operators import ZohoCreatorBulkInsertOperator
from airflow_provider_zoho.operators.base import DURABLE_SUPPORTED
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.creator_insert import InsertOutcomes
from tests.helpers import APP, FORM, MODES, OWNER, StateStore, captured_log, context, run

INSERT = f"/creator/v2.1/bulk/{OWNER}/{APP}/form/{FORM}/insert"
FOREVER = ("In-progress",)


def write_csv(path: Path, rows: int) -> Path:
    path.write_text("Name.first_name,Email\n" + "".join(f"Pat{n},pat{n}@example.com\n" for n in range(rows)))
    return path


def make(**kwargs: Any) -> ZohoCreatorBulkInsertOperator:
    options: dict[str, Any] = {
        "task_id": "load_employees",
        "account_owner_name": OWNER,
        "app_link_name": APP,
        "form_link_name": FORM,
        "poll_interval": 0.05,
        "timeout": 60,
        **kwargs,
    }
    return ZohoCreatorBulkInsertOperator(**options)


def calls(emulator: ZohoEmulator) -> list[str]:
    return [
        f"{r.method} {r.path}{'?' + r.query_string if r.query_string else ''}"
        for r in emulator.received_requests()
        if r.path.startswith(INSERT) and r.method != "GET"
    ]


@MODES
def test_creates_uploads_starts_and_waits(zoho_conn: ZohoEmulator, tmp_path: Path, deferrable: bool) -> None:
    ctx = context()
    summary = run(make(file=str(write_csv(tmp_path / "e.csv", 3)), deferrable=deferrable), ctx)

    [job] = zoho_conn.creator_inserts.created.values()
    assert calls(zoho_conn) == [f"POST {INSERT}", f"POST {INSERT}/{job.job_id}", f"PATCH {INSERT}/{job.job_id}"]
    start = next(r for r in zoho_conn.received_requests() if r.method == "PATCH")
    assert json.loads(start.body) == {"data": {"action": "Start"}}
    assert job.csv_text is not None
    assert job.csv_text.startswith("Name.first_name,Email")
    assert summary["kind"] == "creator_bulk_insert"
    assert summary["job_ids"] == [job.job_id]
    assert summary["counts"] == {"total": 3, "success": 3, "failed": 0, "unprocessed": 0}
    assert summary["failed_records"] == []
    assert ctx["task_state_store"].values == {
        "zoho_job_ids": [job.job_id],
        "zoho_job_parts": {"first_rows": [2], "complete": True},
    }


def test_the_openapi_files_upload_url_and_put_start_are_used_when_the_docs_forms_are_refused(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(
        upload_forms=frozenset({"query"}), start_methods=frozenset({"PUT"})
    )
    run(make(file=str(write_csv(tmp_path / "e.csv", 2)), environment="development"), context())
    [job] = zoho_conn.creator_inserts.created.values()
    assert (job.upload_form, job.started_with) == ("query", "PUT")
    put = next(r for r in zoho_conn.received_requests() if r.method == "PUT")
    assert json.loads(put.body) == {"action": "start"}
    assert job.headers["environment"] == "development"
    assert f"POST {INSERT}?job_id={job.job_id}" in calls(zoho_conn)


def test_failed_records_come_from_the_failure_result_retried_while_11110(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(failed={3: "Invalid value for Email"}, result_pending=2)
    with captured_log() as entries:
        summary = run(make(file=str(write_csv(tmp_path / "e.csv", 4)), max_failed_records=1), context())
    assert summary["counts"] == {"total": 4, "success": 3, "failed": 1, "unprocessed": 0}
    assert summary["failed_records"] == [
        {
            "row": None,
            "status": "failed",
            "errors": "Invalid value for Email",
            "Name.first_name": "Pat1",
            "Email": "pat1@example.com",
        }
    ]
    results = [r for r in zoho_conn.received_requests() if r.path.endswith("/result")]
    assert len(results) == 3
    assert all(r.query == {"filter": "failure"} for r in results)
    assert "11110" in "\n".join(entries)


def test_failed_records_over_the_threshold_fail_the_task(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(failed={2: "Mandatory field missing", 4: "Invalid email"})
    with pytest.raises(AirflowFailException, match=r"2 record\(s\) did not land"):
        run(make(file=str(write_csv(tmp_path / "e.csv", 4))), context())


def test_counts_beside_data_and_states_in_capitals_are_read(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(
        script=("IN_PROGRESS", "COMPLETED"), record_details_beside_data=True, failed={2: "bad"}
    )
    summary = run(make(file=str(write_csv(tmp_path / "e.csv", 3)), max_failed_records=None), context())
    assert summary["counts"] == {"total": 3, "success": 2, "failed": 1, "unprocessed": 0}
    assert summary["jobs"][0]["state"] == "COMPLETED"


def test_a_second_active_job_for_the_form_is_reported_as_such(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(script=FOREVER)
    source = str(write_csv(tmp_path / "e.csv", 2))
    first = run(make(file=source, wait_for_completion=False), context())
    with pytest.raises(AirflowException, match="one active bulk insert job per form") as refused:
        run(make(file=source), context())
    assert f"(job {first['job_ids'][0]})" in str(refused.value)
    assert not isinstance(refused.value, AirflowFailException)  # a retry may find the form free


def wait_until(condition: Any, what: str) -> None:
    """Wait for something the emulator will see, bounded generously (never an assertion on speed)."""
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2's ExecutorSafeguard refuses execute() from a thread")
def test_on_kill_aborts_the_running_job_and_says_so(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(script=FOREVER)
    operator = make(file=str(write_csv(tmp_path / "e.csv", 2)))
    outcome: list[BaseException] = []

    def execute() -> None:
        try:
            operator.execute(context())  # type: ignore[arg-type]
        except BaseException as error:
            outcome.append(error)

    with captured_log() as entries:
        worker = threading.Thread(target=execute)
        worker.start()
        wait_until(
            lambda: outcome or any(job.started_with for job in zoho_conn.creator_inserts.created.values()),
            "the job started",
        )
        assert not outcome, f"the operator ended before it was killed: {outcome[0]!r}"
        operator.on_kill()
        worker.join(60)
    [job] = zoho_conn.creator_inserts.created.values()
    assert job.aborted_with == "PATCH"
    abort = [r for r in zoho_conn.received_requests() if r.method == "PATCH"][-1]
    assert json.loads(abort.body) == {"data": {"action": "Abort"}}
    assert "the task was killed" in "\n".join(entries)
    assert outcome
    assert "Aborted" in str(outcome[0])


@MODES
def test_a_wait_that_times_out_aborts_the_job(zoho_conn: ZohoEmulator, tmp_path: Path, deferrable: bool) -> None:
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(script=FOREVER)
    with captured_log() as entries, pytest.raises(AirflowException, match="Timed out waiting"):
        run(make(file=str(write_csv(tmp_path / "e.csv", 2)), timeout=0.5, deferrable=deferrable), context())
    [job] = zoho_conn.creator_inserts.created.values()
    assert job.aborted_with == "PATCH"
    assert "the wait timed out" in "\n".join(entries)


@pytest.mark.skipif(
    not DURABLE_SUPPORTED, reason="reattaching needs Airflow 3.3's ResumableJobMixin; older Airflow resubmits"
)
def test_a_retry_reattaches_without_a_second_create(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "e.csv", 3))
    store = StateStore()
    with pytest.raises(TaskDeferred):  # the first try defers, then its worker is lost
        make(file=source, deferrable=True).execute(context(store))  # type: ignore[arg-type]
    summary = run(make(file=source), context(store))
    assert len(zoho_conn.creator_inserts.created) == 1
    assert summary["job_ids"] == store.values["zoho_job_ids"]
    assert summary["state"] == "COMPLETED"


@pytest.mark.skipif(not DURABLE_SUPPORTED, reason="finding the last try's job needs Airflow 3.3's task_state_store")
def test_a_retry_aborts_a_job_the_last_try_created_but_never_started(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "e.csv", 2))
    store = StateStore()
    first = run(make(file=source, wait_for_completion=False), context())  # stands in for a try lost mid-way
    [half_made] = first["job_ids"]
    store.set("zoho_job_ids", {"job_ids": [half_made], "first_rows": [2], "complete": False})
    # The emulator's job is started already; a try lost between create and start leaves Ready-to-upload.
    zoho_conn.add_job(
        "creator_bulk_insert",
        half_made,
        ["Ready-to-upload"],
        account_owner_name=OWNER,
        app_link_name=APP,
        form_link_name=FORM,
    )
    summary = run(make(file=source), context(store))
    assert zoho_conn.creator_inserts.created[half_made].aborted_with == "PATCH"
    assert summary["job_ids"] != [half_made]
    assert len(zoho_conn.creator_inserts.created) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"form_link_name": "../x"}, "form_link_name must be a plain Zoho link name"),
        ({"environment": "production"}, "environment must be one of development, stage"),
        ({"file": ""}, "file is required"),
        ({"app_link_name": ""}, "app_link_name is required"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**{"file": "/data/e.csv", **kwargs})


def test_an_empty_file_creates_no_job(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(AirflowFailException, match="no job was created"):
        run(make(file=str(empty)), context())
    assert zoho_conn.creator_inserts.created == {}
