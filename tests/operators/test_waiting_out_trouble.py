"""Every call a load operator makes waits out what can be waited out, and fails at once what cannot.

A refused token request, a 429 (with Retry-After) or a Zoho 500 on any of an operator's calls (the org
lookup, the upload, the create, Creator's start, the result download) ends in success within the task's
deadline; wrong credentials or a refused permission fail the task without its retries, which would only
spend more of Zoho's token budget. Over real HTTP, through a forging proxy in front of the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.operators import (
    ZohoAnalyticsImportOperator,
    ZohoCreatorBulkInsertOperator,
    ZohoCRMBulkWriteOperator,
)
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import Outcomes
from airflow_provider_zoho.testing.creator_insert import InsertOutcomes
from tests.forging_proxy import Forged, ForgingProxy
from tests.helpers import APP, FORM, OWNER, VIEW, WORKSPACE, context, run


def csv_file(path: Path, header: str) -> str:
    path.write_text(header + "\n" + "".join(f"Boyle{n},pat{n}@example.com\n" for n in range(3)))
    return str(path)


def crm(tmp_path: Path) -> ZohoCRMBulkWriteOperator:
    file = csv_file(tmp_path / "c.csv", "Last_Name,Email")
    return ZohoCRMBulkWriteOperator(
        task_id="load_contacts", module="Contacts", file=file, poll_interval=0.05, timeout=120, max_failed_records=None
    )


def creator(tmp_path: Path) -> ZohoCreatorBulkInsertOperator:
    return ZohoCreatorBulkInsertOperator(
        task_id="load_employees",
        account_owner_name=OWNER,
        app_link_name=APP,
        form_link_name=FORM,
        file=csv_file(tmp_path / "e.csv", "Name.first_name,Email"),
        poll_interval=0.05,
        timeout=120,
        max_failed_records=None,
    )


def analytics(tmp_path: Path) -> ZohoAnalyticsImportOperator:
    return ZohoAnalyticsImportOperator(
        task_id="load_sales",
        workspace_id=WORKSPACE,
        view_id=VIEW,
        file=csv_file(tmp_path / "s.csv", "Region,Email"),
        poll_interval=0.05,
        timeout=120,
    )


def throttled(_headers: dict[str, str], _status: int, _body: bytes) -> Forged:
    body = {"code": "TOO_MANY_REQUESTS", "details": {}, "message": "too many requests", "status": "error"}
    return Forged(429, json.dumps(body).encode(), headers=(("Retry-After", "0"),))


def server_error(_headers: dict[str, str], _status: int, _body: bytes) -> Forged:
    body = {"code": "INTERNAL_ERROR", "details": {}, "message": "internal error", "status": "error"}
    return Forged(500, json.dumps(body).encode())


# (operator, method, path part) for each call an operator makes besides status polls.
CALLS = {
    "crm-org": (crm, "GET", "/crm/v8/org"),
    "crm-upload": (crm, "POST", "/crm/v8/upload"),
    "crm-create": (crm, "POST", "/crm/bulk/v8/write"),
    "crm-result": (crm, "GET", "/bulk-write/"),
    "creator-create": (creator, "POST", f"/form/{FORM}/insert"),
    "creator-start": (creator, "PATCH", f"/form/{FORM}/insert/"),
    "creator-result": (creator, "GET", "/result"),
    "analytics-import": (analytics, "POST", f"/workspaces/{WORKSPACE}/views/{VIEW}/data"),
}


def fail_some_rows(emulator: ZohoEmulator) -> None:
    """Rows that did not land, so that each operator downloads its result file."""
    emulator.set_bulk_write_outcomes(Outcomes(skipped={2: "DUPLICATE_DATA-Email"}))
    emulator.creator_inserts.outcomes = InsertOutcomes(failed={2: "Invalid email"})


@pytest.mark.parametrize("answer", [throttled, server_error], ids=["429", "500"])
@pytest.mark.parametrize("call", list(CALLS))
def test_every_call_waits_out_a_429_and_a_500(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path, call: str, answer: Any
) -> None:
    make, method, path_part = CALLS[call]
    fail_some_rows(zoho_emulator)
    proxy.forge(method, path_part, answer, times=2, forward=False)
    summary = run(make(tmp_path), context())
    assert summary["state"] == "COMPLETED"
    hits = [r for r in zoho_emulator.received_requests() if r.method == method and path_part in r.path]
    assert hits, f"the {call} call never reached Zoho after the forged answers"
    # The refused creates created nothing: one job exists, and its failed rows were read from its result.
    created = [
        *zoho_emulator.created_jobs(),
        *zoho_emulator.creator_inserts.created,
        *zoho_emulator.analytics_imports.created,
    ]
    assert len(created) == 1
    if not call.startswith("analytics"):
        assert summary["failed_records"], "the result file was not read"


@pytest.mark.parametrize("make", [crm, creator, analytics], ids=["crm", "creator", "analytics"])
def test_a_refused_token_request_is_waited_out(
    zoho_emulator: ZohoEmulator, zoho_conn: ZohoEmulator, make: Any, tmp_path: Path
) -> None:
    fail_some_rows(zoho_conn)
    zoho_conn.script_accounts([Fault("throttle")])
    summary = run(make(tmp_path), context())
    assert summary["state"] == "COMPLETED"
    assert zoho_conn.token_requests() == 2


@pytest.mark.parametrize("fault", ["invalid_code", "invalid_client"])
@pytest.mark.parametrize("make", [crm, creator, analytics], ids=["crm", "creator", "analytics"])
def test_wrong_credentials_fail_at_once_without_retries(
    zoho_conn: ZohoEmulator, make: Any, tmp_path: Path, fault: str
) -> None:
    zoho_conn.script_accounts([Fault(fault)])
    with pytest.raises(AirflowFailException, match=fault) as raised:
        run(make(tmp_path), context())
    assert "no retry can fix this" in str(raised.value)
    assert zoho_conn.token_requests() == 1
    if fault == "invalid_code":
        assert "zoho-airflow-auth" in str(raised.value)


def test_no_permission_on_create_fails_at_once(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    def refused(_headers: dict[str, str], _status: int, _body: bytes) -> Forged:
        body = {"code": "NO_PERMISSION", "details": {}, "message": "permission denied", "status": "error"}
        return Forged(403, json.dumps(body).encode())

    proxy.forge("POST", "/crm/bulk/v8/write", refused)
    with pytest.raises(AirflowFailException, match="NO_PERMISSION"):
        run(crm(tmp_path), context())
