"""What an answer controls stays an answer: a job id is never a path or a log line, a token follows only a
URL that every parser reads alike, a downloaded text is redacted before it becomes a message, and a stored
state is checked as an answer is.

Each test puts a forging proxy (or a second server) between the operators and the emulator, over real HTTP.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.auth import main as auth_main
from airflow_provider_zoho.compat import AirflowException, AirflowFailException, TimeDeltaTrigger
from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.transport import token_destination, token_may_go_to
from airflow_provider_zoho.operators import ZohoCreatorBulkInsertOperator, ZohoCRMBulkWriteOperator
from airflow_provider_zoho.operators.base import DURABLE_SUPPORTED
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import Outcomes
from airflow_provider_zoho.testing.creator_insert import InsertOutcomes
from tests.forging_proxy import Forged, ForgingProxy, json_rewrite
from tests.helpers import StateStore, TaskInstance, captured_log, context, first_event, rebuild, run, run_sensor

CONN_ID = "zoho_default"
OWNER, APP, FORM = "jason18", "zylker-store", "Employee_Details"


def contacts(path: Path, rows: int = 3) -> str:
    path.write_text("Last_Name,Email\n" + "".join(f"Boyle{n},pat{n}@example.com\n" for n in range(rows)))
    return str(path)


def crm(**kwargs: Any) -> ZohoCRMBulkWriteOperator:
    return ZohoCRMBulkWriteOperator(task_id="load", module="Contacts", poll_interval=0.05, timeout=60, **kwargs)


def creator(**kwargs: Any) -> ZohoCreatorBulkInsertOperator:
    options = {"account_owner_name": OWNER, "app_link_name": APP, "form_link_name": FORM}
    return ZohoCreatorBulkInsertOperator(task_id="load", poll_interval=0.05, timeout=60, **options, **kwargs)


def status_polls(emulator: ZohoEmulator) -> list[str]:
    return [r.path for r in emulator.received_requests() if r.method == "GET" and "/bulk/" in r.path]


# -- job ids from answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged_id",
    ["{dags}/zoho_result", "../../zoho_result", "4150868000001\r\nINFO - Task exited with return code 0", "12 34"],
    ids=["absolute-path", "relative-path", "crlf", "space"],
)
def test_a_created_job_id_that_is_not_digits_fails_the_task_and_names_it(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path, forged_id: str
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    forged = forged_id.format(dags=dags)

    def with_forged_id(body: Any) -> Any:
        body["details"]["id"] = forged
        return body

    proxy.forge("POST", "/crm/bulk/v8/write", json_rewrite(with_forged_id))
    zoho_emulator.set_bulk_write_outcomes(Outcomes(skipped={2: "DUPLICATE_DATA-Email"}))
    store = StateStore()
    with captured_log() as lines, pytest.raises(ZohoError, match="is not a Zoho job id") as raised:
        run(crm(file=contacts(tmp_path / "c.csv"), max_failed_records=None), context(store))
    assert repr(forged)[:60] in str(raised.value)
    assert "\r" not in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not any("Task exited" in line.split(" - ", 1)[0] for line in lines)
    assert list(dags.iterdir()) == []
    assert not (tmp_path / "zoho_result.zip").exists()
    assert status_polls(zoho_emulator) == []
    assert store.values == {}


def test_a_creator_job_id_with_dot_segments_never_reaches_another_path(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    def with_forged_id(body: Any) -> Any:
        body["details"]["job_id"] = "1/../../../../report/All_Employees"
        return body

    proxy.forge("POST", f"/form/{FORM}/insert", json_rewrite(with_forged_id))
    with pytest.raises(ZohoError, match="is not a Zoho job id"):
        run(creator(file=contacts(tmp_path / "e.csv")), context())
    # Nothing but the checks before spending (the form's metadata, read before the create) is a GET.
    after_create = [f"{r.method} {r.path}" for r in zoho_emulator.received_requests() if r.method != "POST"]
    assert [call for call in after_create if "/creator/" in call and "/creator/v2.1/meta/" not in call] == []


# -- stored state ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "named"),
    [
        ({"job_ids": ["../../x"], "first_rows": [2], "complete": True}, "job_ids[0]: '../../x' is not a Zoho job id"),
        ({"job_ids": ["4150868000001"], "first_rows": [2], "complete": "false"}, "complete must be true or false"),
        ({"job_ids": ["4150868000001"], "first_rows": ["2"], "complete": True}, "first_rows must be input line"),
        ("4150868000001", "not what this operator writes"),
        (["4150868000001", {"id": 1}], "job_ids[1]: {'id': 1} is not a Zoho job id"),
    ],
    ids=["path", "complete-as-text", "rows-as-text", "text", "object-in-list"],
)
@pytest.mark.skipif(not DURABLE_SUPPORTED, reason="task_state_store is Airflow 3.3's (below it a retry creates anew)")
def test_a_corrupt_stored_state_fails_the_task_without_creating_a_job(
    zoho_conn: ZohoEmulator, tmp_path: Path, stored: Any, named: str
) -> None:
    store = StateStore()
    store.values["zoho_job_ids"] = stored
    with pytest.raises(AirflowFailException, match="corrupt") as raised:
        run(crm(file=contacts(tmp_path / "c.csv")), context(store))
    assert named in str(raised.value)
    assert zoho_conn.created_jobs() == []
    assert status_polls(zoho_conn) == []


def test_a_resume_from_xcom_with_a_forged_id_fails_the_task(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    """Without the deferral's kwargs and without a store, the ids come from XCom: checked there too."""
    ti = TaskInstance()
    ti.xcom_push("zoho_job_ids", ["4150868000001\nforged line"])
    operator = crm(file=contacts(tmp_path / "c.csv"))
    event = {"status": "success", "message": "done", "summary": {"job_id": "4150868000001"}}
    with pytest.raises(AirflowFailException, match=r"job_ids\[0\]: '4150868000001\\nforged line'"):
        operator.execute_complete({"ti": ti}, event=event)  # type: ignore[arg-type]
    assert status_polls(zoho_conn) == []


# -- where the token goes --------------------------------------------------------------------------------------


def config(**fields: Any) -> ZohoConnectionConfig:
    return ZohoConnectionConfig.from_fields(
        "z", login="id", password="s", host=fields.pop("host", None), extra={"refresh_token": "r", **fields}
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example\\@download.zohocrm.com/x.zip",
        "https://evil.example%5C@download.zohocrm.com/x.zip",
        "https://user@download.zohocrm.com/x.zip",
        "https://download.zohocrm.com\t/x.zip",
        "https://download.zohocrm.com/x.zip\r\nX: 1",
        "https://download.zohocrm.com:8443/x.zip",
        "https://dównload.zohocrm.com/x.zip",
        "ftp://download.zohocrm.com/x.zip",
        "http://download.zohocrm.com/x.zip",
    ],
)
def test_no_token_for_a_url_whose_readings_differ_or_that_leaves_https(url: str) -> None:
    assert not token_may_go_to(url, config())


def test_an_override_host_is_trusted_at_its_scheme_host_and_port_only() -> None:
    https_proxy = config(host="https://zoho-proxy.internal:8443")
    assert token_may_go_to("https://zoho-proxy.internal:8443/x.zip", https_proxy)
    assert not token_may_go_to("http://zoho-proxy.internal:8443/x.zip", https_proxy)
    assert not token_may_go_to("https://zoho-proxy.internal:9443/x.zip", https_proxy)
    assert not token_may_go_to("https://zoho-proxy.internal/x.zip", https_proxy)
    assert token_may_go_to("https://download.zohocrm.com/x.zip", https_proxy)
    assert token_destination("HTTPS://Download.ZohoCRM.com/x") == ("https", "download.zohocrm.com", 443)


def test_a_result_link_with_a_backslash_gets_no_token_where_requests_would_connect(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    """``urlsplit`` reads the host after the ``@``; requests connects to the one before the backslash."""
    with ZohoEmulator() as elsewhere:
        emulator_netloc = zoho_conn.base_url.removeprefix("http://")
        zoho_conn.set_download_base(f"{elsewhere.base_url}\\@{emulator_netloc}")
        zoho_conn.set_bulk_write_outcomes(Outcomes(skipped={2: "DUPLICATE_DATA-Email"}))
        with captured_log() as lines:
            summary = run(crm(file=contacts(tmp_path / "c.csv"), max_failed_records=None), context())
        assert elsewhere.received_requests() == []
    assert summary["counts"]["skipped"] == 1
    assert "not downloading its result" in "\n".join(lines)


def test_a_poke_mode_status_redirect_with_a_backslash_is_not_followed(zoho_conn: ZohoEmulator) -> None:
    with ZohoEmulator() as elsewhere:
        emulator_netloc = zoho_conn.base_url.removeprefix("http://")
        forged = f"{elsewhere.base_url}\\@{emulator_netloc}/crm/bulk/v8/write/31"
        zoho_conn.add_job("crm_bulk_write", "31", [Fault("redirect", location=forged), "COMPLETED"])
        sensor = ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="31", poke_interval=0.05, timeout=30)
        with captured_log() as lines:
            summary = run_sensor(sensor)
        assert elsewhere.received_requests() == []
    assert summary["state"] == "COMPLETED"
    assert "a URL parsers read differently" in "\n".join(lines)


# -- downloaded text becomes a message only once redacted -------------------------------------------------------


def echo_of_the_request(status: int, body_of: str) -> Any:
    """A rule answering with the request's own headers, the access token among them, in ``body_of``."""

    def rewrite(headers: dict[str, str], _status: int, _body: bytes) -> Forged:
        echoed = json.dumps(headers)
        return Forged(status, body_of.replace("ECHO", echoed.replace('"', "'")).encode(), "text/html")

    return rewrite


@pytest.mark.parametrize(
    "body_of",
    ['{"code": 2945, "message": "Invalid OAuth scope for ECHO"}', "<html>debug: ECHO</html>"],
    ids=["creator-error", "not-json"],
)
def test_a_creator_failure_result_echoing_the_token_never_shows_it(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path, body_of: str
) -> None:
    zoho_emulator.creator_inserts.outcomes = InsertOutcomes(failed={2: "Invalid email"})
    proxy.forge("GET", "/result", echo_of_the_request(200, body_of))
    with captured_log() as lines, pytest.raises(AirflowException) as raised:
        run(creator(file=contacts(tmp_path / "e.csv"), max_failed_records=None), context())
    assert proxy.seen_tokens
    for token in proxy.seen_tokens:
        assert token not in str(raised.value)
        assert token not in "\n".join(lines)
    assert "***" in str(raised.value)


# -- waits belong in the triggerer ------------------------------------------------------------------------------


def test_a_creator_result_still_being_generated_is_waited_for_in_the_triggerer(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(failed={3: "Invalid email"}, result_pending=2)
    operator = creator(file=contacts(tmp_path / "e.csv", 4), max_failed_records=None, deferrable=True)
    ctx = context()
    triggers: list[str] = []
    try:
        summary = operator.execute(ctx)  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        while True:
            triggers.append(type(deferred.trigger).__name__)
            event = asyncio.run(first_event(rebuild(deferred.trigger)))
            try:
                summary = getattr(operator, deferred.method_name)(ctx, event=event, **(deferred.kwargs or {}))
                break
            except TaskDeferred as again:
                deferred = again
    assert triggers.count(TimeDeltaTrigger.__name__) == 2
    assert triggers[0] == "ZohoJobTrigger"
    assert summary["counts"]["failed"] == 1
    assert [record["errors"] for record in summary["failed_records"]] == ["Invalid email"]


# -- the credentials command ----------------------------------------------------------------------------------


def test_the_credentials_command_prints_no_terminal_escape_from_an_answer(zoho_emulator: ZohoEmulator) -> None:
    with ForgingProxy(zoho_emulator.base_url) as forging:
        evil = {"error": "invalid_code\x1b]0;owned\x07", "error_description": "\x1b[2J\x1b[8mhidden"}
        forging.forge("POST", "/oauth/v2/token", json_rewrite(lambda _: evil))
        out, err = io.StringIO(), io.StringIO()
        code = auth_main(
            [
                "--data-center",
                "us",
                "--client-id",
                "1000.X",
                "--client-secret",
                "s3cret-value",
                "--grant-code",
                "1000.code",
                "--accounts-url",
                forging.url,
            ],
            stdout=out,
            stderr=err,
        )
    assert code == 1
    assert "\x1b" not in err.getvalue()
    assert "\x07" not in err.getvalue()
    assert "invalid_code\\x1b]0;owned\\x07" in err.getvalue()


def test_a_zip_result_is_still_read_after_the_zip_check(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    """The not-a-zip check looks at the first bytes only: a real result's rows still reach the summary."""
    zoho_conn.creator_inserts.outcomes = InsertOutcomes(failed={2: "Invalid email"})
    summary = run(creator(file=contacts(tmp_path / "e.csv"), max_failed_records=None), context())
    assert summary["counts"]["failed"] == 1
    assert summary["failed_records"][0]["errors"] == "Invalid email"


def test_a_result_row_echoing_the_token_reaches_xcom_redacted(
    proxy: ForgingProxy, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    def echoing_result(headers: dict[str, str], _status: int, _body: bytes) -> Forged:
        echoed = headers.get("Authorization", "")
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            archive.writestr("result.csv", f"Last_Name,Email,STATUS,RECORD_ID,ERRORS\nBoyle0,{echoed},skipped,,X\n")
        return Forged(200, data.getvalue(), "application/zip")

    zoho_emulator.set_bulk_write_outcomes(Outcomes(skipped={2: "DUPLICATE_DATA-Email"}))
    proxy.forge("GET", "/bulk-write/", echoing_result, forward=False)
    summary = run(crm(file=contacts(tmp_path / "c.csv"), max_failed_records=None), context())
    assert proxy.seen_tokens
    assert summary["failed_records"][0]["Email"] == "Zoho-oauthtoken ***"
    assert not any(token in json.dumps(summary) for token in proxy.seen_tokens)
