"""The Analytics import operator checks the table and the CSV's header against Zoho's metadata before uploading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.operators import ZohoAnalyticsImportOperator
from airflow_provider_zoho.testing import ZohoEmulator
from tests.forging_proxy import Forged, ForgingProxy
from tests.helpers import ORG, VIEW, WORKSPACE, captured_log, context, run
from tests.operators.test_analytics import make as make_operator


def make(tmp_path: Path, header: str = "Date,Region,Sales", **kwargs: Any) -> ZohoAnalyticsImportOperator:
    source = tmp_path / "sales.csv"
    source.write_text(header + "\n" + ",".join(["x"] * len(header.split(","))) + "\n")
    return make_operator(file=str(source), **kwargs)


def metadata_gets(emulator: ZohoEmulator) -> list[Any]:
    return [r for r in emulator.received_requests() if r.method == "GET" and not r.path.startswith("/restapi/v2/bulk")]


def test_a_right_load_reads_the_views_and_the_table_with_the_org_header(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    summary = run(make(tmp_path), context())
    assert summary["state"] == "COMPLETED"
    gets = metadata_gets(zoho_conn)
    assert [r.path for r in gets] == [f"/restapi/v2/workspaces/{WORKSPACE}/views", f"/restapi/v2/views/{VIEW}"]
    assert all(r.header("ZANALYTICS-ORGID") == ORG and r.header("Accept") == "application/json" for r in gets)


def test_an_unknown_table_fails_before_the_upload(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    with pytest.raises(
        AirflowFailException, match=rf"workspace {WORKSPACE} has no table 999; its tables: 'Sales' \({VIEW}\)"
    ):
        run(make(tmp_path, view_id="999"), context())
    assert zoho_conn.analytics_imports.created == {}


def test_a_misspelled_column_is_named_with_its_suggestion(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException) as raised:
        run(make(tmp_path, header="Date,Regoin,Sales"), context())
    assert f"'Regoin' is no column of table 'Sales' ({VIEW}); did you mean 'Region'?" in str(raised.value)
    assert "nothing was uploaded" in str(raised.value)
    assert zoho_conn.analytics_imports.created == {}


def test_matching_columns_must_be_columns_of_the_table(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"matching_columns: 'Dat' is no column of table 'Sales'.*'Date'"):
        run(make(tmp_path, import_type="UPDATEADD", matching_columns=["Dat"]), context())
    assert zoho_conn.analytics_imports.created == {}


def test_a_new_table_named_like_an_existing_one_fails_before_the_upload(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    with pytest.raises(AirflowFailException, match=f"workspace {WORKSPACE} already has a table named 'Sales'"):
        run(make(tmp_path, table_name="SALES"), context())
    assert zoho_conn.analytics_imports.created == {}
    summary = run(make(tmp_path, table_name="Sales 2025"), context())  # a free name: no column check
    assert summary["state"] == "COMPLETED"
    assert [r.path for r in metadata_gets(zoho_conn)][-1] == f"/restapi/v2/workspaces/{WORKSPACE}/views"


def test_table_names_from_zohos_answer_are_shown_bounded_and_escaped(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    hostile = "Sales\nERROR forged line " + "x" * 500

    def views(_headers: dict[str, str], _status: int, _body: bytes) -> Forged:
        body = {"status": "success", "data": {"views": [{"viewId": "77", "viewName": hostile, "viewType": "Table"}]}}
        return Forged(200, json.dumps(body).encode())

    proxy.forge("GET", f"/restapi/v2/workspaces/{WORKSPACE}/views", views, forward=False)
    with pytest.raises(AirflowFailException) as failed:
        run(make(tmp_path, view_id="999"), context())
    message = str(failed.value)
    assert "its tables: 'Sales\\nERROR forged line xxx" in message
    assert "\n" not in message.split("its tables:")[1]
    assert hostile not in message
    assert "... (77)" in message
    assert zoho_emulator.analytics_imports.created == {}


def test_preflight_false_skips_the_check(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    # Zoho itself takes a file with one unknown column beside known ones (the emulator refuses none matching).
    summary = run(make(tmp_path, header="Date,Regoin,Sales", preflight=False), context())
    assert summary["state"] == "COMPLETED"
    assert metadata_gets(zoho_conn) == []


def test_a_refused_metadata_call_only_warns(proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path) -> None:
    def refused(_headers: dict[str, str], _status: int, _body: bytes) -> Forged:
        body = {
            "status": "failure",
            "summary": "SECURITY_NOT_PERMITTED",
            "data": {"errorCode": 7301, "errorMessage": "no"},
        }
        return Forged(403, json.dumps(body).encode())

    proxy.forge("GET", f"/restapi/v2/workspaces/{WORKSPACE}/views", refused, forward=False)
    with captured_log() as lines:
        summary = run(make(tmp_path, header="Date,Regoin,Sales"), context())
    assert summary["state"] == "COMPLETED"
    assert any("could not check the input against Zoho's metadata" in line for line in lines)


def test_values_in_any_case_are_sent_in_zohos(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    operator = make(tmp_path, import_type="updateadd", matching_columns=["Date"], on_error="skipRow", file_type="CSV")
    run(operator, context())
    [job] = zoho_conn.analytics_imports.created.values()
    assert (job.config["importType"], job.config["onError"], job.config["fileType"]) == ("UPDATEADD", "SKIPROW", "csv")
    with pytest.raises(ValueError, match="import_type must be one of"):
        make(tmp_path, import_type="appendix")
    with pytest.raises(ValueError, match="on_error must be one of"):
        make(tmp_path, on_error="skip")


def test_a_templated_import_type_is_checked_and_folded_once_rendered(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    operator = make(tmp_path, import_type="{{ params.how }}")
    operator.import_type = "truncateadd"  # as rendering leaves it
    operator.check_rendered()
    assert operator.import_type == "TRUNCATEADD"
    operator.import_type = "nope"
    with pytest.raises(AirflowFailException, match="import_type must be one of"):
        operator.check_rendered()
