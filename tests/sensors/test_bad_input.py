"""Bad arguments fail when the DAG is parsed, bad rendered values and bad connections when the task runs.

Complements tests/sensors/test_sensors.py (CRM job id, negative poll_interval, a Creator app name with '/', one
rendered job id, a connection without refresh token), tests/jobs/test_jobs.py (``coordinate_problems``) and
tests/test_connection_config.py (``ZohoConnectionConfig.from_fields``): here every sensor class, every
coordinate, templates rendered by Airflow itself, and broken connections through the sensors and the
trigger, which must fail before a single request reaches Zoho.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.data_centers import DATA_CENTERS
from airflow_provider_zoho.sensors import (
    ZohoAnalyticsImportJobSensor,
    ZohoBiginBulkWriteJobSensor,
    ZohoCRMBulkWriteJobSensor,
)
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.helpers import FINAL_STATES, JOB_COORDINATES, KINDS, MODES, SENSORS, first_event, run_sensor


def sensor_args(kind: str, **overrides: Any) -> dict[str, Any]:
    return {"task_id": f"wait_{kind}", "job_id": "4242", **JOB_COORDINATES[kind], **overrides}


# -- parse time ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("job_id", "message"),
    [
        ("", "job_id is required: pass the"),
        ("   ", "job_id is required: pass the"),
        (None, "job_id is required: pass the"),
        ("12a", "job_id must be Zoho's numeric id (digits only), got '12a'"),
        ("-5", "job_id must be Zoho's numeric id (digits only), got '-5'"),
        ("1.5", "job_id must be Zoho's numeric id (digits only), got '1.5'"),
        ("12/34", "job_id must be Zoho's numeric id (digits only)"),
        pytest.param("\u00b2\u00b3", "job_id must be Zoho's numeric id (digits only)", id="superscript digits"),
    ],
)
def test_every_sensor_checks_its_job_id_at_parse_time(kind: str, job_id: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^wait_.*" + re.escape(message)) as raised:
        SENSORS[kind](**sensor_args(kind, job_id=job_id))
    assert SENSORS[kind].__name__ in str(raised.value)  # which task and which sensor


@pytest.mark.parametrize(
    ("kind", "overrides", "message"),
    [
        ("analytics_import", {"workspace_id": "sales"}, "workspace_id must be Zoho's numeric id (digits only)"),
        ("analytics_import", {"workspace_id": ""}, "workspace_id is required: pass the Zoho Analytics import job's"),
        ("creator_bulk_insert", {"account_owner_name": "jason/18"}, "account_owner_name must be a plain Zoho link"),
        ("creator_bulk_insert", {"form_link_name": "Emp/x"}, "form_link_name must be a plain Zoho link name"),
        ("creator_bulk_insert", {"app_link_name": ".."}, "app_link_name must be a plain Zoho link name"),
        ("creator_bulk_insert", {"form_link_name": "."}, "form_link_name must be a plain Zoho link name"),
        ("creator_bulk_insert", {"environment": "stage\r\nX-Injected: 1"}, "environment is sent in the environment"),
        ("analytics_import", {"org_id": "555\r\nX-Injected: 1"}, "org_id is sent in the ZANALYTICS-ORGID header"),
        ("creator_bulk_insert", {"form_link_name": " "}, "form_link_name is required"),
        ("creator_bulk_insert", {"environment": "production"}, "environment must be one of development, stage"),
        ("creator_bulk_insert", {"environment": "Stage"}, "environment must be one of development, stage"),
    ],
)
def test_other_coordinates_are_checked_at_parse_time(kind: str, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        SENSORS[kind](**sensor_args(kind, **overrides))


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValueError, match=r"workspace_id must be .*; job_id must be "):
        ZohoAnalyticsImportJobSensor(**sensor_args("analytics_import", workspace_id="ws", job_id="abc"))


@pytest.mark.parametrize(
    "poll_interval",
    [
        0,
        0.0,
        -0.5,
        "5",
        True,
        None,
        pytest.param(
            float("nan"),
            id="nan",
        ),
    ],
)
def test_poll_interval_must_be_a_positive_number(poll_interval: Any) -> None:
    with pytest.raises(ValueError, match="poll_interval must be a positive number of seconds"):
        ZohoBiginBulkWriteJobSensor(**sensor_args("bigin_bulk_write", poll_interval=poll_interval))


@pytest.mark.parametrize("kind", KINDS)
def test_good_values_templates_and_int_ids_pass_parse_time(kind: str) -> None:
    SENSORS[kind](**sensor_args(kind, job_id=4242, poll_interval=1))
    SENSORS[kind](**sensor_args(kind, job_id=" 4242 ", poll_interval=0.5))
    SENSORS[kind](**sensor_args(kind, job_id="{{ params.job_id }}"))
    SENSORS[kind](**sensor_args(kind, job_id="{% if true %}1{% endif %}"))


def test_a_connection_is_not_read_at_parse_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing never touches connections (no database at parse time): a bad one fails when the task runs."""
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_BROKEN", json.dumps({"conn_type": "zoho"}))
    ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="1", zoho_conn_id="zoho_broken")
    ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="1", zoho_conn_id="no_such_connection")


# -- templates, checked once rendered ---------------------------------------------------------------------------
TEMPLATED: list[tuple[str, str, str, str]] = [  # kind, field, rendered to, message
    ("crm_bulk_write", "job_id", "abc", "job_id must be Zoho's numeric id (digits only), got 'abc'"),
    ("bigin_bulk_write", "job_id", "", "job_id is required"),
    ("analytics_import", "workspace_id", "ws-1", "workspace_id must be Zoho's numeric id"),
    ("analytics_import", "job_id", "12 34", "job_id must be Zoho's numeric id"),
    ("creator_bulk_insert", "app_link_name", "zylker/store", "app_link_name must be a plain Zoho link name"),
    ("creator_bulk_insert", "app_link_name", "..", "app_link_name must be a plain Zoho link name"),
    ("creator_bulk_insert", "form_link_name", ".", "form_link_name must be a plain Zoho link name"),
    ("creator_bulk_insert", "account_owner_name", "{{ '{{' }} x }}", "account_owner_name is still a template"),
    ("analytics_import", "org_id", "555\r\nX-Injected: 1", "org_id is sent in the ZANALYTICS-ORGID header"),
    ("creator_bulk_insert", "account_owner_name", "", "account_owner_name is required"),
    ("creator_bulk_insert", "environment", "qa", "environment must be one of development, stage"),
]


@MODES
@pytest.mark.parametrize(("kind", "name", "value", "message"), TEMPLATED)
def test_templated_values_are_checked_when_airflow_renders_them(
    zoho_conn: ZohoEmulator, kind: str, name: str, value: str, message: str, deferrable: bool
) -> None:
    sensor = SENSORS[kind](**sensor_args(kind, **{name: "{{ params.value }}"}), deferrable=deferrable)
    sensor.render_template_fields({"params": {"value": value}})  # type: ignore[arg-type]
    assert getattr(sensor, name) == value
    with pytest.raises(AirflowFailException, match=re.escape(message)):
        sensor.execute(context={})  # type: ignore[arg-type]
    assert zoho_conn.status_requests() == 0  # failed before asking Zoho anything
    assert zoho_conn.token_requests() == 0


@MODES
@pytest.mark.parametrize(("value", "message"), [([1, 2], "got list"), ({"id": 1}, "got dict"), (1.5, "got float")])
def test_native_rendering_to_something_other_than_text_or_a_number_fails_the_task(
    zoho_conn: ZohoEmulator, value: Any, message: str, deferrable: bool
) -> None:
    """With ``render_template_as_native_obj`` a template can render to a list: an error, not sent as ``[1, 2]``."""
    sensor = ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="{{ params.value }}", deferrable=deferrable)
    sensor.job_id = value  # what native rendering gives
    with pytest.raises(AirflowFailException, match="job_id must render to text or a whole number, " + message):
        sensor.execute(context={})  # type: ignore[arg-type]
    assert zoho_conn.status_requests() == 0


@MODES
@pytest.mark.parametrize("kind", KINDS)
def test_well_rendered_templates_run(zoho_conn: ZohoEmulator, kind: str, deferrable: bool) -> None:
    pending, done = FINAL_STATES[kind]
    zoho_conn.add_job(kind, "5150", [pending, done], **JOB_COORDINATES[kind])
    sensor = SENSORS[kind](
        **sensor_args(kind, job_id="{{ params.job_id }}"), poke_interval=0.02, poll_interval=0.02, deferrable=deferrable
    )
    sensor.render_template_fields({"params": {"job_id": "5150"}})  # type: ignore[arg-type]
    assert run_sensor(sensor)["state"] == done


# -- connections, checked when the task runs ------------------------------------------------------------------
BROKEN_CONNECTIONS: list[tuple[str, dict[str, Any], str]] = [  # id, fields over a good connection, message
    ("no client id", {"login": None}, "has no client id: set its Client ID (login) field"),
    ("no client secret", {"password": ""}, "has no client secret: set its Client Secret (password) field"),
    ("no refresh token", {"extra": {}}, "has no refresh token: set the extra field 'refresh_token'"),
    ("unknown data center", {"extra": {"data_center": "mars"}}, "Unknown Zoho data center 'mars': use one of us, eu"),
    ("bad creator environment", {"extra": {"creator_environment": "prod"}}, "creator_environment must be one of"),
    ("bad timeout", {"extra": {"timeout": -1}}, "extra 'timeout' must be a positive number of seconds"),
    ("host not a URL", {"host": "ftp://zoho.example"}, "host must be a base URL"),
]


def _connection(emulator: ZohoEmulator, changes: dict[str, Any]) -> str:
    conn: dict[str, Any] = json.loads(emulator.airflow_connection())
    for key, value in changes.items():
        if key == "extra" and value:
            conn["extra"].update(value)
        else:
            conn[key] = value
    return json.dumps(conn)


@MODES
@pytest.mark.parametrize(
    ("changes", "message"), [case[1:] for case in BROKEN_CONNECTIONS], ids=[case[0] for case in BROKEN_CONNECTIONS]
)
def test_a_broken_connection_fails_the_task_naming_the_field(
    zoho_emulator: ZohoEmulator,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
    message: str,
    deferrable: bool,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_BROKEN", _connection(zoho_emulator, changes))
    sensor = ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="1", zoho_conn_id="zoho_broken", deferrable=deferrable)
    with pytest.raises(AirflowFailException, match=re.escape(message)) as failed:
        sensor.execute(context={})  # type: ignore[arg-type]
    assert "'zoho_broken'" in str(failed.value)
    assert zoho_emulator.token_requests() == 0
    assert zoho_emulator.status_requests() == 0


@pytest.mark.parametrize(
    ("changes", "message"), [case[1:] for case in BROKEN_CONNECTIONS], ids=[case[0] for case in BROKEN_CONNECTIONS]
)
async def test_a_broken_connection_ends_the_trigger_with_an_error_event(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], message: str
) -> None:
    """A connection edited while a sensor is deferred: the trigger reports it instead of crashing."""
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_BROKEN", _connection(zoho_emulator, changes))
    trigger = ZohoJobTrigger(
        kind="crm_bulk_write",
        coordinates={"job_id": "1"},
        end_time=time.time() + 5,
        zoho_conn_id="zoho_broken",
        poll_interval=0.01,
    )
    event = await first_event(trigger)
    assert event["status"] == "error"
    assert message in event["message"]
    assert zoho_emulator.token_requests() == 0


UK = next(code for code, dc in DATA_CENTERS.items() if dc.analytics_host is None)


@MODES
def test_a_data_center_without_the_product_fails_the_task_naming_the_fix(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    conn = json.loads(_connection(zoho_emulator, {"host": None, "extra": {"data_center": UK}}))
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_UK", json.dumps(conn))
    sensor = ZohoAnalyticsImportJobSensor(
        **sensor_args("analytics_import"), zoho_conn_id="zoho_uk", deferrable=deferrable
    )
    with pytest.raises(AirflowFailException, match="set the connection's host"):
        sensor.execute(context={})  # type: ignore[arg-type]


def test_a_data_center_without_the_product_ends_the_trigger_with_an_error_event(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(_connection(zoho_emulator, {"host": None, "extra": {"data_center": UK}}))
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_UK", json.dumps(conn))
    coordinates = {"job_id": "4242", **JOB_COORDINATES["analytics_import"]}
    trigger = ZohoJobTrigger(
        kind="analytics_import", coordinates=coordinates, end_time=time.time() + 5, zoho_conn_id="zoho_uk"
    )
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "error"
    assert "set the connection's host" in event["message"]
