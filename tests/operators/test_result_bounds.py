"""A result file is read as an answer: what it inflates to, its width, its fields, its members, its rows and the
codes it names are bounded, a result that breaks a bound fails the task with a clear error that keeps the job's
counts, and what reaches the log, XCom and ``failed_records_path`` stays small and inert.

Over real HTTP: the emulator runs the jobs, and a forging proxy in front of it replaces the result download.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowException
from airflow_provider_zoho.operators import (
    ZohoAnalyticsImportOperator,
    ZohoCreatorBulkInsertOperator,
    ZohoCRMBulkWriteOperator,
)
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import Outcomes
from airflow_provider_zoho.testing.creator_account import CreatorApp, CreatorField, CreatorForm
from airflow_provider_zoho.testing.creator_insert import InsertOutcomes
from tests.forging_proxy import Forged, ForgingProxy, json_rewrite
from tests.helpers import APP, FORM, OWNER, VIEW, WORKSPACE, captured_log, context, run

LOG_RECORD_LIMIT = 64 * 1024
XCOM_LIMIT = 1024 * 1024
RESULT_HEADER = "Last_Name,Email,STATUS,RECORD_ID,ERRORS\r\n"


def contacts(path: Path, rows: int = 3, header: str = "Last_Name,Email", cell: str = "") -> str:
    path.write_text(header + "\n" + "".join(f"Boyle{n}{cell},pat{n}@example.com\n" for n in range(rows)))
    return str(path)


def crm(file: str, **kwargs: Any) -> ZohoCRMBulkWriteOperator:
    options: dict[str, Any] = {"module": "Contacts", **kwargs}
    return ZohoCRMBulkWriteOperator(task_id="load_contacts", file=file, poll_interval=0.05, timeout=60, **options)


def zipped(*members: tuple[str, bytes]) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return data.getvalue()


def result_of(body: bytes) -> Callable[[dict[str, str], int, bytes], Forged]:
    return lambda _headers, _status, _body: Forged(200, body, content_type="application/zip")


def skipped_rows(rows: int, cell: str = "x") -> bytes:
    return (RESULT_HEADER + "".join(f"{cell},e{n},skipped,,INVALID_DATA-Email\r\n" for n in range(rows))).encode()


WIDE = ",".join(f"C{n}" for n in range(100_000)) + "\r\n"
BROKEN_RESULTS = {
    # 100,000 columns (the 245 KB zip that cost 827 MB and a 149 MB XCom)
    "too-wide": (zipped(("r.csv", (WIDE + WIDE.replace("C", "v")).encode())), "line 1: 100,000 fields"),
    # past the csv module's own limit (131,072, when no one changed it) or this reader's (the same)
    "field-too-long": (zipped(("r.csv", skipped_rows(1, "y" * 200_000))), r"line 2: .*field.*131,?072"),
    "more-rows-than-the-job": (
        zipped(("r.csv", skipped_rows(40))),
        "more than 3 rows, the number of records of its job",
    ),
    "not-a-zip": (b"<html>Service unavailable</html>", "expected JSON, got: <html>"),
    "not-utf8": (
        zipped(("r.csv", RESULT_HEADER.encode() + b"Boyle\xff,e,skipped,,X\r\n")),
        "line 2: byte 0xff is not UTF-8",
    ),
    "many-members": (zipped(*((f"m{n}.csv", RESULT_HEADER.encode()) for n in range(40))), "40 or more members"),
    "inflates-too-far": (zipped(("r.csv", b"\n" * (257 * 1024 * 1024))), "inflates to 269,484,032 bytes"),
}


@pytest.mark.parametrize("case", list(BROKEN_RESULTS))
def test_a_result_past_a_bound_fails_with_the_jobs_counts_and_threshold(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path, case: str
) -> None:
    body, problem = BROKEN_RESULTS[case]
    proxy.forge("GET", "/bulk-write/", result_of(body))
    records = tmp_path / "failed.csv"
    operator = crm(contacts(tmp_path / "c.csv"), max_failed_records=0, failed_records_path=str(records))
    with pytest.raises(AirflowException) as raised:
        run(operator, context())
    message = str(raised.value)
    assert type(raised.value) is AirflowException  # a clear error, never a raw one
    assert re.search(problem, message), message
    assert "INVALID_RESPONSE" in message
    assert "load_contacts" in message
    assert "'total': 3" in message
    assert "max_failed_records=0" in message
    assert not records.exists()  # a list cut short is not left for a retry to stumble on


def test_no_log_record_or_summary_grows_with_what_a_result_holds(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    """Three rows of 60 fields of 100,000 characters each (inside every bound) and 3,000 distinct codes."""
    header = ",".join(f"C{n}" for n in range(57)) + ",STATUS,RECORD_ID,ERRORS\r\n"
    codes = ":".join(f"CODE{n}-Email" for n in range(3000))
    row = ",".join(["z" * 100_000] * 57) + f",skipped,,{codes}\r\n"
    proxy.forge("GET", "/bulk-write/", result_of(zipped(("r.csv", (header + row * 3).encode()))))
    with captured_log() as lines:
        summary = run(crm(contacts(tmp_path / "c.csv"), max_failed_records=None), context())
    assert len(summary["failed_records"]) == 3
    assert len(json.dumps(summary)) < XCOM_LIMIT
    assert max(len(line) for line in lines) < LOG_RECORD_LIMIT
    codes_lines = [line for line in lines if "error codes" in line]  # Airflow 2.11 captures each line twice
    assert codes_lines
    assert all("(other codes)" in line and "CODE2999" not in line for line in codes_lines)


def test_result_columns_named_like_the_operators_fields_do_not_overwrite_them(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    # A module whose fields are named as the failed records' own keys.
    zoho_conn.writes.account.declare_module("crm", {"api_name": "Rows", "fields": ["row", "status", "errors"]})
    zoho_conn.set_bulk_write_outcomes(Outcomes(skipped={3: "INVALID_DATA-status"}))
    source = tmp_path / "c.csv"
    source.write_text("row,status,errors\nr1,s1,e1\nr2,s2,e2\n")
    summary = run(crm(str(source), max_failed_records=None, module="Rows"), context())
    [record] = summary["failed_records"]
    assert record["row"] == 3
    assert record["status"] == "skipped"
    assert record["errors"] == "INVALID_DATA-status"
    assert (record["row (2)"], record["status (2)"], record["errors (2)"]) == ("r2", "s2", "e2")


def test_formula_text_is_written_inert_to_the_failed_records_file(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.set_bulk_write_outcomes(Outcomes(skipped={2: "INVALID_DATA-Last_Name"}))
    source = tmp_path / "c.csv"
    source.write_text("Last_Name,Email\n\"=cmd|' /C calc'!A0\",@SUM(1)\nBoyle,-5\n")
    records = tmp_path / "failed.csv"
    summary = run(crm(str(source), max_failed_records=None, failed_records_path=str(records)), context())
    assert summary["failed_records"][0]["Last_Name"] == "=cmd|' /C calc'!A0"  # the summary keeps the text
    text = records.read_text()
    assert "'=cmd|' /C calc'!A0" in text
    assert "'@SUM(1)" in text
    assert not any(line.startswith(("=", "@")) or ",=" in line or ",@" in line for line in text.splitlines())


def test_a_creator_failure_file_too_wide_fails_with_the_jobs_counts(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    """Creator's failure file holds the input's columns: 300 of them are more than any result has."""
    form = CreatorForm(FORM, fields=tuple(CreatorField(f"F{n}") for n in range(300)))
    zoho_conn.creator_inserts.account.declare_app(CreatorApp(OWNER, APP, forms=(form,)))
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(failed={2: "Invalid email"})
    source = tmp_path / "e.csv"
    source.write_text(",".join(f"F{n}" for n in range(300)) + "\n" + ",".join("v" * 300) + "\n")
    operator = ZohoCreatorBulkInsertOperator(
        task_id="load_employees",
        account_owner_name=OWNER,
        app_link_name=APP,
        form_link_name=FORM,
        file=str(source),
        poll_interval=0.05,
        timeout=60,
        max_failed_records=5,
    )
    with pytest.raises(AirflowException) as raised:
        run(operator, context())
    message = str(raised.value)
    assert "301 fields, more than the 256 taken" in message
    assert "'failed': 1" in message
    assert "max_failed_records=5" in message


def test_the_analytics_summary_stays_small_whatever_import_errors_hold(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    def with_errors(answer: Any) -> Any:
        if isinstance(answer.get("data"), dict) and "jobInfo" in answer["data"]:
            answer["data"]["jobInfo"]["importErrors"] = "[Line: 2 Field: Email] not an email; " * 100_000
        return answer

    proxy.forge("GET", f"/workspaces/{WORKSPACE}/importjobs/", json_rewrite(with_errors))
    source = tmp_path / "s.csv"
    source.write_text("Region,Email\nEast,a@example.com\n")
    operator = ZohoAnalyticsImportOperator(
        task_id="load_sales",
        workspace_id=WORKSPACE,
        view_id=VIEW,
        file=str(source),
        poll_interval=0.05,
        timeout=60,
        max_failed_records=None,
    )
    summary = run(operator, context())
    assert summary["import_errors"].startswith("[Line: 2 Field: Email]")
    assert len(json.dumps(summary)) < XCOM_LIMIT
