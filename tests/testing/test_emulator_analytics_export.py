"""The emulator's Analytics async export: view and SQL jobs, their status and download, as Zoho answers them.

Over real HTTP. Facts from ``docs/zoho-api.md`` ("Analytics v2 async export") and Zoho's ``zoho/analytics-okf``
repository (``v2.0/domains/data-operations/async-data-export/``): codes 8120-8124 on the download, 8132 past 5
running jobs, 8077 for a SQL export without CONFIG, 8001 for an unknown format, the 800,000-row SQL cut.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
import requests

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.analytics_account import ROWS_ADMIN_PATH
from airflow_provider_zoho.testing.analytics_export import ADMIN_PATH
from tests.helpers import ORG, VIEW, WORKSPACE
from tests.testing.emulator_calls import new_token, token_call

BASE = f"/restapi/v2/bulk/workspaces/{WORKSPACE}"
OTHER = ("other-client", "other-secret", "other-refresh")
SALES = [
    ["2024-01-01", "East", "Tech", "Laptop", "Ann", "Lee", "ann@example.com", "145000", "100"],
    ["2024-01-02", "West", "Tech", "Monitor", "Bob", "Ray", "bob@example.com", "38200", "50"],
    ["2024-01-03", "East", "Home", "Lamp, large", "Cy", "Hu", "cy@example.com", "20", "5"],
]


class Client:
    """One user's calls: a token of one refresh token, the org header."""

    def __init__(self, emu: ZohoEmulator, token: str | None = None) -> None:
        self.emu = emu
        self.headers = {"Authorization": f"Zoho-oauthtoken {token or new_token(emu)}", "ZANALYTICS-ORGID": ORG}

    def get(self, path: str, config: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        params = {} if config is None else {"CONFIG": json.dumps(config)}
        return requests.get(self.emu.base_url + path, params=params, headers=self.headers, timeout=30, **kwargs)

    def create(self, config: dict[str, Any] | None = None, view: str | None = VIEW) -> str:
        answer = self.get(BASE + (f"/views/{view}" if view else "") + "/data", config)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["status"], body["summary"]) == ("success", "Create bulk export job"), body
        job_id = body["data"]["jobId"]
        assert isinstance(job_id, str)
        assert job_id.isdigit()
        return str(job_id)

    def status(self, job_id: str) -> dict[str, Any]:
        answer = self.get(f"{BASE}/exportjobs/{job_id}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["summary"] == "Fetch export job info"
        return dict(body["data"])

    def until_done(self, job_id: str) -> dict[str, Any]:
        for _ in range(10):
            data = self.status(job_id)
            if data["jobCode"] in ("1003", "1004"):
                return data
        raise AssertionError(f"export {job_id} did not end")

    def download(self, job_id: str, **kwargs: Any) -> requests.Response:
        return self.get(f"{BASE}/exportjobs/{job_id}/data", **kwargs)


def error(answer: requests.Response) -> tuple[int, int]:
    body = answer.json()
    assert body["status"] == "failure", body
    return answer.status_code, int(body["data"]["errorCode"])


@pytest.fixture
def sales(zoho_emulator: ZohoEmulator) -> ZohoEmulator:
    zoho_emulator.analytics_imports.account.seed_rows(WORKSPACE, VIEW, SALES)
    return zoho_emulator


def test_a_view_export_walks_1001_1002_1004_and_downloads_its_csv_more_than_once(sales: ZohoEmulator) -> None:
    me = Client(sales)
    job_id = me.create()
    assert [me.status(job_id)["jobCode"] for _ in range(2)] == ["1001", "1002"]
    done = me.status(job_id)
    assert (done["jobCode"], done["jobStatus"]) == ("1004", "JOB COMPLETED")
    assert done["downloadUrl"] == f"{sales.base_url}{BASE}/exportjobs/{job_id}/data"
    assert int(done["expiryTime"]) > 0
    for _ in range(2):
        answer = requests.get(done["downloadUrl"], headers=me.headers, timeout=10)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/csv")
        assert "Content-Disposition" not in answer.headers
        lines = answer.content.split(b"\r\n")
        assert lines[0] == b"Date,Region,Product Category,Product,Customer Name,Last_Name,Email,Sales,Cost"
        assert lines[1].startswith(b"2024-01-01,East")
        assert lines[3].startswith(b'2024-01-03,East,Home,"Lamp, large"')
        assert lines[4] == b""


def test_a_view_export_in_json_key_value_and_positional_with_columns_and_criteria(sales: ZohoEmulator) -> None:
    me = Client(sales)
    config = {"responseFormat": "JSON", "selectedColumns": ["Region", "Sales"], "criteria": '"Sales">=1000'}
    job_id = me.create(config)
    me.until_done(job_id)
    answer = me.download(job_id)
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == {"data": [{"Region": "East", "Sales": "145000"}, {"Region": "West", "Sales": "38200"}]}
    positional = me.create({**config, "keyValueFormat": False, "criteria": '"Region"=\'West\' or "Sales"<100'})
    me.until_done(positional)
    result = me.download(positional).json()["response"]["result"]
    assert result == {"column_order": ["Region", "Sales"], "rows": [["West", "38200"], ["East", "20"]]}


def test_csv_attributes_delimiter_record_delimiter_quoted_and_header(sales: ZohoEmulator) -> None:
    me = Client(sales)
    config = {"selectedColumns": ["Region", "Product"], "delimiter": 2, "recordDelimiter": 1, "quoted": 1}
    job_id = me.create({**config, "includeHeader": False})
    me.until_done(job_id)
    assert me.download(job_id).text == '"East";"Laptop"\n"West";"Monitor"\n"East";"Lamp, large"\n'


def test_a_sql_export_in_csv_and_json(sales: ZohoEmulator) -> None:
    me = Client(sales)
    query = 'SELECT "Region", "Sales" FROM "Sales" WHERE "Sales" >= \'100\' LIMIT 1'
    job_id = me.create({"sqlQuery": query}, view=None)
    assert me.until_done(job_id)["jobCode"] == "1004"
    assert me.download(job_id).text == "Region,Sales\r\nEast,145000\r\n"
    everything = me.create({"sqlQuery": 'SELECT * FROM "Sales"', "responseFormat": "json"}, view=None)
    me.until_done(everything)
    rows = me.download(everything).json()["data"]
    assert [row["Product"] for row in rows] == ["Laptop", "Monitor", "Lamp, large"]


def test_each_download_code_8121_8122_8123_8120_8124(sales: ZohoEmulator) -> None:
    me = Client(sales)
    job_id = me.create()
    assert error(me.download(job_id)) == (400, 8121)  # not polled yet: 1001
    me.status(job_id)
    assert error(me.download(job_id)) == (400, 8121)
    me.status(job_id)
    assert error(me.download(job_id)) == (400, 8122)  # 1002
    sales.analytics_exports.script_next(["1002", "1003"])
    failing = me.create()
    assert me.until_done(failing) == {"jobId": failing, "jobCode": "1003", "jobStatus": "ERROR OCCURRED"}
    assert error(me.download(failing)) == (400, 8123)
    assert error(me.download("35130000009999999")) == (404, 8120)
    me.until_done(job_id)
    sales.add_client(*OTHER)
    other = Client(sales, token_call(sales, OTHER)["access_token"])
    assert error(other.download(job_id)) == (403, 8124)
    assert error(other.get(f"{BASE}/exportjobs/{job_id}")) == (403, 8124)  # nor poll it
    assert me.download(job_id).status_code == 200
    sales.analytics_exports.expire(job_id)
    assert me.status(job_id)["jobCode"] == "1005"
    assert error(me.download(job_id)) == (404, 8120)


def test_a_status_of_an_unknown_job_is_1005_and_of_an_unresolvable_id_8120(sales: ZohoEmulator) -> None:
    me = Client(sales)
    me.create()  # the emulator knows a workspace's jobs from those created in it (7103 before any)
    assert me.status("35130000009999999")["jobCode"] == "1005"
    assert error(me.get(f"{BASE}/exportjobs/not-a-job")) == (404, 8120)


def test_sql_without_config_is_8077_and_a_bad_format_8001(sales: ZohoEmulator) -> None:
    me = Client(sales)
    assert error(me.get(BASE + "/data")) == (400, 8077)
    assert error(me.get(BASE + "/data", {})) == (400, 8077)
    assert error(me.get(BASE + "/data", {"responseFormat": "csv"})) == (400, 8079)
    assert error(me.get(BASE + "/data", {"sqlQuery": "  "})) == (400, 8078)
    assert error(me.get(f"{BASE}/views/{VIEW}/data", {"responseFormat": "docx"})) == (400, 8001)
    sql = {"sqlQuery": 'SELECT * FROM "Sales"', "responseFormat": "image"}
    assert error(me.get(BASE + "/data", sql)) == (400, 8014)


@pytest.mark.parametrize(
    ("config", "code"),
    [
        ({"sqlQuery": 'SELECT * FROM "Nope"'}, 7105),
        ({"sqlQuery": 'SELECT "Nope" FROM "Sales"'}, 7107),
        ({"sqlQuery": 'SELECT * FROM "Sales" WHERE "Nope" = 1'}, 8004),
        ({"sqlQuery": 'SELECT COUNT(*) FROM "Sales" GROUP BY "Region"'}, 7403),
        ({"sqlQuery": "SELECT 1"}, 7835),
        ({"sqlQuery": 'SELECT * FROM "Sales"', "selectedColumns": ["Nope"]}, 8015),
        ({"sqlQuery": 'SELECT * FROM "Sales"', "selectedColumns": []}, 8547),
        ({"sqlQuery": 'SELECT * FROM "Sales"', "delimiter": 9}, 8119),
        ({"sqlQuery": 'SELECT * FROM "Sales"', "tableCriteriaList": [{"viewId": "1", "criteria": "x"}]}, 7571),
        ({"sqlQuery": 'SELECT * FROM "Sales"', "callbackUrl": "http://127.0.0.1/hook"}, 8127),
    ],
)
def test_sql_refusals(sales: ZohoEmulator, config: dict[str, Any], code: int) -> None:
    assert error(Client(sales).get(BASE + "/data", config))[1] == code


def test_view_refusals_criteria_and_unknown_view(sales: ZohoEmulator) -> None:
    me = Client(sales)
    view = f"{BASE}/views/{VIEW}/data"
    assert error(me.get(view, {"criteria": '"Nope"=1'})) == (400, 7330)
    assert error(me.get(view, {"criteria": "\"Region\" like 'E%'"})) == (400, 7331)
    assert error(me.get(f"{BASE}/views/999/data")) == (404, 7138)
    assert error(me.get("/restapi/v2/bulk/workspaces/999/views/1/data")) == (404, 7103)
    no_org = requests.get(sales.base_url + view, headers={"Authorization": me.headers["Authorization"]}, timeout=10)
    assert error(no_org) == (400, 8083)
    assert error(requests.get(sales.base_url + view, headers={"ZANALYTICS-ORGID": ORG}, timeout=10)) == (401, 8535)
    assert sales.analytics_exports.created == {}


def test_the_sixth_export_queued_or_running_in_an_org_is_8132(sales: ZohoEmulator) -> None:
    me = Client(sales)
    jobs = [me.create() for _ in range(5)]
    assert error(me.get(f"{BASE}/views/{VIEW}/data")) == (400, 8132)
    me.until_done(jobs[0])  # one completes: room for another
    me.create()
    assert error(me.get(f"{BASE}/views/{VIEW}/data")) == (400, 8132)


def test_a_sql_export_is_cut_at_800000_rows_and_still_completes(zoho_emulator: ZohoEmulator) -> None:
    account = zoho_emulator.analytics_imports.account
    table = account.add_table(WORKSPACE, "Big", [("N", "Number")])
    admin = requests.post(
        zoho_emulator.base_url + ROWS_ADMIN_PATH,
        json={"workspace_id": WORKSPACE, "view_id": table.view_id, "count": 1_000_000},
        timeout=10,
    )
    assert admin.json() == {"ok": True, "row_count": 1_000_000}
    me = Client(zoho_emulator)
    job_id = me.create({"sqlQuery": 'SELECT "N" FROM "Big"', "recordDelimiter": 1}, view=None)
    assert me.until_done(job_id)["jobCode"] == "1004"
    lines, last = 0, b""
    with me.download(job_id, stream=True) as answer:
        for chunk in answer.iter_content(1 << 20):
            lines += chunk.count(b"\n")
            last = (last + chunk)[-32:]
    assert lines == 1 + 800_000
    assert last.endswith(b"\n800000\n")


def test_the_admin_api_scripts_the_next_export_and_seeds_rows(zoho_emulator: ZohoEmulator) -> None:
    base = zoho_emulator.base_url
    rows = {"workspace_id": WORKSPACE, "view_id": VIEW, "rows": [{"Region": "North", "Sales": "7"}], "count": 2}
    assert requests.post(base + ROWS_ADMIN_PATH, json=rows, timeout=10).json() == {"ok": True, "row_count": 3}
    script = requests.post(base + ADMIN_PATH, json={"script": ["1002"], "once": True}, timeout=10)
    assert script.json() == {"ok": True}
    me = Client(zoho_emulator)
    stuck = me.create({"selectedColumns": ["Region", "Sales"]})
    assert [me.status(stuck)["jobCode"] for _ in range(3)] == ["1002", "1002", "1002"]
    assert error(me.download(stuck)) == (400, 8122)
    normal = me.create({"selectedColumns": ["Region", "Sales"]})
    me.until_done(normal)
    assert me.download(normal).text == "Region,Sales\r\nNorth,7\r\nRegion 1,1\r\nRegion 2,2\r\n"
    bad = requests.post(base + ADMIN_PATH, json={"script": ["9999"]}, timeout=10)
    assert bad.status_code == 400


def test_a_token_without_data_read_is_refused(zoho_emulator: ZohoEmulator) -> None:
    code = "export-code"
    zoho_emulator.add_grant_code(code, scope="ZohoAnalytics.data.create")
    form = {"grant_type": "authorization_code", "client_id": "test-client-id", "client_secret": "test-client-secret"}
    answer = requests.post(
        zoho_emulator.base_url + "/oauth/v2/token?" + urllib.parse.urlencode({**form, "code": code}), timeout=10
    )
    me = Client(zoho_emulator, answer.json()["access_token"])
    assert error(me.get(f"{BASE}/views/{VIEW}/data")) == (403, 7301)


def test_a_view_export_is_not_cut_and_streams_a_million_rows(zoho_emulator: ZohoEmulator) -> None:
    account = zoho_emulator.analytics_exports.account
    table = account.add_table(WORKSPACE, "Huge", [("N", "Number")])
    assert account.seed_rows(WORKSPACE, table.view_id, count=1_000_000) == 1_000_000
    me = Client(zoho_emulator)
    job_id = me.create({"includeHeader": False}, view=table.view_id)
    me.until_done(job_id)
    lines = 0
    with me.download(job_id, stream=True) as answer:
        assert answer.headers.get("Transfer-Encoding") == "chunked"  # written as it is read, not held whole
        for chunk in answer.iter_content(1 << 20):
            lines += chunk.count(b"\r\n")
    assert lines == 1_000_000
