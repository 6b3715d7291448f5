"""The emulator's Analytics import refuses what Zoho refuses, and serves the metadata Zoho's AnalyticsClient reads.

Over real HTTP. Codes from https://www.zoho.com/analytics/api/v2/bulk-api/error-codes.html and
https://zoho.com/analytics/api/v2/metadata-api/error-codes.html (7203 for an empty file is unverified).
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.analytics_account import ADMIN_PATH
from airflow_provider_zoho.testing.analytics_import import ImportOutcomes
from airflow_provider_zoho.testing.server import ADMIN_PREFIX
from tests.helpers import ORG, VIEW, WORKSPACE
from tests.testing.emulator_calls import new_token

SALES_CSV = b"Date,Region,Sales\n2024-01-01,East,10\n2024-01-02,West,20\n"


def post_import(
    emu: ZohoEmulator,
    config: dict[str, Any],
    body: bytes = SALES_CSV,
    *,
    workspace: str = WORKSPACE,
    view: str | None = VIEW,
    batch: bool = False,
) -> requests.Response:
    path = f"/restapi/v2/bulk/workspaces/{workspace}" + (f"/views/{view}" if view else "") + "/data"
    return requests.post(
        emu.base_url + path + ("/batch" if batch else ""),
        params={"CONFIG": json.dumps(config)},
        headers={"Authorization": f"Zoho-oauthtoken {new_token(emu)}", "ZANALYTICS-ORGID": ORG},
        files={"FILE": ("f.csv", body)},
        timeout=10,
    )


def get(emu: ZohoEmulator, path: str, *, org: bool = True) -> requests.Response:
    headers = {"Authorization": f"Zoho-oauthtoken {new_token(emu)}", **({"ZANALYTICS-ORGID": ORG} if org else {})}
    return requests.get(emu.base_url + path, headers=headers, timeout=10)


def code(answer: requests.Response) -> tuple[int, Any]:
    body = answer.json()
    assert body["status"] == "failure", body
    return answer.status_code, body["data"]["errorCode"]


def job_info(emu: ZohoEmulator, job_id: str, workspace: str = WORKSPACE) -> dict[str, Any]:
    url = f"{emu.base_url}/restapi/v2/bulk/workspaces/{workspace}/importjobs/{job_id}"
    headers = {"Authorization": f"Zoho-oauthtoken {new_token(emu)}", "ZANALYTICS-ORGID": ORG}
    for _ in range(10):
        data = requests.get(url, headers=headers, timeout=10).json()["data"]
        if data["jobCode"] in ("1003", "1004"):
            return dict(data["jobInfo"])
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not end")


APPEND = {"importType": "APPEND", "fileType": "csv", "autoIdentify": True}


def test_an_unknown_workspace_is_7103_and_an_unknown_table_7138(zoho_emulator: ZohoEmulator) -> None:
    assert code(post_import(zoho_emulator, APPEND, workspace="999")) == (404, 7103)
    assert code(post_import(zoho_emulator, APPEND, view="999")) == (404, 7138)
    assert code(post_import(zoho_emulator, {"tableName": "T", "fileType": "csv"}, workspace="999", view=None)) == (
        404,
        7103,
    )
    assert zoho_emulator.analytics_imports.created == {}


def test_a_new_table_whose_name_is_taken_is_7111(zoho_emulator: ZohoEmulator) -> None:
    taken = {"tableName": "sales", "fileType": "csv"}  # the default table is "Sales": names compare without case
    assert code(post_import(zoho_emulator, taken, view=None)) == (400, 7111)
    first = post_import(zoho_emulator, {"tableName": "Sales 2024", "fileType": "csv"}, view=None)
    assert first.status_code == 200
    again = post_import(zoho_emulator, {"tableName": "Sales 2024", "fileType": "csv"}, view=None)
    assert code(again) == (400, 7111)


def test_an_empty_file_is_7203(zoho_emulator: ZohoEmulator) -> None:
    assert code(post_import(zoho_emulator, APPEND, b"")) == (400, 7203)
    assert code(post_import(zoho_emulator, APPEND, b"  \n")) == (400, 7203)


def test_a_csv_sent_as_json_is_refused_not_a_crash(zoho_emulator: ZohoEmulator) -> None:
    assert code(post_import(zoho_emulator, {**APPEND, "fileType": "json"})) == (400, 7249)


def test_a_body_that_is_not_multipart_is_7248(zoho_emulator: ZohoEmulator) -> None:
    answer = requests.post(
        f"{zoho_emulator.base_url}/restapi/v2/bulk/workspaces/{WORKSPACE}/views/{VIEW}/data",
        params={"CONFIG": json.dumps(APPEND)},
        headers={"Authorization": f"Zoho-oauthtoken {new_token(zoho_emulator)}", "ZANALYTICS-ORGID": ORG},
        data=SALES_CSV,
        timeout=10,
    )
    assert code(answer) == (400, 7248)


def test_a_csv_naming_no_column_of_the_table_is_7235(zoho_emulator: ZohoEmulator) -> None:
    assert code(post_import(zoho_emulator, APPEND, b"Colour,Size\nred,L\n")) == (400, 7235)


def test_import_type_on_error_and_file_type_are_read_in_any_case(zoho_emulator: ZohoEmulator) -> None:
    # Zoho's own samples send "append" and "skiprow".
    zoho_emulator.analytics_imports.outcomes = ImportOutcomes(skipped=frozenset({2}))
    config = {"importType": "append", "onError": "skiprow", "fileType": "CSV", "autoIdentify": "true"}
    answer = post_import(zoho_emulator, config)
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["data"]["jobId"]
    info = job_info(zoho_emulator, job_id)
    assert info["importSummary"]["importType"] == "APPEND"
    assert (info["importSummary"]["totalRowCount"], info["importSummary"]["successRowCount"]) == (2, 1)
    assert zoho_emulator.analytics_imports.created[job_id].config == config  # kept as sent
    assert code(post_import(zoho_emulator, {**config, "importType": "appendix"})) == (400, 8504)


def test_an_existing_table_is_updated_with_no_invented_view_id(zoho_emulator: ZohoEmulator) -> None:
    job_id = post_import(zoho_emulator, APPEND).json()["data"]["jobId"]
    info = job_info(zoho_emulator, job_id)
    assert "viewId" not in info
    assert info["importSummary"]["importOperation"] == "updated"
    assert info["columnDetails"] == {"Date": "Date", "Region": "Plain Text", "Sales": "Currency"}
    assert info["importSummary"]["totalColumnCount"] == 3


def test_a_new_table_is_created_with_its_new_view_id(zoho_emulator: ZohoEmulator) -> None:
    answer = post_import(zoho_emulator, {"tableName": "Sales 2024", "fileType": "csv"}, view=None)
    job_id = answer.json()["data"]["jobId"]
    info = job_info(zoho_emulator, job_id)
    assert info["importSummary"]["importOperation"] == "created"
    new_view = info["viewId"]
    assert new_view == zoho_emulator.analytics_imports.created[job_id].new_view_id
    assert info["columnDetails"] == {"Date": "Plain Text", "Region": "Plain Text", "Sales": "Plain Text"}
    details = get(zoho_emulator, f"/restapi/v2/views/{new_view}").json()["data"]["views"]
    assert details["viewName"] == "Sales 2024"
    assert [c["columnName"] for c in details["columns"]] == ["Date", "Region", "Sales"]


def test_the_metadata_apis_as_analytics_client_reads_them(zoho_emulator: ZohoEmulator) -> None:
    workspaces = get(zoho_emulator, "/restapi/v2/workspaces").json()
    assert workspaces["status"] == "success"
    owned = {w["workspaceId"]: w["workspaceName"] for w in workspaces["data"]["ownedWorkspaces"]}
    assert WORKSPACE in owned
    assert "1767024000003145002" in owned  # the example DAG's
    assert workspaces["data"]["sharedWorkspaces"] == []
    views = get(zoho_emulator, f"/restapi/v2/workspaces/{WORKSPACE}/views").json()["data"]["views"]
    assert {"viewId": VIEW, "viewName": "Sales", "viewType": "Table"}.items() <= views[0].items()
    view = get(zoho_emulator, f"/restapi/v2/views/{VIEW}").json()["data"]["views"]
    assert view["viewId"] == VIEW
    assert {"columnName": "Date", "dataType": "Date"}.items() <= view["columns"][0].items()
    assert code(get(zoho_emulator, "/restapi/v2/workspaces/999/views")) == (404, 7103)
    assert code(get(zoho_emulator, "/restapi/v2/views/999")) == (404, 7104)
    # A workspace's views need the org header; a view's details do not (Zoho's AnalyticsClient 2.1.0 sends none).
    assert code(get(zoho_emulator, f"/restapi/v2/workspaces/{WORKSPACE}/views", org=False)) == (400, 8083)
    assert get(zoho_emulator, f"/restapi/v2/views/{VIEW}", org=False).json()["data"]["views"]["viewId"] == VIEW
    refused = requests.get(f"{zoho_emulator.base_url}/restapi/v2/workspaces", timeout=10)
    assert code(refused) == (401, 8535)


def test_workspaces_are_declared_over_http_and_in_python(zoho_emulator: ZohoEmulator) -> None:
    assert ADMIN_PATH.startswith(ADMIN_PREFIX + "/")
    answer = requests.post(
        f"{zoho_emulator.base_url}/__emulator__/analytics_workspaces",
        json={"workspace_id": "77", "name": "Ops", "tables": [{"name": "Tickets", "columns": ["Id", {"name": "N"}]}]},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    view_id = answer.json()["view_ids"]["Tickets"]
    assert post_import(zoho_emulator, APPEND, b"Id,N\n1,2\n", workspace="77", view=view_id).status_code == 200
    bad = requests.post(f"{zoho_emulator.base_url}/__emulator__/analytics_workspaces", json={"x": 1}, timeout=10)
    assert bad.status_code == 400
    account = zoho_emulator.analytics_imports.account
    account.add_workspace("78", "Finance")
    table = account.add_table("78", "Ledger", [("Amount", "Currency")], view_id="7801")
    assert post_import(zoho_emulator, APPEND, b"Amount\n3\n", workspace="78", view=table.view_id).status_code == 200
