"""The Analytics import operator over real HTTP against the emulator: create, batches, 8134, wait, thresholds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.compat import AirflowException, AirflowFailException
from airflow_provider_zoho.operators import ZohoAnalyticsImportOperator
from airflow_provider_zoho.operators.base import DURABLE_SUPPORTED
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.analytics_import import ImportOutcomes
from tests.helpers import MODES, ORG, VIEW, WORKSPACE, StateStore, captured_log, context, run


def write_csv(path: Path, rows: int) -> Path:
    path.write_text("Date,Region,Sales\n" + "".join(f"2024-01-{n % 28 + 1:02d},East,{n}\n" for n in range(rows)))
    return path


def make(**kwargs: Any) -> ZohoAnalyticsImportOperator:
    options: dict[str, Any] = {
        "task_id": "load_sales",
        "workspace_id": WORKSPACE,
        "poll_interval": 0.05,
        "timeout": 60,
        **kwargs,
    }
    if "table_name" not in options:
        options.setdefault("view_id", VIEW)
    return ZohoAnalyticsImportOperator(**options)


def creates(emulator: ZohoEmulator) -> list[Any]:
    return [r for r in emulator.received_requests() if r.method == "POST" and r.path.startswith("/restapi/")]


@MODES
def test_imports_into_a_table_and_returns_the_summary(
    zoho_conn: ZohoEmulator, tmp_path: Path, deferrable: bool
) -> None:
    ctx = context()
    summary = run(make(file=str(write_csv(tmp_path / "sales.csv", 3)), deferrable=deferrable), ctx)

    [request] = creates(zoho_conn)
    assert request.path == f"/restapi/v2/bulk/workspaces/{WORKSPACE}/views/{VIEW}/data"
    assert request.header("ZANALYTICS-ORGID") == ORG
    assert json.loads(request.query["CONFIG"]) == {
        "fileType": "csv",
        "onError": "ABORT",
        "autoIdentify": True,
        "importType": "APPEND",
    }
    assert b'name="FILE"' in request.body
    [job] = zoho_conn.analytics_imports.created.values()
    assert (job.rows, job.header, job.config_in) == (3, ("Date", "Region", "Sales"), "query")
    assert summary["kind"] == "analytics_import"
    assert summary["job_ids"] == [job.job_id]
    assert summary["state"] == "COMPLETED"
    assert summary["counts"] == {"total_rows": 3, "success_rows": 3, "warnings": 0, "failed_rows": 0}
    assert summary["view_id"] == VIEW  # the user's own table, not an id the job made up
    assert summary["import_errors"] == ""
    assert ("zoho_job_ids", [job.job_id]) in ctx["ti"].pushed
    assert ctx["task_state_store"].values["zoho_job_ids"] == [job.job_id]


def test_a_new_table_is_created_by_name_and_its_view_id_returned(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    summary = run(
        make(file=str(write_csv(tmp_path / "s.csv", 2)), table_name="Sales 2024", config={"dateFormat": "yyyy-MM-dd"}),
        context(),
    )
    [request] = creates(zoho_conn)
    assert request.path == f"/restapi/v2/bulk/workspaces/{WORKSPACE}/data"
    config = json.loads(request.query["CONFIG"])
    assert config["tableName"] == "Sales 2024"
    assert config["dateFormat"] == "yyyy-MM-dd"
    assert "importType" not in config
    [job] = zoho_conn.analytics_imports.created.values()
    assert job.new_view_id is not None
    assert summary["view_id"] == job.new_view_id  # the table the job created, as Zoho's jobInfo names it


def test_updateadd_sends_the_matching_columns(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    run(make(file=str(write_csv(tmp_path / "s.csv", 2)), import_type="UPDATEADD", matching_columns=["Date"]), context())
    config = json.loads(creates(zoho_conn)[0].query["CONFIG"])
    assert (config["importType"], config["matchingColumns"]) == ("UPDATEADD", ["Date"])


def test_skipped_rows_fail_the_task_although_the_job_completed(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_imports.outcomes = ImportOutcomes(skipped=frozenset({3, 5}))
    with pytest.raises(AirflowFailException, match=r"2 record\(s\) did not land") as failed:
        run(make(file=str(write_csv(tmp_path / "s.csv", 6)), on_error="SKIPROW"), context())
    assert "'failed_rows': 2" in str(failed.value)


def test_skipped_rows_under_the_threshold_keep_zohos_import_errors(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_imports.outcomes = ImportOutcomes(skipped=frozenset({3, 5}))
    with captured_log() as entries:
        summary = run(
            make(file=str(write_csv(tmp_path / "s.csv", 6)), on_error="SKIPROW", max_failed_records=2), context()
        )
    assert summary["counts"] == {"total_rows": 6, "success_rows": 4, "warnings": 0, "failed_rows": 2}
    assert "Rows 3, 5" in summary["import_errors"]
    assert "Rows 3, 5" in "\n".join(entries)


def test_setcolumnempty_rows_are_warnings_not_failures(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_imports.outcomes = ImportOutcomes(skipped=frozenset({2}))
    summary = run(make(file=str(write_csv(tmp_path / "s.csv", 4)), on_error="SETCOLUMNEMPTY"), context())
    assert summary["counts"] == {"total_rows": 4, "success_rows": 4, "warnings": 1, "failed_rows": 0}


def test_an_aborted_import_fails_the_task_for_a_retry(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_imports.outcomes = ImportOutcomes(skipped=frozenset({2}))
    with pytest.raises(AirflowException, match="1003") as failed:
        run(make(file=str(write_csv(tmp_path / "s.csv", 4))), context())
    assert not isinstance(failed.value, AirflowFailException)


def test_8134_is_waited_out(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_imports.outcomes = ImportOutcomes(busy=2)
    with captured_log() as entries:
        summary = run(make(file=str(write_csv(tmp_path / "s.csv", 2))), context())
    assert len(creates(zoho_conn)) == 3
    assert zoho_conn.analytics_imports.refused == 2
    assert summary["job_ids"] == list(zoho_conn.analytics_imports.created)
    assert "8134" in "\n".join(entries)


def test_8134_until_the_deadline_fails_for_a_retry(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_imports.outcomes = ImportOutcomes(busy=10**9)  # always 5 jobs running
    with pytest.raises(AirflowException, match="8134 at the task's deadline") as failed:
        run(make(file=str(write_csv(tmp_path / "s.csv", 2)), timeout=0.3), context())
    assert not isinstance(failed.value, AirflowFailException)
    assert zoho_conn.analytics_imports.created == {}


def test_a_csv_over_the_batch_size_goes_in_batches_as_one_job(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "big.csv", 40)
    summary = run(make(file=str(source), batch_size=300), context())
    requests_ = creates(zoho_conn)
    assert len(requests_) >= 3
    assert all(r.path.endswith(f"/views/{VIEW}/data/batch") for r in requests_)
    configs = [json.loads(r.query["CONFIG"]) for r in requests_]
    assert configs[0]["batchKey"] == "start"
    assert [c["isLastBatch"] for c in configs] == [False] * (len(configs) - 1) + [True]
    assert all(c["batchKey"] != "start" for c in configs[1:])
    [job] = zoho_conn.analytics_imports.created.values()
    assert (job.rows, job.batches) == (40, len(configs))
    assert summary["counts"]["total_rows"] == 40


def test_a_large_file_that_is_not_csv_is_refused_before_upload(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = tmp_path / "big.json"
    source.write_text(json.dumps([{"Sales": n} for n in range(100)]))
    with pytest.raises(AirflowFailException, match="only a CSV can go through the batch import"):
        run(make(file=str(source), batch_size=100), context())
    assert creates(zoho_conn) == []


@pytest.mark.skipif(
    not DURABLE_SUPPORTED, reason="reattaching needs Airflow 3.3's ResumableJobMixin; older Airflow resubmits"
)
def test_a_retry_reattaches_without_a_second_create(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "s.csv", 3))
    store = StateStore()
    with pytest.raises(TaskDeferred):  # the first try defers, then its worker is lost
        make(file=source, deferrable=True).execute(context(store))  # type: ignore[arg-type]
    summary = run(make(file=source), context(store))
    assert len(creates(zoho_conn)) == 1
    assert summary["job_ids"] == store.values["zoho_job_ids"]
    again = run(make(file=source), context(store))  # and once more, the job completed
    assert len(creates(zoho_conn)) == 1
    assert again["counts"] == summary["counts"]


def test_the_emulator_takes_config_as_a_multipart_part_too(zoho_conn: ZohoEmulator) -> None:
    from airflow_provider_zoho.hooks.zoho import ZohoHook

    token = ZohoHook().get_access_token().value
    answer = requests.post(
        f"{zoho_conn.base_url}/restapi/v2/bulk/workspaces/{WORKSPACE}/data",
        headers={"Authorization": f"Zoho-oauthtoken {token}", "ZANALYTICS-ORGID": ORG},
        files={"CONFIG": (None, json.dumps({"tableName": "T", "fileType": "csv"})), "FILE": ("t.csv", b"A\n1\n")},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    [job] = zoho_conn.analytics_imports.created.values()
    assert (job.config_in, job.view_id, job.rows) == ("multipart", None, 1)
    missing = requests.post(
        f"{zoho_conn.base_url}/restapi/v2/bulk/workspaces/{WORKSPACE}/views/{VIEW}/data",
        headers={"Authorization": f"Zoho-oauthtoken {token}", "ZANALYTICS-ORGID": ORG},
        files={"CONFIG": (None, json.dumps({"fileType": "csv", "importType": "UPDATEADD"})), "FILE": ("t.csv", b"A\n")},
        timeout=10,
    )
    assert (missing.status_code, missing.json()["data"]["errorCode"]) == (400, 8504)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table_name": "T", "view_id": VIEW}, "exactly one of view_id"),
        ({"view_id": None}, "exactly one of view_id"),
        ({"import_type": "MERGE"}, "import_type must be one of APPEND, TRUNCATEADD, UPDATEADD"),
        ({"import_type": "UPDATEADD"}, "matching_columns is required for UPDATEADD"),
        ({"on_error": "IGNORE"}, "on_error must be one of"),
        ({"workspace_id": "ws-1"}, "workspace_id must be Zoho's numeric id"),
        ({"config": {"importType": "APPEND"}}, "config must not set importType"),
        ({"file": "/data/sales.dat"}, "file_type must be one of"),
        ({"max_failed_records": -1}, "max_failed_records must be"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    options = {"file": "/data/sales.csv", **kwargs}
    with pytest.raises(ValueError, match=message):
        make(**options)


def test_templates_are_checked_once_rendered() -> None:
    operator = make(file="/data/s.csv", import_type="{{ params.mode }}")
    operator.import_type = "MERGE"
    with pytest.raises(AirflowFailException, match="import_type must be one of"):
        operator.check_rendered()
