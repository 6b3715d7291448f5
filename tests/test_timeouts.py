"""The sensor's ``timeout`` ends the wait in every mode, whatever Zoho is doing when it passes.

Modes: poke, deferrable (the trigger, rebuilt from its serialized form), and reschedule. Reschedule
mode needs the task instance's first-reschedule date from the metadata database; a small stand-in
task instance supplies it (see ``run_rescheduled``), so the loop of reschedules runs without a
scheduler. The e2e suite covers the real thing.

Time is measured with ``time.monotonic``. The upper bounds are correctness bounds (the wait must not
run past ``timeout`` by more than one request timeout), with slack for a loaded machine.
"""

from __future__ import annotations

import datetime
import itertools
import time
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_zoho.compat import AIRFLOW_V_3_0_PLUS, AirflowSensorTimeout, AirflowSkipException
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor, ZohoJobSensor
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from tests.conftest import connection_uri_json
from tests.helpers import run_sensor

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk.exceptions import AirflowRescheduleException
else:  # pragma: no cover - Airflow 2
    from airflow.exceptions import AirflowRescheduleException

TIMEOUT = 0.5
REQUEST_TIMEOUT = 0.3
SLACK = 1.0
PATIENT_REQUEST_TIMEOUT = 0.5  # close to TIMEOUT, so that one request too many shows
_job_ids = itertools.count(800_000)


@pytest.fixture
def zoho(emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> ZohoEmulator:
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_DEFAULT", connection_uri_json(emulator, timeout=REQUEST_TIMEOUT))
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_PATIENT", connection_uri_json(emulator, timeout=PATIENT_REQUEST_TIMEOUT))
    emulator.script_accounts([])
    emulator.reset_counters()
    return emulator


@dataclass
class StandInTaskInstance:
    """The one thing reschedule mode asks the task instance: when the first reschedule happened."""

    first_reschedule: datetime.datetime | None = None

    def get_first_reschedule_date(self, context: Any) -> datetime.datetime | None:
        return self.first_reschedule


def run_rescheduled(sensor: ZohoJobSensor) -> Any:
    """Run a reschedule-mode sensor try after try, as the scheduler would, until it stops rescheduling."""
    if not AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 2's reschedule mode reads the task's reschedules from the database")
    ti = StandInTaskInstance()
    while True:
        started = datetime.datetime.now(datetime.UTC)
        try:
            return sensor.execute(context={"ti": ti})  # type: ignore[arg-type]
        except AirflowRescheduleException as reschedule:
            ti.first_reschedule = ti.first_reschedule or started
            time.sleep(max(0.0, (reschedule.reschedule_date - datetime.datetime.now(datetime.UTC)).total_seconds()))


MODES = ["poke", "reschedule", "deferrable"]


def make_sensor(mode: str, job_id: str, **kwargs: Any) -> ZohoCRMBulkWriteJobSensor:
    kwargs.setdefault("timeout", TIMEOUT)
    return ZohoCRMBulkWriteJobSensor(
        task_id="wait",
        job_id=job_id,
        poke_interval=0.05,
        poll_interval=0.05,
        mode="reschedule" if mode == "reschedule" else "poke",
        deferrable=mode == "deferrable",
        **kwargs,
    )


def run(mode: str, sensor: ZohoJobSensor) -> Any:
    return run_rescheduled(sensor) if mode == "reschedule" else run_sensor(sensor)


# What Zoho keeps doing until the deadline, and the Zoho code a deferred sensor's timeout names.
TROUBLE: dict[str, tuple[list[Any], list[Fault], str | None]] = {
    "job still running": (["IN PROGRESS"], [], None),
    "429 with a Retry-After past the deadline": (
        ["IN PROGRESS", Fault("rate_limited", retry_after=3600)],
        [],
        "TOO_MANY_REQUESTS",
    ),
    # Without Retry-After the trigger pauses the connection for 10 s: the deadline must cut that short.
    "429 without Retry-After": (["IN PROGRESS", Fault("rate_limited")], [], "TOO_MANY_REQUESTS"),
    "503 on every poll": (["IN PROGRESS", Fault("server_error", status=503)], [], "INTERNAL_ERROR"),
    "502 html on every poll": (["IN PROGRESS", Fault("server_error", status=502, html=True)], [], "HTTP_5xx"),
    "connection reset on every poll": (["IN PROGRESS", Fault("reset")], [], "CONNECTION_ERROR"),
    "answers slower than the request timeout": (["IN PROGRESS", Fault("slow", delay=3)], [], "TIMEOUT"),
    "accounts throttling every refresh": (
        ["IN PROGRESS", Fault("invalid_token"), "IN PROGRESS"],
        [Fault("throttle")] * 200,
        "Access Denied",
    ),
}


# soft_fail turns the timeout into a skip: checked for a job still running, backing off and retrying.
SOFT_FAIL_TROUBLE = ("job still running", "429 with a Retry-After past the deadline", "503 on every poll")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("trouble", "soft_fail"),
    [*((trouble, False) for trouble in TROUBLE), *((trouble, True) for trouble in SOFT_FAIL_TROUBLE)],
    ids=[*TROUBLE, *(f"{trouble}, soft_fail" for trouble in SOFT_FAIL_TROUBLE)],
)
def test_timeout_ends_the_wait_whatever_zoho_does(zoho: ZohoEmulator, trouble: str, mode: str, soft_fail: bool) -> None:
    steps, accounts, code = TROUBLE[trouble]
    job_id = str(next(_job_ids))
    zoho.add_job("crm_bulk_write", job_id, steps)
    sensor = make_sensor(mode, job_id, soft_fail=soft_fail)
    if accounts:
        sensor.hook.get_access_token()  # the first poll's token; every refresh after it is throttled
        zoho.script_accounts(accounts)
    started = time.monotonic()
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout) as ended:
        run(mode, sensor)
    elapsed = time.monotonic() - started
    assert TIMEOUT <= elapsed <= TIMEOUT + REQUEST_TIMEOUT + SLACK
    assert zoho.status_requests(job_id) >= 2  # it kept polling until the deadline
    if mode == "deferrable":
        message = str(ended.value)
        assert "timed out" in message
        if code is not None:
            assert code in message  # the last poll's error, in Zoho's words


@pytest.mark.parametrize(
    "mode",
    [
        "poke",
        "reschedule",
        pytest.param(
            "deferrable",
        ),
    ],
)
def test_a_slow_answer_stretches_the_wait_by_at_most_one_request_timeout(zoho: ZohoEmulator, mode: str) -> None:
    """Every answer is slow, from the very first poll on: a tight bound, with little slack.

    With these numbers the trigger's second poll starts right at its deadline (the backoff is cut to
    it), so the wait overruns by one request timeout; anything before the deadline must not add more.
    """
    timeout = 0.6
    job_id = str(next(_job_ids))
    zoho.add_job("crm_bulk_write", job_id, [Fault("slow", delay=3)])
    sensor = make_sensor(mode, job_id, zoho_conn_id="zoho_patient", timeout=timeout)
    sensor.hook.get_access_token()
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout):
        run(mode, sensor)
    elapsed = time.monotonic() - started
    assert timeout <= elapsed <= timeout + PATIENT_REQUEST_TIMEOUT + 0.25
