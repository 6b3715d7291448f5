"""The Analytics export operator over real HTTP against the emulator: create, wait, download, write once."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowException, AirflowFailException
from airflow_provider_zoho.operators import ZohoAnalyticsExportOperator
from airflow_provider_zoho.operators.base import JOB_IDS_KEY
from airflow_provider_zoho.testing import ZohoEmulator
from tests.forging_proxy import Forged, ForgingProxy
from tests.helpers import MODES, VIEW, WORKSPACE, captured_log, context, run

SALES = [
    ["2024-01-01", "East", "Tech", "Laptop", "Ann", "Lee", "ann@example.com", "145000", "100"],
    ["2024-01-02", "West", "Tech", "Monitor", "Bob", "Ray", "bob@example.com", "38200", "50"],
    ["2024-01-03", "East", "Home", "Lamp, large", "Cy", "Hu", "cy@example.com", "20", "5"],
]


def make(destination: Path, **kwargs: Any) -> ZohoAnalyticsExportOperator:
    options: dict[str, Any] = {
        "task_id": "export",
        "workspace_id": WORKSPACE,
        "destination": str(destination),
        "poll_interval": 0.05,
        "timeout": 60,
        **kwargs,
    }
    if "sql_query" not in options:
        options.setdefault("view_id", VIEW)
    return ZohoAnalyticsExportOperator(**options)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


@MODES
def test_a_view_is_exported_to_the_destination_and_summarised(
    zoho_conn: ZohoEmulator, tmp_path: Path, deferrable: bool
) -> None:
    zoho_conn.analytics_exports.account.seed_rows(WORKSPACE, VIEW, SALES, replace=True)
    destination = tmp_path / "out" / "sales.csv"
    ctx = context()
    summary = run(make(destination, deferrable=deferrable), ctx)

    written = read_csv(destination)
    assert written[1:] == SALES
    assert summary == {
        "kind": "analytics_export",
        "job_ids": [summary["job_ids"][0]],
        "state": "COMPLETED",
        "records": 3,
        "pages": 1,
        "destination": str(destination),
        "columns": written[0],
        "bytes": destination.stat().st_size,
        "watermark": None,
    }
    # The job id was pushed before any wait, and nothing is left staged beside the file.
    assert ctx["ti"].pushed[0] == (JOB_IDS_KEY, summary["job_ids"])
    assert not (tmp_path / "out" / "sales.csv.parts").exists()
    [create] = [r for r in zoho_conn.received_requests() if r.path.endswith(f"/views/{VIEW}/data")]
    assert create.method == "GET"
    assert json.loads(create.query["CONFIG"]) == {"responseFormat": "csv"}


def test_a_sql_export_sends_its_query_in_config(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_exports.account.seed_rows(WORKSPACE, VIEW, SALES, replace=True)
    summary = run(make(tmp_path / "east.csv", sql_query='SELECT * FROM "Sales" WHERE "Region" = \'East\''), context())
    assert summary["records"] == 2
    [create] = [r for r in zoho_conn.received_requests() if r.path.endswith(f"/workspaces/{WORKSPACE}/data")]
    assert json.loads(create.query["CONFIG"])["sqlQuery"].startswith("SELECT * FROM")


def test_a_json_export_is_written_as_it_is_with_no_row_count(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_exports.account.seed_rows(WORKSPACE, VIEW, SALES, replace=True)
    summary = run(make(tmp_path / "sales.json", response_format="json"), context())
    assert summary["records"] is None
    assert json.loads((tmp_path / "sales.json").read_text())  # the file Zoho sent, valid JSON


def test_a_failed_export_fails_the_task_with_zohos_code(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_exports.script_next(["1002", "1003"])
    with pytest.raises(AirflowException, match="1003") as failed:
        run(make(tmp_path / "sales.csv"), context())
    assert "a retry creates the failed job anew" in str(failed.value)
    assert not (tmp_path / "sales.csv").exists()


def refusing_downloads(refused: dict[str, Any], times: int | None = None) -> Any:
    """A proxy rule for ``.../exportjobs/``: status answers pass; the next ``times`` downloads get ``refused``."""
    left = [times]

    def rule(_headers: dict[str, str], status: int, body: bytes) -> Forged:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        is_status = isinstance(answer, dict) and answer.get("summary") == "Fetch export job info"
        if is_status or left[0] == 0:
            return Forged(status, body, "application/json" if is_status else "text/csv")
        if left[0] is not None:
            left[0] -= 1
        return Forged(400, json.dumps(refused).encode())

    return rule


def refusal(code: str) -> dict[str, Any]:
    return {"status": "failure", "data": {"errorCode": int(code), "errorMessage": f"Zoho says {code}"}}


@pytest.mark.parametrize("code", ["8121", "8122"])
def test_a_result_not_ready_yet_is_asked_for_again(
    zoho_emulator: ZohoEmulator, proxy: ForgingProxy, tmp_path: Path, code: str
) -> None:
    zoho_emulator.analytics_exports.account.seed_rows(WORKSPACE, VIEW, SALES, replace=True)
    proxy.forge("GET", "/exportjobs/", refusing_downloads(refusal(code), times=2))
    with captured_log() as lines:
        summary = run(make(tmp_path / "sales.csv"), context())
    assert summary["records"] == 3
    assert sum(f"Zoho answered {code}" in line for line in lines) == 2


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        ("8123", "the export job failed"),
        ("8124", "only the export job's creator may download its result"),
    ],
)
def test_a_download_zoho_refuses_fails_with_its_meaning(
    zoho_emulator: ZohoEmulator, proxy: ForgingProxy, tmp_path: Path, code: str, meaning: str
) -> None:
    proxy.forge("GET", "/exportjobs/", refusing_downloads(refusal(code)))
    with pytest.raises(AirflowFailException, match=code) as failed:
        run(make(tmp_path / "sales.csv"), context())
    assert meaning in str(failed.value)
    assert not (tmp_path / "sales.csv").exists()


def test_a_sql_export_zoho_cut_at_800000_rows_fails_unless_allowed(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_imports.account.add_table(WORKSPACE, "Events", ["n"], view_id="35130000009000001")
    zoho_conn.analytics_exports.account.seed_rows(WORKSPACE, "35130000009000001", count=1_000_000)
    query = 'SELECT * FROM "Events"'
    with pytest.raises(AirflowFailException, match="exactly 800,000 rows, where Zoho cuts a SQL export"):
        run(make(tmp_path / "cut.csv", sql_query=query), context())
    assert not (tmp_path / "cut.csv").exists()

    with captured_log() as lines:
        summary = run(make(tmp_path / "cut.csv", sql_query=query, allow_truncated=True), context())
    assert summary["records"] == 800_000
    assert any("allow_truncated=True" in line for line in lines)


def test_five_running_exports_are_waited_out_until_the_deadline(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.analytics_exports.account.seed_rows(WORKSPACE, VIEW, SALES, replace=True)
    # Five exports of the org that never end, created by someone else.
    for n in range(5):
        zoho_conn.analytics_exports.script_next(["1002"] * 1000)
        run_create = make(tmp_path / f"other-{n}.csv", timeout=0.5, poll_interval=0.2)
        with pytest.raises(AirflowException):
            run(run_create, context())
    with captured_log() as lines, pytest.raises(AirflowException, match="still answered 8132 at the task's deadline"):
        run(make(tmp_path / "sales.csv", timeout=1.5, poll_interval=0.3), context())
    assert any("Zoho answered 8132" in line for line in lines)


def test_a_result_zoho_no_longer_has_is_exported_again_once(
    zoho_emulator: ZohoEmulator, proxy: ForgingProxy, tmp_path: Path
) -> None:
    zoho_emulator.analytics_exports.account.seed_rows(WORKSPACE, VIEW, SALES, replace=True)
    proxy.forge("GET", "/exportjobs/", refusing_downloads(refusal("8120"), times=1))
    with captured_log() as lines:
        summary = run(make(tmp_path / "sales.csv"), context())
    assert summary["records"] == 3
    assert any("creating the page's job anew" in line for line in lines)
    assert len([r for r in zoho_emulator.received_requests() if r.path.endswith(f"/views/{VIEW}/data")]) == 2


def test_a_csv_in_another_shape_is_written_as_asked_without_a_row_count(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    zoho_conn.analytics_exports.account.seed_rows(WORKSPACE, VIEW, SALES, replace=True)
    summary = run(make(tmp_path / "sales.tsv", config={"delimiter": 1, "includeHeader": False}), context())
    assert summary["records"] is None
    assert (tmp_path / "sales.tsv").read_text().count("\t") == 3 * 8
