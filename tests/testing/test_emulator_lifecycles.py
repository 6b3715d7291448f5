"""Each product's job lifecycle in the emulator over real HTTP: Analytics, CRM and Bigin bulk write, Creator.

Over real HTTP (urllib for sync tests, aiohttp for concurrency and streams, requests where redirects and raw
bodies matter). The expectations are written from Zoho's docs (``docs/zoho-api.md``) and the doc samples,
independently of the emulator's dialect table, so a slip in that table shows up here.
"""

from __future__ import annotations

import time

import pytest

from airflow_provider_zoho.testing import ZohoEmulator
from tests.testing.emulator_calls import (
    FACTS,
    add,
    http,
    new_token,
    poll,
    status_url,
)


# ---------------------------------------------------------------------------------------------------------
# Lifecycles
# ---------------------------------------------------------------------------------------------------------
def test_analytics_lifecycle_and_sample_shape(zoho_emulator: ZohoEmulator) -> None:
    kind = "analytics_import"
    add(zoho_emulator, kind, "1767024000003153087", ["1001", "1002", "1004"], counts={"totalRowCount": 755})
    token = new_token(zoho_emulator)
    bodies = [poll(zoho_emulator, kind, "1767024000003153087", token).json() for _ in range(4)]
    assert [b["data"]["jobCode"] for b in bodies] == ["1001", "1002", "1004", "1004"], "last step repeats"
    assert [b["data"]["jobStatus"] for b in bodies[:3]] == ["JOB NOT INITIATED", "JOB IN PROGRESS", "JOB COMPLETED"]
    assert all(b["status"] == "success" for b in bodies)
    assert "jobInfo" not in bodies[0]["data"]
    assert "jobInfo" not in bodies[1]["data"]
    done = bodies[2]["data"]
    assert done["jobId"] == "1767024000003153087"
    assert set(done) == {"jobId", "jobCode", "jobStatus", "jobInfo", "expiryTime"}
    assert isinstance(done["expiryTime"], str)
    assert done["expiryTime"].isdigit()
    assert int(done["expiryTime"]) > time.time() * 1000
    info = done["jobInfo"]
    assert set(info) == {"viewId", "importSummary", "columnDetails", "importErrors"}
    assert set(info["importSummary"]) == {
        "importType",
        "totalColumnCount",
        "selectedColumnCount",
        "totalRowCount",
        "successRowCount",
        "warnings",
        "importOperation",
    }
    assert info["importSummary"]["totalRowCount"] == 755
    assert zoho_emulator.status_requests("1767024000003153087") == 4


def test_analytics_failed_job_and_request_errors(zoho_emulator: ZohoEmulator) -> None:
    kind = "analytics_import"
    add(zoho_emulator, kind, "bad", ["1003"], error_code=7235, error_message="no column matches")
    token = new_token(zoho_emulator)
    info = poll(zoho_emulator, kind, "bad", token).json()["data"]["jobInfo"]
    assert (info["errorCode"], info["errorMessage"]) == (7235, "no column matches")
    assert info["importSummary"]["successRowCount"] < info["importSummary"]["totalRowCount"]

    missing_org = http(
        "GET", status_url(zoho_emulator, kind, "bad"), headers={"Authorization": f"Zoho-oauthtoken {token}"}
    )
    assert missing_org.status == 400
    assert missing_org.json()["summary"] == "ORGID_NOT_PRESENT_IN_THE_HEADER"
    assert missing_org.json()["data"]["errorCode"] == 8083

    wrong_ws = poll(zoho_emulator, kind, "bad", token, coords={**FACTS[kind].coordinates, "workspace_id": "999"})
    assert (wrong_ws.status, wrong_ws.json()["data"]["errorCode"]) == (404, 7103)

    wrong_org = poll(zoho_emulator, kind, "bad", token, coords={**FACTS[kind].coordinates, "org_id": "1"})
    assert wrong_org.status >= 400
    assert wrong_org.json()["status"] == "failure"

    unknown = poll(zoho_emulator, kind, "nope", token)
    assert unknown.status == 200, "Zoho documents an unknown import job as a success envelope"
    assert unknown.json()["data"]["jobCode"] == "1005"
    assert unknown.json()["data"]["jobStatus"] == "JOB NOT FOUND"


@pytest.mark.parametrize(("kind", "prefix"), [("crm_bulk_write", "/crm/"), ("bigin_bulk_write", "/bigin/")])
def test_bulk_write_lifecycle(zoho_emulator: ZohoEmulator, kind: str, prefix: str) -> None:
    add(zoho_emulator, kind, "111", ["ADDED", "IN PROGRESS", "COMPLETED"], counts={"added_count": 5, "total_count": 5})
    token = new_token(zoho_emulator)
    added, running, done = (poll(zoho_emulator, kind, "111", token).json() for _ in range(3))
    assert [b["status"] for b in (added, running, done)] == ["ADDED", "IN PROGRESS", "COMPLETED"]
    assert "result" not in added
    assert "result" not in running
    assert done["result"]["download_url"].endswith("/111.zip")
    assert done["id"] == "111"
    assert done["operation"] == "insert"
    assert done["character_encoding"] == "UTF-8"
    resource = done["resource"][0]
    assert (resource["status"], resource["type"], resource["module"]["api_name"]) == ("COMPLETED", "data", "Deals")
    assert resource["file"] == {
        "status": "COMPLETED",
        "name": "Deals.csv",
        "added_count": 5,
        "skipped_count": 0,
        "updated_count": 0,
        "total_count": 5,
    }
    other = "bigin_bulk_write" if kind == "crm_bulk_write" else "crm_bulk_write"
    not_found = poll(zoho_emulator, other, "111", token)
    assert not_found.status == 404, "CRM and Bigin jobs live in separate namespaces"
    assert not_found.json() == {
        "code": "RESOURCE_NOT_FOUND",
        "details": {},
        "message": "The requested resource doesn't exist.",
        "status": "error",
    }
    assert prefix in status_url(zoho_emulator, kind, "111")


@pytest.mark.parametrize("kind", ["crm_bulk_write", "bigin_bulk_write"])
def test_bulk_write_failures_and_spelling_variants(zoho_emulator: ZohoEmulator, kind: str) -> None:
    add(zoho_emulator, kind, "f", ["INPROGRESS", "FAILED"])
    add(zoho_emulator, kind, "jf", ["JOB_FAILED"])
    token = new_token(zoho_emulator)
    assert poll(zoho_emulator, kind, "f", token).json()["status"] == "INPROGRESS", "reported as written"
    failed = poll(zoho_emulator, kind, "f", token).json()
    assert failed["status"] == "COMPLETED"
    assert failed["resource"][0]["status"] == "FAILED"
    assert failed["resource"][0]["file"]["status"] == "FAILED"
    job_failed = poll(zoho_emulator, kind, "jf", token).json()
    assert job_failed["status"] == "FAILED"
    assert job_failed["resource"][0]["status"] == "FAILED"
    assert "result" not in job_failed


def test_creator_lifecycle_environment_and_path_errors(zoho_emulator: ZohoEmulator) -> None:
    kind = "creator_bulk_insert"
    add(zoho_emulator, kind, "3888833000000114027", ["Ready-to-upload", "In-progress", "Completed"])
    zoho_emulator.add_job(
        kind, "dev-job", ["Failed"], counts={"failed_records": 3}, environment="development", **FACTS[kind].coordinates
    )
    token = new_token(zoho_emulator)
    bodies = [poll(zoho_emulator, kind, "3888833000000114027", token).json() for _ in range(3)]
    assert [b["data"]["api_status"] for b in bodies] == ["Ready-to-upload", "In-progress", "Completed"]
    assert all(b["code"] == 3000 for b in bodies)
    assert bodies[2]["data"]["record_details"] == {
        "total_records": 100,
        "failed_records": 0,
        "unprocessed_records": 0,
        "success_records": 100,
    }

    no_env = poll(zoho_emulator, kind, "dev-job", token)
    assert (no_env.status, no_env.json()["code"]) == (404, 1000)
    with_env = poll(zoho_emulator, kind, "dev-job", token, extra_headers={"environment": "development"})
    assert with_env.status == 200
    assert with_env.json()["data"]["api_status"] == "Failed"
    assert with_env.json()["data"]["record_details"]["failed_records"] == 3

    wrong_owner = poll(
        zoho_emulator, kind, "dev-job", token, coords={**FACTS[kind].coordinates, "account_owner_name": "x"}
    )
    assert (wrong_owner.status, wrong_owner.json()["code"]) == (404, 1040)
    wrong_form = poll(
        zoho_emulator, kind, "3888833000000114027", token, coords={**FACTS[kind].coordinates, "form_link_name": "F"}
    )
    assert (wrong_form.status, wrong_form.json()["code"]) == (404, 1000)
    unknown = poll(zoho_emulator, kind, "nope", token)
    assert (unknown.status, unknown.json()["code"]) == (404, 1000)
