"""The four sensors in poke and deferrable mode against the emulator, with the outcomes users see."""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.compat import AirflowFailException, AirflowSensorTimeout, AirflowSkipException
from airflow_provider_zoho.jobs import ANALYTICS_IMPORT, CRM_BULK_WRITE, JOB_KINDS
from airflow_provider_zoho.sensors import ZohoCreatorBulkInsertJobSensor, ZohoCRMBulkWriteJobSensor, ZohoJobSensor
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.kinds import KIND_FACTS
from tests.helpers import FINAL_STATES, JOB_COORDINATES, KINDS, MISSING_ARGUMENT_ERRORS, SENSORS, run_sensor

FAILURE_STATES = [
    ("analytics_import", "1003"),
    ("analytics_import", "1005"),
    ("crm_bulk_write", "FAILED"),
    ("bigin_bulk_write", "FAILED"),
    *[("creator_bulk_insert", state) for state in ("Failed", "Aborted", "User Aborted", "System Aborted", "Expired")],
]


def make_sensor(kind: str, job_id: str = "4242", **kwargs: Any) -> ZohoJobSensor:
    options: dict[str, Any] = {"poke_interval": 0.05, "poll_interval": 0.05, "timeout": 20, **kwargs}
    return SENSORS[kind](task_id=f"wait_{kind}", job_id=job_id, **JOB_COORDINATES[kind], **options)


def script(emulator: ZohoEmulator, kind: str, steps: list[Any], job_id: str = "4242", **extra: Any) -> None:
    emulator.add_job(kind, job_id, steps, **JOB_COORDINATES[kind], **extra)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_succeeds_and_returns_its_summary(zoho_conn: ZohoEmulator, kind: str, deferrable: bool) -> None:
    pending, done = FINAL_STATES[kind]
    script(zoho_conn, kind, [pending, pending, done])
    summary = run_sensor(make_sensor(kind, deferrable=deferrable))
    assert summary["job_id"] == "4242"
    assert summary["kind"] == kind
    assert summary["state"] == done
    # Every kind that documents counts reports them on completion (an Analytics export documents none).
    assert bool(summary["counts"]) == bool(KIND_FACTS[kind].count_names)
    if JOB_KINDS[kind].result_link_field is not None:  # a read kind: where its result is
        assert summary["download_url"]
    assert isinstance(summary["response"], dict)
    assert zoho_conn.status_requests("4242") == 3
    assert zoho_conn.token_requests() == 1


def test_deferrable_sensor_defers_only_when_the_job_is_not_done(zoho_conn: ZohoEmulator) -> None:
    script(zoho_conn, "crm_bulk_write", ["COMPLETED"])
    assert make_sensor("crm_bulk_write", deferrable=True).execute(context={})["state"] == "COMPLETED"  # type: ignore[arg-type]
    script(zoho_conn, "crm_bulk_write", ["IN PROGRESS"], job_id="4343")
    with pytest.raises(TaskDeferred) as deferred:
        make_sensor("crm_bulk_write", job_id="4343", deferrable=True).execute(context={})  # type: ignore[arg-type]
    assert deferred.value.method_name == "execute_complete"


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize(("kind", "state"), FAILURE_STATES)
def test_failure_states_fail_the_task_with_zoho_details(
    zoho_conn: ZohoEmulator, kind: str, state: str, deferrable: bool
) -> None:
    pending, _ = FINAL_STATES[kind]
    # Only an Analytics job reports its own error code and message; the others report counts.
    details = {"error_code": 8504, "error_message": "Column mismatch"} if kind == "analytics_import" else {}
    script(zoho_conn, kind, [pending, state], **details)
    with pytest.raises(AirflowFailException) as failed:
        run_sensor(make_sensor(kind, deferrable=deferrable))
    message = str(failed.value)
    assert "4242" in message
    if state == "1003":
        assert "8504" in message
        assert "Column mismatch" in message


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_soft_fail_skips_a_failed_job(zoho_conn: ZohoEmulator, deferrable: bool) -> None:
    script(zoho_conn, "creator_bulk_insert", ["In-progress", "Failed"])
    with pytest.raises(AirflowSkipException):
        run_sensor(make_sensor("creator_bulk_insert", deferrable=deferrable, soft_fail=True))


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize(
    ("kind", "fault", "code"),
    [
        ("crm_bulk_write", Fault("error", code="NO_PERMISSION"), "NO_PERMISSION"),
        ("bigin_bulk_write", Fault("error", code="RESOURCE_NOT_FOUND"), "RESOURCE_NOT_FOUND"),
        ("analytics_import", Fault("error", code=8138), "8138"),
        ("creator_bulk_insert", Fault("error", code=4000), "4000"),
    ],
)
def test_permanent_errors_fail_at_once(
    zoho_conn: ZohoEmulator, kind: str, fault: Fault, code: str, deferrable: bool
) -> None:
    pending, done = FINAL_STATES[kind]
    script(zoho_conn, kind, [pending, fault, done])
    with pytest.raises(AirflowFailException, match=code):
        run_sensor(make_sensor(kind, deferrable=deferrable))
    assert zoho_conn.status_requests("4242") == 2  # no retry of a permanent error


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_transient_errors_are_polled_through(zoho_conn: ZohoEmulator, deferrable: bool) -> None:
    faults = [
        Fault("rate_limited", retry_after=0),
        Fault("server_error", status=503),
        Fault("reset"),
        Fault("non_json"),
    ]
    script(zoho_conn, "crm_bulk_write", ["IN PROGRESS", *faults, "COMPLETED"])
    assert run_sensor(make_sensor("crm_bulk_write", deferrable=deferrable))["state"] == "COMPLETED"
    assert zoho_conn.status_requests("4242") == 6


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize("soft_fail", [False, True])
def test_timeout_ends_the_wait(zoho_conn: ZohoEmulator, deferrable: bool, soft_fail: bool) -> None:
    script(zoho_conn, "bigin_bulk_write", ["IN PROGRESS"])
    sensor = make_sensor("bigin_bulk_write", deferrable=deferrable, timeout=0.5, soft_fail=soft_fail)
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout):
        run_sensor(sensor)


def test_transient_trouble_outlasting_the_timeout_says_why(zoho_conn: ZohoEmulator) -> None:
    script(zoho_conn, "crm_bulk_write", ["IN PROGRESS", Fault("server_error", status=503)])
    with pytest.raises(AirflowSensorTimeout, match="INTERNAL_ERROR"):
        run_sensor(make_sensor("crm_bulk_write", deferrable=True, timeout=0.6))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"job_id": "abc"}, "job_id must be Zoho's numeric id"),
        ({"job_id": ""}, "job_id is required"),
        ({"job_id": "1", "poll_interval": -5}, "poll_interval must be a positive number"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ZohoCRMBulkWriteJobSensor(task_id="wait", **kwargs)


def test_creator_names_with_a_slash_fail_at_parse_time() -> None:
    with pytest.raises(ValueError, match="app_link_name must be a plain Zoho link name"):
        ZohoCreatorBulkInsertJobSensor(
            task_id="wait", account_owner_name="o", app_link_name="a/b", form_link_name="f", job_id="1"
        )


def test_templated_values_are_checked_once_rendered(zoho_conn: ZohoEmulator) -> None:
    sensor = ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="{{ params.job_id }}")
    sensor.job_id = "not-a-number"  # what rendering a bad param gives
    with pytest.raises(AirflowFailException, match="job_id must be Zoho's numeric id"):
        sensor.execute(context={})  # type: ignore[arg-type]


def test_template_fields_are_the_job_coordinates() -> None:
    for sensor_class in SENSORS.values():
        kind = sensor_class.job_kind
        assert tuple(sensor_class.template_fields) == kind.coordinate_names


@pytest.mark.parametrize("kind", KINDS)
def test_each_sensor_takes_its_coordinates_as_keyword_arguments(kind: str) -> None:
    """The constructors as DAG authors and Airflow (default_args, partial/expand) see them."""
    job_kind = SENSORS[kind].job_kind
    parameters = inspect.signature(SENSORS[kind]).parameters
    for name in job_kind.coordinate_names:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        required = name in job_kind.path_coordinates
        assert (parameters[name].default is inspect.Parameter.empty) is required, name
    assert parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


@pytest.mark.parametrize("kind", KINDS)
def test_a_missing_coordinate_is_a_type_error_naming_it(kind: str) -> None:
    arguments = {"task_id": "wait", "job_id": "1", **JOB_COORDINATES[kind]}
    for name in SENSORS[kind].job_kind.path_coordinates:
        with pytest.raises(MISSING_ARGUMENT_ERRORS, match=f"missing keyword argument '{name}'"):
            SENSORS[kind](**{key: value for key, value in arguments.items() if key != name})


def test_an_unknown_coordinate_is_a_type_error_naming_it() -> None:
    with pytest.raises(MISSING_ARGUMENT_ERRORS, match="workspace_id"):
        ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="1", workspace_id="2")


def test_coordinates_come_from_default_args_and_map_over_expand() -> None:
    from airflow.providers.common.compat.sdk import DAG

    with DAG("coordinates", default_args={"account_owner_name": "jason18", "app_link_name": "zylker-store"}):
        sensor = ZohoCreatorBulkInsertJobSensor(task_id="wait", form_link_name="Emp", job_id="1")
        mapped = ZohoCRMBulkWriteJobSensor.partial(task_id="wait_many").expand(job_id=["1", "2"])
    assert sensor.coordinates["account_owner_name"] == "jason18"
    assert mapped.expand_input.value == {"job_id": ["1", "2"]}  # type: ignore[attr-defined]


def test_a_sensor_subclass_is_its_kind_plus_a_docstring() -> None:
    kind = replace(
        ANALYTICS_IMPORT,
        name="analytics_export",
        path="/restapi/v2/bulk/workspaces/{workspace_id}/exportjobs/{job_id}",
    )

    class ExportSensor(ZohoJobSensor):
        """Waits for an Analytics export job."""

        job_kind = kind

    assert ExportSensor.template_fields == ("workspace_id", "job_id", "org_id")
    sensor = ExportSensor(task_id="wait", workspace_id=" 35130000001055707 ", job_id=4242)
    assert sensor.coordinates == {"workspace_id": "35130000001055707", "job_id": "4242", "org_id": None}
    with pytest.raises(ValueError, match="workspace_id must be Zoho's numeric id"):
        ExportSensor(task_id="wait", workspace_id="sales", job_id="1")


def test_a_subclass_with_its_own_constructor_still_passes_a_coordinates_mapping() -> None:
    """The way sensors were written before their constructors were derived from the kind."""

    class HandWritten(ZohoJobSensor):
        job_kind = CRM_BULK_WRITE

        def __init__(self, *, crm: dict[str, Any], **kwargs: Any) -> None:
            super().__init__(coordinates=crm, **kwargs)

    assert HandWritten(task_id="wait", crm={"job_id": 4242}).coordinates == {"job_id": "4242"}
    with pytest.raises(TypeError, match=r"^wait \(HandWritten\): Zoho CRM bulk write job has no coordinate jobid"):
        HandWritten(task_id="wait", crm={"job_id": "1", "jobid": "1"})
    with pytest.raises(TypeError, match=r"^wait \(HandWritten\): missing keyword argument 'job_id'"):
        HandWritten(task_id="wait", crm={})


def test_a_job_kind_that_is_not_a_job_kind_fails_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"BrokenSensor.job_kind must be a JobKind .*, got str 'crm_bulk_write'"):

        class BrokenSensor(ZohoJobSensor):
            job_kind = "crm_bulk_write"  # type: ignore[assignment]


def test_explicit_template_fields_must_keep_every_coordinate() -> None:
    with pytest.raises(TypeError, match=r"template_fields must include every coordinate of .*: job_id"):

        class PartlyTemplated(ZohoCRMBulkWriteJobSensor):
            job_kind = CRM_BULK_WRITE
            template_fields = ("poll_interval",)


def test_a_kind_the_triggerer_cannot_import_fails_when_a_deferrable_sensor_is_built() -> None:
    """A kind defined in a function (or a DAG file) works in poke mode; deferring would strand the task."""
    kind = replace(CRM_BULK_WRITE, name="crm_local")

    class LocalSensor(ZohoJobSensor):
        job_kind = kind

    LocalSensor(task_id="poke", job_id="1")
    LocalSensor(task_id="reschedule", job_id="1", mode="reschedule")
    with pytest.raises(ValueError, match=r"^defer \(LocalSensor\): .*cannot be imported by the triggerer"):
        LocalSensor(task_id="defer", job_id="1", deferrable=True)


def test_bad_connection_fails_the_task_naming_the_field(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_BROKEN", '{"conn_type": "zoho", "login": "id", "password": "no-refresh-token-secret"}'
    )
    sensor = ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="1", zoho_conn_id="zoho_broken")
    with pytest.raises(AirflowFailException, match="no refresh token: set the extra field 'refresh_token'"):
        sensor.execute(context={})  # type: ignore[arg-type]


def test_deferral_carries_a_backstop_timeout(zoho_conn: ZohoEmulator) -> None:
    """Should the trigger never run, Airflow itself times the task out, shortly after the trigger would."""
    from airflow_provider_zoho.defaults import DEFERRAL_GRACE_SECONDS

    script(zoho_conn, "crm_bulk_write", ["IN PROGRESS"])
    with pytest.raises(TaskDeferred) as deferred:
        make_sensor("crm_bulk_write", deferrable=True, timeout=600).execute(context={})  # type: ignore[arg-type]
    assert deferred.value.timeout is not None
    assert 600 < deferred.value.timeout.total_seconds() <= 600 + DEFERRAL_GRACE_SECONDS


def test_never_fail_skips_a_failed_job_in_deferrable_mode(zoho_conn: ZohoEmulator) -> None:
    script(zoho_conn, "creator_bulk_insert", ["Failed"])
    with pytest.raises(AirflowSkipException):
        run_sensor(make_sensor("creator_bulk_insert", deferrable=True, never_fail=True))
