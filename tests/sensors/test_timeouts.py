"""The sensor's ``timeout`` ends the wait in every mode, whatever Zoho is doing when it passes.

Modes: poke, deferrable (the trigger, rebuilt from its serialized form), and reschedule. Reschedule
mode needs the task instance's first-reschedule date from the metadata database; a small stand-in
task instance supplies it (see ``run_rescheduled``), so the loop of reschedules runs without a
scheduler. The e2e suite covers the real thing.

No outcome here depends on the machine's speed. Time is measured with ``time.monotonic``; the upper
bounds are correctness bounds (the wait must not run past ``timeout`` by more than one request timeout)
with ``SLACK`` for a loaded machine, which stays far below what a wait that sat out Zoho's trouble would
take (``SLOW``, a 10 s pause, a 3600 s ``Retry-After``). What must not happen is checked with counts:
how many polls can begin before the deadline, how many it takes to keep polling until it.
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
# Far above what any answer but a slow one takes, even on a busy machine: a poll's error is Zoho's, never
# a timeout the test did not script.
REQUEST_TIMEOUT = 1.0
PATIENT_REQUEST_TIMEOUT = 0.5  # close to the timeout, so that one request too many shows
SLOW = 10.0  # a slow answer's delay: far beyond every bound below
SLACK = 2.0  # overhead allowed past a bound: Airflow's own work, a stalled process on a busy machine
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


class TimedFromFirstPoll(ZohoCRMBulkWriteJobSensor):
    """The CRM sensor, with its ``timeout`` moved on by as long as its first poll took.

    A busy machine has made the first poll (connection, Airflow's set-up) take 0.63 s, more than the
    whole timeout: the sensor rightly timed out after that one request, and nothing showed whether it
    polls on until its deadline. Moving the deadline on by the first poll's own duration leaves the same
    ``timeout`` of polling after it on any machine. It works in every mode because each reads
    ``timeout`` only once the first poll is over.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_started: float | None = None
        self.first_poll_seconds: float | None = None

    def execute(self, context: Any) -> Any:
        self.first_started = self.first_started or time.monotonic()  # reschedule mode executes once per try
        return super().execute(context)

    def poke(self, context: Any) -> Any:
        try:
            return super().poke(context)
        finally:
            if self.first_poll_seconds is None and self.first_started is not None:
                self.first_poll_seconds = time.monotonic() - self.first_started
                self.timeout += self.first_poll_seconds


def make_sensor(
    mode: str, job_id: str, sensor_class: type[ZohoCRMBulkWriteJobSensor] = ZohoCRMBulkWriteJobSensor, **kwargs: Any
) -> ZohoCRMBulkWriteJobSensor:
    kwargs.setdefault("timeout", TIMEOUT)
    return sensor_class(
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
    "answers slower than the request timeout": (["IN PROGRESS", Fault("slow", delay=SLOW)], [], "TIMEOUT"),
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
    sensor = make_sensor(mode, job_id, TimedFromFirstPoll, soft_fail=soft_fail)
    if accounts:
        sensor.hook.get_access_token()  # the first poll's token; every refresh after it is throttled
        zoho.script_accounts(accounts)
    started = time.monotonic()
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout) as ended:
        run(mode, sensor)
    elapsed = time.monotonic() - started
    assert sensor.first_poll_seconds is not None
    deadline = TIMEOUT + sensor.first_poll_seconds
    assert deadline <= elapsed <= deadline + REQUEST_TIMEOUT + SLACK
    assert zoho.status_requests(job_id) >= 2  # TIMEOUT seconds were left after the first poll: it polled on
    if mode == "deferrable":
        message = str(ended.value)
        assert "timed out" in message
        if code is not None:
            assert code in message  # the last poll's error, in Zoho's words


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_answer_stretches_the_wait_by_at_most_one_request_timeout(zoho: ZohoEmulator, mode: str) -> None:
    """Every answer is slow, from the very first poll on: no poll may begin after the deadline.

    Each poll lasts a whole request timeout, so at most ``1 + timeout // request timeout`` of them (two
    here) can begin before the deadline, on any machine; one more means a poll began after it. With these
    numbers the trigger's poll starts right at its deadline, so the wait overruns by one request timeout
    (plus ``SLACK``); a wait that sat out the slow answer would take ``SLOW``.
    """
    timeout = 0.6
    job_id = str(next(_job_ids))
    zoho.add_job("crm_bulk_write", job_id, [Fault("slow", delay=SLOW)])
    sensor = make_sensor(mode, job_id, zoho_conn_id="zoho_patient", timeout=timeout)
    sensor.hook.get_access_token()
    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout):
        run(mode, sensor)
    elapsed = time.monotonic() - started
    assert timeout <= elapsed <= timeout + PATIENT_REQUEST_TIMEOUT + SLACK
    assert 1 <= zoho.status_requests(job_id) <= 1 + timeout // PATIENT_REQUEST_TIMEOUT
