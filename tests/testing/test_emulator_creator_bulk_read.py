"""The emulator's Creator v2.1 bulk read: a job of a report, its status, its zip, and batches chained by cursor.

Over real HTTP. Facts from ``docs/zoho-api.md`` ("Creator v2.1 bulk read") and Creator's bulk read pages
(https://www.zoho.com/creator/help/api/v2.1/bulk-read-api/): the next batch is a create holding only the
record_cursor, the last batch has none, 5 creates a minute per user. 2894 for an unknown report, 11000 for a bad
value and the 1060 of an extra key are the emulator's choices where Zoho's pages name no code (unverified).
"""

from __future__ import annotations

import csv
import io
import time
import urllib.parse
import zipfile
from typing import Any

import pytest
import requests

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.creator_bulk_read import ADMIN_PATH, RECORDS_ADMIN_PATH
from tests.testing.emulator_calls import CLIENT, new_token

OWNER, APP, REPORT = "jason18", "zylker-store", "All_Orders"
READ = f"/creator/v2.1/bulk/{OWNER}/{APP}/report/{REPORT}/read"
ORDERS = [
    {"Order_ID": "A1", "Customer": "Ann", "Status": "Open", "Amount": "10"},
    {"Order_ID": "A2", "Customer": "Bob", "Status": "Closed", "Amount": "20"},
    {"Order_ID": "A3", "Customer": "Cy", "Status": "Open", "Amount": "30"},
]


class Client:
    def __init__(self, emu: ZohoEmulator, token: str | None = None) -> None:
        self.emu = emu
        self.headers = {"Authorization": f"Zoho-oauthtoken {token or new_token(emu)}"}

    def create(self, body: Any = None, path: str = READ) -> requests.Response:
        return requests.post(self.emu.base_url + path, json=body, headers=self.headers, timeout=30)

    def created(self, body: Any = None) -> dict[str, Any]:
        answer = self.create(body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["code"] == 3000
        return dict(answer.json()["details"])

    def status(self, job_id: str) -> requests.Response:
        return requests.get(f"{self.emu.base_url}{READ}/{job_id}", headers=self.headers, timeout=30)

    def until_done(self, job_id: str) -> dict[str, Any]:
        for _ in range(10):
            details = dict(self.status(job_id).json()["details"])
            if details["status"] in ("Completed", "Failed"):
                return details
        raise AssertionError(f"bulk read {job_id} did not end")

    def download(self, job_id: str, path: str | None = None) -> requests.Response:
        url = self.emu.base_url + (path or f"{READ}/{job_id}/result")
        return requests.get(url, headers=self.headers, timeout=60)


def rows_of(answer: requests.Response) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/zip"
    assert answer.headers["Content-Disposition"].startswith("attachment")
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        (name,) = archive.namelist()
        assert name.endswith(".csv")
        return list(csv.reader(io.StringIO(archive.read(name).decode())))


def refusal(answer: requests.Response) -> tuple[int, int]:
    return answer.status_code, int(answer.json()["code"])


def test_create_status_and_download_of_a_report_with_fields_and_criteria(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.creator_bulk_reads.seed_records(OWNER, APP, "Orders", ORDERS)
    me = Client(zoho_emulator)
    query = {"fields": ["Order_ID", "Status"], "criteria": '(Status == "Open")', "max_records": 100000}
    details = me.created({"query": query})
    assert details["id"].isdigit()
    assert (details["operation"], details["status"], details["created_by"]) == ("read", "In-progress", OWNER)
    assert details["query"] == query
    job_id = details["id"]
    assert me.status(job_id).json()["details"]["status"] == "In-progress"
    done = me.until_done(job_id)
    assert done["status"] == "Completed"
    assert done["result"] == {
        "count": 2,
        "download_url": f"/api/bulk/v2.1/{OWNER}/{APP}/report/{REPORT}/read/{job_id}/result",
    }
    answer = me.download(job_id)
    assert "recordCursor" not in answer.headers
    rows = rows_of(answer)
    assert rows[0] == ["ID", "Order_ID", "Status"]
    assert [row[1:] for row in rows[1:]] == [["A1", "Open"], ["A3", "Open"]]
    assert rows_of(me.download(job_id, done["result"]["download_url"])) == rows  # the docs' legacy path


def test_450000_records_come_in_3_batches_chained_by_record_cursor(zoho_emulator: ZohoEmulator) -> None:
    seeded = requests.post(
        zoho_emulator.base_url + RECORDS_ADMIN_PATH,
        json={"owner": OWNER, "app": APP, "form": "Orders", "count": 450_000},
        timeout=10,
    )
    assert seeded.json() == {"ok": True, "record_count": 450_000}
    me = Client(zoho_emulator)
    body: dict[str, Any] = {"query": {"fields": ["Order_ID"], "max_records": 200_000}}
    counts, ids = [], []
    for _ in range(3):
        job_id = me.created(body)["id"]
        result = me.until_done(job_id)["result"]
        counts.append(result["count"])
        answer = me.download(job_id)
        rows = rows_of(answer)
        assert len(rows) == 1 + result["count"]
        ids += [rows[1][0], rows[-1][0]]
        assert answer.headers.get("recordCursor") == result.get("record_cursor")
        if "record_cursor" not in result:
            break
        body = {"query": {"record_cursor": result["record_cursor"]}}
    assert counts == [200_000, 200_000, 50_000]
    assert "record_cursor" not in result
    assert ids[1] != ids[2]
    assert int(ids[2]) == int(ids[1]) + 1  # the next batch starts where the last one ended


def test_a_cursor_beside_another_key_is_refused_and_a_top_level_cursor_accepted(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.creator_bulk_reads.seed_records(OWNER, APP, "Orders", count=250_000)
    me = Client(zoho_emulator)
    first = me.created({"query": {"fields": ["Order_ID"]}})["id"]
    result = me.until_done(first)["result"]
    assert result["count"] == 100_000  # max_records' default (Creator's limitations page)
    cursor = result["record_cursor"]
    assert refusal(me.create({"query": {"record_cursor": cursor, "fields": ["Status"]}})) == (401, 1060)
    second = me.created({"record_cursor": cursor})
    assert me.until_done(second["id"])["result"]["count"] == 100_000
    zoho_emulator.creator_bulk_reads.cursor_ttl = 0  # 15 minutes gone
    assert refusal(me.create({"query": {"record_cursor": cursor}})) == (400, 11000)
    assert refusal(me.create({"query": {"record_cursor": "not-a-cursor"}})) == (400, 11000)


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (f"/creator/v2.1/bulk/{OWNER}/{APP}/report/All_Nothing/read", None, (404, 2894)),
        (f"/creator/v2.1/bulk/{OWNER}/no-app/report/{REPORT}/read", None, (404, 2892)),
        (f"/creator/v2.1/bulk/nobody/{APP}/report/{REPORT}/read", None, (404, 1040)),
        (READ, {"query": {"fields": ["Nope"]}}, (400, 11000)),
        (READ, {"query": {"max_records": 50_000}}, (400, 11000)),
        (READ, {"query": {"max_records": 150_500}}, (400, 11000)),
        (READ, {"query": {"criteria": "Status in ('Open')"}}, (400, 11000)),
        (READ, {"query": {"module": "Orders"}}, (401, 1060)),
    ],
)
def test_refusals(zoho_emulator: ZohoEmulator, path: str, body: Any, expected: tuple[int, int]) -> None:
    assert refusal(Client(zoho_emulator).create(body, path)) == expected
    assert zoho_emulator.creator_bulk_reads.created == {}


def test_a_token_without_bulk_read_is_refused_2945_on_status(zoho_emulator: ZohoEmulator) -> None:
    job_id = Client(zoho_emulator).created()["id"]
    zoho_emulator.add_grant_code("create-only", scope="ZohoCreator.bulk.CREATE")
    form = {"grant_type": "authorization_code", "client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret}
    answer = requests.post(
        zoho_emulator.base_url + "/oauth/v2/token?" + urllib.parse.urlencode({**form, "code": "create-only"}),
        timeout=10,
    )
    limited = Client(zoho_emulator, answer.json()["access_token"])
    assert refusal(limited.status(job_id)) == (401, 2945)
    assert refusal(limited.download(job_id)) == (401, 2945)
    legacy = f"/api/bulk/v2.1/{OWNER}/{APP}/report/{REPORT}/read/{job_id}/result"
    assert refusal(limited.download(job_id, legacy)) == (401, 2945)
    assert limited.create().status_code == 200  # bulk.CREATE is enough to create


def test_creates_past_5_a_minute_per_user_are_429(zoho_emulator: ZohoEmulator) -> None:
    me = Client(zoho_emulator)
    for _ in range(5):
        me.created()
    assert refusal(me.create()) == (429, 2955)
    zoho_emulator.creator_bulk_reads.throttle_window = 0.05
    time.sleep(0.1)
    me.created()


def test_a_scripted_failure_and_a_download_before_completion(zoho_emulator: ZohoEmulator) -> None:
    reads = zoho_emulator.creator_bulk_reads
    reads.script_next(["In-progress", "Failed"], "Report could not be read")
    me = Client(zoho_emulator)
    failing = me.created()["id"]
    assert refusal(me.download(failing)) == (400, 11120)
    done = me.until_done(failing)
    assert (done["status"], done["message"]) == ("Failed", "Report could not be read")
    assert "result" not in done
    admin = requests.post(zoho_emulator.base_url + ADMIN_PATH, json={"script": ["IN PROGRESS"]}, timeout=10)
    assert admin.json() == {"ok": True}
    stuck = me.created()["id"]
    assert [me.status(stuck).json()["details"]["status"] for _ in range(3)] == ["IN PROGRESS"] * 3


def test_a_completed_bulk_insert_s_rows_are_read_back(zoho_emulator: ZohoEmulator) -> None:
    base, headers = zoho_emulator.base_url, {"Authorization": f"Zoho-oauthtoken {new_token(zoho_emulator)}"}
    insert = f"/creator/v2.1/bulk/{OWNER}/{APP}/form/Orders/insert"
    job_id = requests.post(base + insert, headers=headers, timeout=10).json()["details"]["job_id"]
    files = {"file": ("orders.csv", b"Order_ID,Status\nB1,Open\nB2,Open\n")}
    assert requests.post(f"{base}{insert}/{job_id}", headers=headers, files=files, timeout=10).json()["code"] == 3000
    start = requests.patch(f"{base}{insert}/{job_id}", headers=headers, json={"data": {"action": "Start"}}, timeout=10)
    assert start.json()["code"] == 3000
    for _ in range(3):
        requests.get(f"{base}{insert}/{job_id}", headers=headers, timeout=10)
    me = Client(zoho_emulator)
    read = me.created({"query": {"fields": ["Order_ID", "Status"]}})["id"]
    me.until_done(read)
    assert [row[1:] for row in rows_of(me.download(read))[1:]] == [["B1", "Open"], ["B2", "Open"]]


def test_downloads_past_10_a_minute_per_user_are_429(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.creator_bulk_reads.seed_records(OWNER, APP, "Orders", ORDERS)
    me = Client(zoho_emulator)
    job_id = me.created()["id"]
    me.until_done(job_id)
    for _ in range(10):
        assert me.download(job_id).status_code == 200  # downloadable again while kept
    assert refusal(me.download(job_id)) == (429, 2955)
