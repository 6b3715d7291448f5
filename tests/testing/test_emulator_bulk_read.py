"""Zoho's rules, not ours: the emulator's CRM v8 and Bigin v2 bulk read, over real HTTP.

The expectations come from Zoho's pages (https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/create-job.html,
get-job-details.html, download-result.html, limitations.html; https://www.bigin.com/developer/docs/apis/v2/bulk-read/)
and the crm-oas v8.0 bulk_read OpenAPI file, not from the emulator's own tables.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.bulk_read import seed_id_base
from airflow_provider_zoho.testing.bulk_write import CRM_MODULES_ADMIN_PATH, ORG_ZGID
from airflow_provider_zoho.testing.crm_account import Account
from airflow_provider_zoho.testing.server import ADMIN_PREFIX
from tests.helpers import wait_until
from tests.testing.emulator_calls import token_call

CRM_READ = "/crm/bulk/v8/read"
BIGIN_READ = "/bigin/bulk/v2/read"
# The id of the first record seeded in Contacts (seed_id_base's docs say how seeded ids are given).
SEED_FIRST_ID = seed_id_base(Account(), "crm", "Contacts")
PER_PAGE = 200_000


def contacts(**query: Any) -> dict[str, Any]:
    return {"query": {"module": {"api_name": "Contacts"}, **query}}


def modified_since(moment: str, comparator: str = "greater_equal") -> dict[str, Any]:
    return {"field": {"api_name": "Modified_Time"}, "comparator": comparator, "value": moment}


class Reader:
    """A test's client of the emulated bulk read: a session with a token, and the calls an export makes."""

    def __init__(self, emulator: ZohoEmulator, base: str = CRM_READ, token: str | None = None) -> None:
        self.emulator = emulator
        self.base = base
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy
        token = token or token_call(emulator)["access_token"]
        self.session.headers["Authorization"] = f"Zoho-oauthtoken {token}"

    def url(self, path: str) -> str:
        return self.emulator.base_url + path

    def create(self, body: Any) -> requests.Response:
        return self.session.post(self.url(self.base), json=body, timeout=30)

    def job_id(self, body: Any) -> str:
        reply = self.create(body)
        assert reply.status_code == 201, reply.text
        job_id: str = reply.json()["data"][0]["details"]["id"]
        return job_id

    def status(self, job_id: str) -> requests.Response:
        return self.session.get(self.url(f"{self.base}/{job_id}"), timeout=10)

    def until_done(self, job_id: str) -> dict[str, Any]:
        """Poll until COMPLETED or FAILURE (the default script walks QUEUED, IN PROGRESS, COMPLETED)."""
        for _ in range(10):
            job: dict[str, Any] = self.status(job_id).json()["data"][0]
            if job["state"] in ("COMPLETED", "FAILURE"):
                return job
        raise AssertionError(f"job {job_id} never ended: {job}")

    def download(self, job: dict[str, Any]) -> requests.Response:
        return self.session.get(self.url(job["result"]["download_url"]), timeout=60)

    def rows(self, body: Any) -> tuple[dict[str, Any], list[list[str]]]:
        """Create, wait, download: the job's details and its CSV's rows (the header first)."""
        job = self.until_done(self.job_id(body))
        return job, csv_rows(self.download(job))


def csv_rows(reply: requests.Response) -> list[list[str]]:
    assert reply.status_code == 200, reply.text
    with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
        [name] = archive.namelist()
        return list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"))))


def refusal(reply: requests.Response, status: int = 400) -> dict[str, Any]:
    """A CRM error answer, after checking its shape (crm-oas v8.0: bare {code, details, message, status})."""
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()
    assert set(body) == {"code", "details", "message", "status"}, body
    assert body["status"] == "error", body
    return body


@pytest.fixture
def reader(zoho_emulator: ZohoEmulator) -> Iterator[Reader]:
    zoho_emulator.reads.seed_records("crm", "Contacts", 1000, modified_from="2026-01-01T00:00:00+00:00")
    client = Reader(zoho_emulator)
    yield client
    client.session.close()


# -- create, status, download -------------------------------------------------------------------------------
def test_a_read_is_created_polled_and_downloaded_as_zoho_documents(reader: Reader) -> None:
    reply = reader.create(contacts(fields=["Last_Name", "Email", "Modified_Time"]))
    assert reply.status_code == 201
    body = reply.json()
    assert body["info"] == {}
    [created] = body["data"]
    assert (created["status"], created["code"], created["message"]) == (
        "success",
        "ADDED_SUCCESSFULLY",
        "Added successfully.",
    )
    details = created["details"]
    assert details["id"].isdigit()
    assert (details["operation"], details["state"]) == ("read", "ADDED")
    assert {"id", "name"} <= set(details["created_by"])
    job_id = details["id"]

    states = [reader.status(job_id).json()["data"][0]["state"] for _ in range(3)]
    assert states == ["QUEUED", "IN PROGRESS", "COMPLETED"]
    job = reader.status(job_id).json()["data"][0]
    assert job["query"] == contacts(fields=["Last_Name", "Email", "Modified_Time"])["query"]  # as sent
    assert (job["id"], job["operation"], job["file_type"]) == (job_id, "read", "csv")
    assert job["result"] == {
        "page": 1,
        "per_page": PER_PAGE,
        "count": 1000,
        "download_url": f"/crm/bulk/v8/read/{job_id}/result",  # relative to the API host
        "more_records": False,
    }

    download = reader.download(job)
    assert download.headers["Content-Type"] == "application/zip"
    assert download.headers["Content-Disposition"] == f"attachment; filename={job_id}.zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.namelist() == [f"{job_id}.csv"]
    rows = csv_rows(download)
    assert rows[0] == ["id", "Last_Name", "Email", "Modified_Time"]
    assert len(rows) == 1001
    assert rows[1] == [str(SEED_FIRST_ID), "Last Name 0", "record0@example.com", "2026-01-01T00:00:00+00:00"]
    assert rows[2][3] == "2026-01-01T00:01:00+00:00"  # Modified_Time ascends with the index (60 s apart)
    ids = [int(row[0]) for row in rows[1:]]
    assert ids == sorted(ids)


def test_a_status_before_completion_has_no_result_and_its_download_is_refused(reader: Reader) -> None:
    job_id = reader.job_id(contacts())
    job = reader.status(job_id).json()["data"][0]
    assert job["state"] == "QUEUED"
    assert "result" not in job
    early = reader.session.get(reader.url(f"{CRM_READ}/{job_id}/result"), timeout=10)
    assert refusal(early)["code"] == "INVALID_REQUEST"


def test_an_unknown_job_is_resource_not_found(reader: Reader) -> None:
    assert refusal(reader.status("4150868000009999999"), 404)["code"] == "RESOURCE_NOT_FOUND"
    gone = reader.session.get(reader.url(f"{CRM_READ}/4150868000009999999/result"), timeout=10)
    assert refusal(gone, 404)["code"] == "RESOURCE_NOT_FOUND"


def test_a_result_past_its_retention_or_expired_by_a_test_is_resource_not_found(
    reader: Reader, zoho_emulator: ZohoEmulator
) -> None:
    reads = zoho_emulator.reads
    now = [5000.0]
    reads.clock = lambda: now[0]
    job = reader.until_done(reader.job_id(contacts(fields=["Email"])))
    assert reader.download(job).status_code == 200
    now[0] += reads.result_kept_seconds
    assert refusal(reader.download(job), 404)["code"] == "RESOURCE_NOT_FOUND"
    other = reader.until_done(reader.job_id(contacts(fields=["Email"])))
    expire = reader.session.post(reader.url(f"{ADMIN_PREFIX}/crm_bulk_read"), json={"expire": other["id"]}, timeout=10)
    assert expire.status_code == 200
    assert refusal(reader.download(other), 404)["code"] == "RESOURCE_NOT_FOUND"
    assert reader.status(other["id"]).json()["data"][0]["state"] == "COMPLETED"  # the job's details remain


def test_without_fields_every_field_of_the_module_is_exported_id_first(reader: Reader) -> None:
    _job, rows = reader.rows(contacts())
    header = rows[0]
    assert header[0] == "id"
    fields = reader.session.get(reader.url("/crm/v8/settings/fields"), params={"module": "Contacts"}, timeout=10)
    assert header[1:] == [field["api_name"] for field in fields.json()["fields"]]
    assert {"Last_Name", "Email", "Modified_Time", "Created_Time"} <= set(header)


def test_fields_selects_the_columns_in_the_order_asked_and_id_comes_once_first(reader: Reader) -> None:
    _job, rows = reader.rows(contacts(fields=["Email", "id", "Last_Name"]))
    assert rows[0] == ["id", "Email", "Last_Name"]
    assert rows[6] == [str(SEED_FIRST_ID + 5), "record5@example.com", "Last Name 5"]


# -- criteria -----------------------------------------------------------------------------------------------
def test_criteria_modified_time_greater_equal_selects_the_records_modified_since(reader: Reader) -> None:
    # 1,000 records one minute apart from 2026-01-01T00:00: 10:00 is record 600.
    criteria = {"group_operator": "and", "group": [modified_since("2026-01-01T10:00:00+00:00")]}
    job, rows = reader.rows(contacts(fields=["Modified_Time"], criteria=criteria))
    assert job["result"]["count"] == 400
    assert rows[1] == [str(SEED_FIRST_ID + 600), "2026-01-01T10:00:00+00:00"]
    assert len(rows) == 401


def test_a_single_criterion_may_be_given_without_a_group(reader: Reader) -> None:
    job, _rows = reader.rows(contacts(criteria=modified_since("2026-01-01T10:00:00+00:00", "greater_than")))
    assert job["result"]["count"] == 399


def test_criteria_between_less_than_and_text_equal(reader: Reader) -> None:
    between = {
        "field": {"api_name": "Modified_Time"},
        "comparator": "between",
        "value": ["2026-01-01T01:00:00+00:00", "2026-01-01T01:09:00+00:00"],
    }
    assert reader.until_done(reader.job_id(contacts(criteria=between)))["result"]["count"] == 10
    before = modified_since("2026-01-01T00:05:00+00:00", "less_than")
    assert reader.until_done(reader.job_id(contacts(criteria=before)))["result"]["count"] == 5
    named = {"field": {"api_name": "Last_Name"}, "comparator": "equal", "value": "Last Name 42"}
    either = {"group_operator": "or", "group": [named, before]}
    job, rows = reader.rows(contacts(fields=["Last_Name"], criteria=either))
    assert job["result"]["count"] == 6
    assert rows[-1] == [str(SEED_FIRST_ID + 42), "Last Name 42"]
    one = {"field": {"api_name": "id"}, "comparator": "equal", "value": str(SEED_FIRST_ID + 7)}
    _job, rows = reader.rows(contacts(fields=["Last_Name"], criteria=one))
    assert rows[1:] == [[str(SEED_FIRST_ID + 7), "Last Name 7"]]  # 19-digit ids compared exactly


# -- pages --------------------------------------------------------------------------------------------------
@dataclass
class Paged:
    """Three pages of 450,000 seeded records, read once by token (shared: generating them is the slow part)."""

    emulator: ZohoEmulator
    jobs: list[dict[str, Any]]
    rows: list[list[list[str]]]


@pytest.fixture(scope="module")
def paged() -> Iterator[Paged]:
    with ZohoEmulator() as emulator:
        emulator.add_client(*ZohoEmulator.DEFAULT_CLIENT)
        emulator.reads.seed_records(
            "crm", "Contacts", 450_000, modified_from="2026-01-01T00:00:00+00:00", step_seconds=1
        )
        client = Reader(emulator)
        jobs, pages = [], []
        query: dict[str, Any] = {"module": {"api_name": "Contacts"}, "fields": ["Last_Name", "Modified_Time"]}
        for _ in range(3):
            job, rows = client.rows({"query": query})
            jobs.append(job)
            pages.append(rows)
            if job["result"]["more_records"]:
                query = {**query, "page_token": job["result"]["next_page_token"]}
        yield Paged(emulator, jobs, pages)
        client.session.close()


def test_450000_records_come_in_three_pages_by_next_page_token(paged: Paged) -> None:
    results = [job["result"] for job in paged.jobs]
    assert [r["count"] for r in results] == [200_000, 200_000, 50_000]
    assert [r["page"] for r in results] == [1, 2, 3]
    assert [r["more_records"] for r in results] == [True, True, False]
    assert all(isinstance(r["next_page_token"], str) and r["next_page_token"] for r in results[:2])
    assert "next_page_token" not in results[2]
    assert results[0]["next_page_token"] != results[1]["next_page_token"]


def test_each_page_has_its_header_once_and_the_records_in_order_without_gaps(paged: Paged) -> None:
    for rows in paged.rows:
        assert rows[0] == ["id", "Last_Name", "Modified_Time"]
        assert ["id", "Last_Name", "Modified_Time"] not in rows[1:]
    ids = [int(row[0]) for rows in paged.rows for row in rows[1:]]
    assert ids == list(range(SEED_FIRST_ID, SEED_FIRST_ID + 450_000))
    assert paged.rows[1][1] == [str(SEED_FIRST_ID + 200_000), "Last Name 200000", "2026-01-03T07:33:20+00:00"]


def test_page_numbers_select_the_same_pages_and_past_the_last_is_page_range_exceeded(paged: Paged) -> None:
    client = Reader(paged.emulator)
    second = client.until_done(client.job_id(contacts(page=2, fields=["Last_Name"])))
    assert (second["result"]["page"], second["result"]["count"], second["result"]["more_records"]) == (
        2,
        PER_PAGE,
        True,
    )
    assert second["query"]["page"] == 2
    past = client.create(contacts(page=4))
    assert refusal(past)["code"] == "PAGE_RANGE_EXCEEDED"


def test_a_page_token_is_refused_with_page_unknown_expired_or_for_another_query(paged: Paged) -> None:
    client = Reader(paged.emulator)
    token = paged.jobs[0]["result"]["next_page_token"]
    fields = ["Last_Name", "Modified_Time"]
    both = client.create(contacts(page=2, page_token=token, fields=fields))
    assert refusal(both)["code"] == "INVALID_DATA"
    unknown = client.create(contacts(page_token="f00d" * 24))
    assert refusal(unknown)["code"] == "INVALID_DATA"
    other = client.create(contacts(page_token=token, fields=["Email"]))
    assert refusal(other)["code"] == "INVALID_DATA"
    elsewhere = client.create({"query": {"module": {"api_name": "Leads"}, "page_token": token}})
    assert refusal(elsewhere)["code"] == "INVALID_DATA"
    reads = paged.emulator.reads
    ticking = [reads.clock()]
    reads.clock = lambda: ticking[0]
    try:
        ticking[0] += reads.page_token_ttl + 1
        expired = client.create(contacts(page_token=paged.jobs[1]["result"]["next_page_token"], fields=fields))
        assert refusal(expired)["code"] == "INVALID_DATA"
    finally:
        reads.clock = time.monotonic


# -- refusals -----------------------------------------------------------------------------------------------
LONG_GROUP = [{"field": {"api_name": "Last_Name"}, "comparator": "equal", "value": f"n{n}"} for n in range(26)]
REFUSALS: list[tuple[str, Any, str]] = [
    ("no query", {"file_type": "csv"}, "MISSING_REQUIRED_KEY"),
    ("no module", {"query": {"fields": ["Email"]}}, "MISSING_REQUIRED_KEY"),
    ("module as a string on CRM v8", {"query": {"module": "Contacts"}}, "INVALID_DATA"),
    ("unknown module", {"query": {"module": {"api_name": "Spaceships"}}}, "MODULE_NOT_AVAILABLE"),
    ("module bulk read refuses", {"query": {"module": {"api_name": "Emails"}}}, "MODULE_NOT_SUPPORTED"),
    ("unknown field", contacts(fields=["Last_Name", "Shoe_Size"]), "FIELD_NOT_AVAILABLE"),
    ("more than 1,000 fields", contacts(fields=["Email"] * 1001), "INVALID_DATA"),
    (
        "unknown field in criteria",
        contacts(criteria={**modified_since("2026-01-01T00:00:00+00:00"), "field": {"api_name": "Shoe_Size"}}),
        "FIELD_IN_CRITERIA_NOT_AVAILABLE",
    ),
    ("unknown comparator", contacts(criteria=modified_since("2026-01-01T00:00:00+00:00", "after")), "INVALID_CRITERIA"),
    (
        "comparator the type lacks",
        contacts(criteria={"field": {"api_name": "Last_Name"}, "comparator": "greater_than", "value": "A"}),
        "INVALID_CRITERIA",
    ),
    ("a date-time without offset", contacts(criteria=modified_since("2026-01-01T00:00:00")), "INVALID_CRITERIA"),
    (
        "group_operator xor",
        contacts(criteria={"group_operator": "xor", "group": [modified_since("2026-01-01T00:00:00+00:00")]}),
        "INVALID_CRITERIA",
    ),
    (
        "flat criterion on CRM v8",
        contacts(criteria={"api_name": "Last_Name", "comparator": "equal", "value": "x"}),
        "INVALID_CRITERIA",
    ),
    ("26 criteria", contacts(criteria={"group_operator": "or", "group": LONG_GROUP}), "CRITERIA_LIMIT_EXCEEDED"),
    (
        "201 values",
        contacts(
            criteria={"field": {"api_name": "Last_Name"}, "comparator": "in", "value": [f"n{n}" for n in range(201)]}
        ),
        "VALUE_LIMIT_EXCEEDED_IN_CRITERIA",
    ),
    ("a cvid of no view", contacts(cvid="4150868000000087501"), "INVALID_DATA"),
    ("a cvid that is a number", contacts(cvid=4150868000000087501), "INVALID_DATA"),
    ("file_type xlsx", {**contacts(), "file_type": "xlsx"}, "INVALID_DATA"),
    ("ics outside Events", {**contacts(), "file_type": "ics"}, "INVALID_DATA"),
    ("page 0", contacts(page=0), "INVALID_DATA"),
    ("an unknown key", {**contacts(), "format": "csv"}, "INVALID_DATA"),
    (
        "callback to ftp",
        {**contacts(), "callback": {"url": "ftp://example.com/cb", "method": "post"}},
        "INVALID_CALLBACK_URL",
    ),
    ("callback not a URL", {**contacts(), "callback": {"url": "not a url", "method": "post"}}, "INVALID_CALLBACK_URL"),
    (
        "callback by GET",
        {**contacts(), "callback": {"url": "https://example.com/cb", "method": "get"}},
        "INVALID_CALLBACK_METHOD",
    ),
]


@pytest.mark.parametrize(
    ("body", "code"), [(body, code) for _name, body, code in REFUSALS], ids=[n for n, _b, _c in REFUSALS]
)
def test_a_create_zoho_refuses_is_refused_with_its_code(reader: Reader, body: Any, code: str) -> None:
    assert refusal(reader.create(body))["code"] == code


def test_an_unknown_field_is_named_in_the_details(reader: Reader) -> None:
    assert refusal(reader.create(contacts(fields=["Shoe_Size"])))["details"] == {"api_name": "Shoe_Size"}
    criteria = {"field": {"api_name": "Hat_Size"}, "comparator": "equal", "value": "7"}
    assert refusal(reader.create(contacts(criteria=criteria)))["details"]["api_name"] == "Hat_Size"


def test_json_under_another_content_type_is_request_body_not_supported(reader: Reader) -> None:
    reply = reader.session.post(
        reader.url(CRM_READ),
        data=b'{"query": {"module": {"api_name": "Contacts"}}}',
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert refusal(reply)["code"] == "REQUEST_BODY_NOT_SUPPORTED"


def test_a_field_bulk_read_cannot_export_is_field_not_supported(reader: Reader) -> None:
    module = {"api_name": "Vendors", "fields": ["Vendor_Name", {"api_name": "Contract", "data_type": "fileupload"}]}
    declared = reader.session.post(
        reader.url(CRM_MODULES_ADMIN_PATH), json={"product": "crm", "modules": [module]}, timeout=10
    )
    assert declared.status_code == 200, declared.text
    reply = reader.create({"query": {"module": {"api_name": "Vendors"}, "fields": ["Vendor_Name", "Contract"]}})
    assert refusal(reply)["code"] == "FIELD_NOT_SUPPORTED"
    _job, rows = reader.rows({"query": {"module": {"api_name": "Vendors"}}})  # all fields: those it can export
    assert rows == [["id", "Vendor_Name"]]


def test_a_custom_view_s_records_are_exported_and_a_shared_view_is_cvid_not_supported(
    reader: Reader, zoho_emulator: ZohoEmulator
) -> None:
    early = modified_since("2026-01-01T00:10:00+00:00", "less_than")  # records 0 to 9
    zoho_emulator.reads.add_custom_view("crm", "Contacts", "4150868000000087501", criteria=early)
    job, _rows = reader.rows(contacts(cvid="4150868000000087501", fields=["Last_Name"]))
    assert job["result"]["count"] == 10
    named = {"field": {"api_name": "Last_Name"}, "comparator": "starts_with", "value": "Last Name 3"}
    assert (
        reader.until_done(reader.job_id(contacts(cvid="4150868000000087501", criteria=named)))["result"]["count"] == 1
    )
    shared = {"custom_views": [{"module": "Contacts", "cvid": "4150868000000087502", "exportable": False}]}
    assert reader.session.post(reader.url(f"{ADMIN_PREFIX}/crm_bulk_read"), json=shared, timeout=10).status_code == 200
    assert refusal(reader.create(contacts(cvid="4150868000000087502")))["code"] == "CVID_NOT_SUPPORTED"
    leads = {"query": {"module": {"api_name": "Leads"}, "cvid": "4150868000000087501"}}
    assert refusal(reader.create(leads))["code"] == "INVALID_DATA"  # a view of another module
    with pytest.raises(ValueError, match="digits"):
        zoho_emulator.reads.add_custom_view("crm", "Contacts", "all")


def test_a_callback_is_echoed_in_the_job_details(reader: Reader) -> None:
    callback = {"url": "https://example.com/zoho/done", "method": "post"}
    job = reader.until_done(reader.job_id({**contacts(), "callback": callback}))
    assert job["callback"] == callback


def test_a_loopback_callback_gets_the_job_s_details_once_it_completes(
    reader: Reader, zoho_emulator: ZohoEmulator
) -> None:
    second = ZohoEmulator().start()  # a loopback server that records what it receives
    try:
        url = f"{second.base_url}/zoho/read-done"
        job_id = reader.job_id({**contacts(), "callback": {"url": url, "method": "post"}})
        assert reader.until_done(job_id)["state"] == "COMPLETED"
        wait_until(lambda: zoho_emulator.reads.callbacks_sent)
        [(sent_to, body, _status)] = zoho_emulator.reads.callbacks_sent
        assert sent_to == url
        assert body["data"][0]["id"] == job_id
        assert body["data"][0]["state"] == "COMPLETED"
        assert [r.path for r in second.received_requests()] == ["/zoho/read-done"]
    finally:
        second.stop()


# -- scripts ------------------------------------------------------------------------------------------------
def test_a_test_scripts_the_next_read_to_fail(reader: Reader, zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.reads.script_next(["IN PROGRESS", "FAILURE"])
    failing = reader.job_id(contacts())
    normal = reader.job_id(contacts())
    states = [reader.status(failing).json()["data"][0]["state"] for _ in range(3)]
    assert states == ["IN PROGRESS", "FAILURE", "FAILURE"]
    assert "result" not in reader.status(failing).json()["data"][0]
    assert (
        refusal(reader.session.get(reader.url(f"{CRM_READ}/{failing}/result"), timeout=10))["code"] == "INVALID_REQUEST"
    )
    assert reader.until_done(normal)["state"] == "COMPLETED"


def test_a_created_read_s_script_may_hold_job_faults(reader: Reader, zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.reads.script_next(["IN PROGRESS", Fault("rate_limited", retry_after=2), "COMPLETED"])
    job_id = reader.job_id(contacts())
    replies = [reader.status(job_id) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 429, 200]
    assert replies[1].headers["Retry-After"] == "2"
    assert refusal(replies[1], 429)["code"] == "TOO_MANY_REQUESTS"
    assert replies[2].json()["data"][0]["result"]["count"] == 1000
    with pytest.raises(ValueError, match="not a job fault"):
        zoho_emulator.reads.script_next([{"fault": "throttle"}])
    with pytest.raises(ValueError, match="not a crm_bulk_read state"):
        zoho_emulator.reads.set_script(["DONE"])


def test_the_admin_api_scripts_reads_and_seeds_records(reader: Reader) -> None:
    admin = reader.session.post(
        reader.url(f"{ADMIN_PREFIX}/crm_bulk_read"), json={"script": ["FAILURE"], "once": True}, timeout=10
    )
    assert admin.status_code == 200, admin.text
    assert admin.json()["ok"] is True
    assert reader.status(reader.job_id(contacts())).json()["data"][0]["state"] == "FAILURE"
    seeded = reader.session.post(
        reader.url(f"{ADMIN_PREFIX}/crm_records"),
        json={
            "product": "crm",
            "module": "Leads",
            "count": 30,
            "modified_from": "2026-02-01T00:00:00+00:00",
            "step_seconds": 3600,
        },
        timeout=10,
    )
    assert seeded.json() == {"ok": True, "record_count": 30}
    job, rows = reader.rows({"query": {"module": {"api_name": "Leads"}, "fields": ["Modified_Time"]}})
    assert job["result"]["count"] == 30
    assert rows[30][1] == "2026-02-02T05:00:00+00:00"
    assert rows[1][0] == str(seed_id_base(Account(), "crm", "Leads"))  # ids unique in the org: not Contacts' ones
    assert int(rows[1][0]) != SEED_FIRST_ID
    bad = reader.session.post(
        reader.url(f"{ADMIN_PREFIX}/crm_records"), json={"module": "Nope", "count": 1}, timeout=10
    )
    assert bad.status_code == 400
    assert bad.json()["ok"] is False
    faulty = {"script": ["QUEUED", {"fault": "server_error", "status": 503}, "COMPLETED"], "once": True}
    stats = reader.session.post(reader.url(f"{ADMIN_PREFIX}/crm_bulk_read"), json=faulty, timeout=10).json()
    assert stats["created"] == 2
    job_id = reader.job_id(contacts())
    assert [reader.status(job_id).status_code for _ in range(3)] == [200, 503, 200]
    refused = reader.session.post(reader.url(f"{ADMIN_PREFIX}/crm_bulk_read"), json={"script": ["DONE"]}, timeout=10)
    assert refused.status_code == 400


# -- downloads a minute -------------------------------------------------------------------------------------
def test_the_eleventh_download_in_a_minute_is_too_many_requests(reader: Reader, zoho_emulator: ZohoEmulator) -> None:
    reads = zoho_emulator.reads
    now = [1000.0]
    reads.clock = lambda: now[0]
    job = reader.until_done(
        reader.job_id(contacts(fields=["Last_Name"], criteria=modified_since("2026-01-01T16:00:00+00:00")))
    )
    for _ in range(10):
        assert reader.download(job).status_code == 200
    eleventh = reader.download(job)
    assert refusal(eleventh, 429)["code"] == "TOO_MANY_REQUESTS"
    assert int(eleventh.headers["Retry-After"]) >= 1
    now[0] += 60  # a minute later the window has moved on
    assert reader.download(job).status_code == 200
    for _ in range(9):
        reader.download(job)
    assert reader.download(job).status_code == 429
    reset = reader.session.post(reader.url(f"{ADMIN_PREFIX}/crm_bulk_read"), json={"reset_downloads": True}, timeout=10)
    assert reset.json()["downloads"] == 20
    assert reset.json()["downloads_refused"] == 2
    stats = reader.session.get(reader.url(f"{ADMIN_PREFIX}/stats"), timeout=10).json()["bulk_read"]
    assert (stats["downloads"], stats["downloads_last_minute"]) == (20, 0)
    assert zoho_emulator.stats()["bulk_read"]["downloads_refused"] == 2
    assert reader.download(job).status_code == 200


# -- scopes -------------------------------------------------------------------------------------------------
def scoped_reader(emulator: ZohoEmulator, scope: str) -> Reader:
    client = ("scoped-client", "scoped-secret", f"refresh-{abs(hash(scope))}")
    emulator.add_client(*client, scope=scope)
    return Reader(emulator, token=token_call(emulator, client)["access_token"])


def test_a_token_without_the_bulk_read_scope_is_refused_oauth_scope_mismatch(
    reader: Reader, zoho_emulator: ZohoEmulator
) -> None:
    job = reader.until_done(reader.job_id(contacts(fields=["Email"])))
    narrow = scoped_reader(zoho_emulator, "ZohoCRM.modules.ALL,ZohoCRM.bulk.CREATE")
    assert refusal(narrow.create(contacts()), 401)["code"] == "OAUTH_SCOPE_MISMATCH"
    assert refusal(narrow.status(job["id"]), 401)["code"] == "OAUTH_SCOPE_MISMATCH"
    assert refusal(narrow.download(job), 401)["code"] == "OAUTH_SCOPE_MISMATCH"


def test_a_create_also_needs_the_module_s_read_scope(zoho_emulator: ZohoEmulator) -> None:
    no_module = scoped_reader(zoho_emulator, "ZohoCRM.bulk.READ,ZohoCRM.modules.Leads.READ")
    assert refusal(no_module.create(contacts()), 401)["code"] == "OAUTH_SCOPE_MISMATCH"
    enough = scoped_reader(zoho_emulator, "ZohoCRM.bulk.READ,ZohoCRM.modules.Contacts.READ")
    job = enough.until_done(enough.job_id(contacts()))
    assert enough.download(job).status_code == 200
    bulk_all = scoped_reader(zoho_emulator, "ZohoCRM.bulk.ALL,ZohoCRM.modules.ALL")
    assert bulk_all.create(contacts()).status_code == 201


def test_bigin_reads_need_bigin_s_scopes(zoho_emulator: ZohoEmulator) -> None:
    crm_only = scoped_reader(zoho_emulator, "ZohoCRM.bulk.ALL,ZohoCRM.modules.ALL")
    bigin = Reader(zoho_emulator, BIGIN_READ, token=crm_only.session.headers["Authorization"].split()[1])
    assert refusal(bigin.create({"query": {"module": "Contacts"}}), 401)["code"] == "OAUTH_SCOPE_MISMATCH"
    allowed = scoped_reader(zoho_emulator, "ZohoBigin.bulk.READ,ZohoBigin.modules.Contacts.READ")
    allowed.base = BIGIN_READ
    assert allowed.create({"query": {"module": "Contacts"}}).status_code == 201


# -- records written by bulk writes -------------------------------------------------------------------------
def test_a_bulk_written_record_appears_in_a_later_read_with_its_timestamps(
    reader: Reader, zoho_emulator: ZohoEmulator
) -> None:
    zoho_emulator.writes.account.clock = lambda: 1_780_000_000.0  # 2026-05-28T20:26:40+00:00
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("Contacts.csv", "Last_Name,Email\nBoyle,pat@example.com\n")
    files = {"file": ("Contacts.zip", data.getvalue(), "application/zip")}
    upload = reader.session.post(
        reader.url("/crm/v8/upload"), files=files, headers={"feature": "bulk-write", "X-CRM-ORG": ORG_ZGID}, timeout=10
    )
    resource = {"type": "data", "module": {"api_name": "Contacts"}, "file_id": upload.json()["details"]["file_id"]}
    write = reader.session.post(
        reader.url("/crm/bulk/v8/write"), json={"operation": "insert", "resource": [resource]}, timeout=10
    )
    assert write.status_code == 201, write.text
    criteria = modified_since("2026-05-01T00:00:00+00:00")
    job, rows = reader.rows(contacts(fields=["Last_Name", "Email", "Created_Time", "Modified_Time"], criteria=criteria))
    assert job["result"]["count"] == 1
    [(record_id, *values)] = rows[1:]
    assert values == ["Boyle", "pat@example.com", "2026-05-28T20:26:40+00:00", "2026-05-28T20:26:40+00:00"]
    assert int(record_id) > SEED_FIRST_ID + 1000  # after the seeded records, in id order
    _job, everything = reader.rows(contacts(fields=["Email"]))
    assert everything[-1] == [record_id, "pat@example.com"]


# -- Bigin ----------------------------------------------------------------------------------------------------
def test_bigin_takes_its_samples_plain_module_and_flat_criteria(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.reads.seed_records("bigin", "Pipelines", 50, modified_from="2026-03-01T00:00:00+00:00")
    bigin = Reader(zoho_emulator, BIGIN_READ)
    criteria = {"api_name": "Modified_Time", "comparator": "greater_equal", "value": "2026-03-01T00:45:00+00:00"}
    job, rows = bigin.rows({"query": {"module": "Pipelines", "fields": ["Deal_Name", "Stage"], "criteria": criteria}})
    assert job["result"]["download_url"] == f"/bigin/bulk/v2/read/{job['id']}/result"
    assert job["result"]["count"] == 5
    assert rows[0] == ["id", "Deal_Name", "Stage"]
    object_form = {"query": {"module": {"api_name": "Pipelines"}}}
    assert bigin.create(object_form).status_code == 201
    assert (
        refusal(bigin.create({"query": {"module": "Deals"}}))["code"] == "MODULE_NOT_AVAILABLE"
    )  # Bigin's deals are Pipelines
    assert refusal(bigin.status("4150868000009999999"), 404)["code"] == "RESOURCE_NOT_FOUND"
