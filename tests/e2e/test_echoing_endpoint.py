"""No secret leaves the provider under a real scheduler and triggerer, even when Zoho echoes the request.

The emulator echoes every request's headers (the access token) in error messages and in final answers,
and the token endpoint answers one refresh with an HTML page holding the form (client secret, refresh
token). Afterwards the connection's secrets and every access token issued must be absent from the task
and trigger logs, each component's own log, ``task_instance.next_kwargs``, XCom, and a dump of the whole
metadata database; the echoes themselves must be there, redacted, so the test cannot pass vacuously.

Two loads meet answers built to leak: a Creator failure result that echoes the request with HTTP 200, and a
CRM result link ``http://<elsewhere>\\@<emulator>/...``, which ``urlsplit`` reads as the emulator and
``requests`` would connect to as ``elsewhere``: nothing may reach that second server.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_zoho.compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import Outcomes
from airflow_provider_zoho.testing.creator_insert import InsertOutcomes

if TYPE_CHECKING:
    from .conftest import AirflowDeployment

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="starts Airflow 3's api-server and dag-processor"),
]

DAG_ID = "e2e_echo"
# Pending answers after the first poke keep each deferred sensor waiting well past its deferral.
PENDING = ["IN PROGRESS"] * 4
JOBS = {
    "deferred": ("710000000000000001", [*PENDING, Fault("echo", status=502), Fault("echo", value="COMPLETED")]),
    "failed": ("710000000000000002", [*PENDING, Fault("invalid_token"), Fault("echo", value="FAILED")]),
    "ended_by_trigger": ("710000000000000003", [*PENDING, Fault("echo", value="COMPLETED")]),
    "poking": ("710000000000000004", ["IN PROGRESS", Fault("echo", status=502), Fault("echo", value="COMPLETED")]),
}
EXPECTED = {
    "wait_deferred": "success",
    "wait_failed": "failed",
    "wait_ended_by_trigger": "success",
    "wait_poking": "success",
    "load_creator_echo": "failed",
    "load_crm_backslash": "success",
}
FAILURE_CALLBACK_MARK = "on_failure_callback saw:"


def everything_airflow_wrote(deployment: AirflowDeployment) -> dict[str, str]:
    texts = {
        str(path): path.read_text(errors="replace")
        for folder in (deployment.logs, deployment.home / "logs")
        for path in folder.rglob("*")
        if path.is_file()
    }
    with sqlite3.connect(f"file:{deployment.home / 'airflow.db'}?mode=ro", uri=True, timeout=10) as db:
        texts["metadata database dump"] = "\n".join(db.iterdump())
    return texts


def test_echoed_secrets_reach_no_log_xcom_or_database(
    airflow_deployment: AirflowDeployment, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    deployment, emulator = airflow_deployment, zoho_emulator
    for job_id, script in JOBS.values():
        emulator.add_job("crm_bulk_write", job_id, ["ADDED", *script])
    files = {"creator_file": tmp_path / "employees.csv", "crm_file": tmp_path / "contacts.csv"}
    files["creator_file"].write_text("Name.first_name,Email\nPat,pat@example.com\nSam,not-an-email\n")
    files["crm_file"].write_text("Last_Name,Email\nBoyle,pat@example.com\nShaw,sam@example.com\n")
    emulator.creator_inserts.outcomes = InsertOutcomes(failed={3: "Invalid email"}, result_echo=True)
    emulator.set_bulk_write_outcomes(Outcomes(skipped={3: "DUPLICATE_DATA-Email"}))
    elsewhere = ZohoEmulator().start()
    emulator.set_download_base(f"{elsewhere.base_url}\\@{emulator.base_url.removeprefix('http://')}")
    deployment.wait_until(f"{DAG_ID} to be parsed", lambda: deployment.api("GET", f"/dags/{DAG_ID}"), 60)
    # Whichever process asks for a token first gets the echoed form (an HTML 500) and asks again later.
    emulator.script_accounts([Fault("echo")])
    run_id = deployment.api(
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        json={
            "logical_date": None,
            "conf": {
                **{name: job_id for name, (job_id, _) in JOBS.items()},
                **{name: str(path) for name, path in files.items()},
            },
        },
    )["dag_run_id"]

    def finished() -> bool:
        return deployment.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"] in ("success", "failed")

    try:
        deployment.wait_until("the run to finish", finished, 180, interval=0.5)
    finally:
        elsewhere.stop()
    assert elsewhere.received_requests() == [], "a request followed the backslash to the other host"
    answer = deployment.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
    assert {ti["task_id"]: ti["state"] for ti in answer["task_instances"]} == EXPECTED
    time.sleep(1)  # let the triggerer and task runners flush their last log lines

    client = ZohoEmulator.DEFAULT_CLIENT
    secrets = {"client secret": client.client_secret, "refresh token": client.refresh_token}
    secrets.update({f"access token {n}": token for n, token in enumerate(emulator.issued_tokens)})
    assert len(secrets) >= 3, "no access token was issued: nothing was tested"
    texts = everything_airflow_wrote(deployment)
    leaks = [(what, where) for where, text in texts.items() for what, secret in secrets.items() if secret in text]
    assert leaks == []
    # The echoes happened and were kept, redacted: in XCom (the database) and in the logs.
    assert "Zoho-oauthtoken ***" in texts["metadata database dump"]
    assert any("Zoho-oauthtoken ***" in text for name, text in texts.items() if name.endswith(".log"))
    # The Creator echo reached the task's exception and the user's callback, redacted.
    callback_lines = [line for text in texts.values() for line in text.splitlines() if FAILURE_CALLBACK_MARK in line]
    assert callback_lines, "on_failure_callback did not run: the Creator echo was not tested"
    assert any("INVALID_RESPONSE" in line for line in callback_lines), callback_lines[:3]
    # The backslash link was refused, not followed, and the load still reported its counts.
    assert any("not downloading its result" in text for text in texts.values())
