"""The sensor behind every Zoho job kind: poke, reschedule and deferrable mode in one place."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar, NoReturn

from airflow_provider_zoho.compat import (
    SUPPORTS_END_FROM_TRIGGER,
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    conf,
)
from airflow_provider_zoho.connection_config import ZohoConnectionError
from airflow_provider_zoho.connection_form import DEFAULT_CONN_ID
from airflow_provider_zoho.events import EventStatus, JobEvent
from airflow_provider_zoho.exceptions import ZohoError, ZohoTransientError
from airflow_provider_zoho.hooks.zoho import ZohoHook
from airflow_provider_zoho.jobs import JobKind, JobStatus, Phase, check_positive_seconds, coordinate_problems
from airflow_provider_zoho.triggers.job import ZohoJobTrigger

# How long past its own deadline a deferred sensor waits for its trigger before Airflow times it out.
DEFERRAL_GRACE_SECONDS = 300.0


class ZohoJobSensor(BaseSensorOperator):
    """Waits for one Zoho bulk job to finish and returns its summary (so it lands in XCom).

    Subclasses only name their ``job_kind`` and pass their coordinates; everything else is shared.

    :param zoho_conn_id: the ``zoho`` connection to use.
    :param poll_interval: seconds between polls in the triggerer (deferrable mode); ``poke_interval``
        stays the interval of poke and reschedule mode.
    :param deferrable: wait in the triggerer instead of holding a worker slot. Defaults to the
        ``[operators] default_deferrable`` setting.
    :param end_from_trigger: in deferrable mode, let the trigger end the task itself (success with the
        summary as the ``return_value`` XCom, failure, or a skip with ``soft_fail``) instead of waking a
        worker to run ``execute_complete``. Saves a worker start per sensor; the trade-offs: a failure
        ended by the trigger follows Airflow's own handling of ``TaskFailedEvent`` (on Airflow 3 it is
        retried if ``retries`` remain, unlike the worker path, which fails at once), a timeout is a plain
        failure rather than ``AirflowSensorTimeout``, ``execute_complete`` overrides do not run, the outcome
        is logged in the trigger's log, and Airflow listeners are not told. Off by default; ignored in poke
        and reschedule mode.

    A job in a failure state and every Zoho error no retry can change (wrong scope, unknown job, revoked
    refresh token...) fail the task at once with Zoho's code and message, without retries. Throttling,
    server errors and network trouble are polled through until ``timeout``. ``soft_fail`` turns both
    into a skip, in every mode.
    """

    job_kind: ClassVar[JobKind]
    ui_color = "#f0e4e4"

    def __init__(
        self,
        *,
        coordinates: Mapping[str, Any],
        zoho_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        end_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if end_from_trigger and not SUPPORTS_END_FROM_TRIGGER:
            raise ValueError(
                f"{self.task_id}: end_from_trigger=True needs Airflow 2.10 or later, whose triggers can end a "
                "task; remove it to resume the task on a worker instead."
            )
        check_positive_seconds(f"{self.task_id}: poll_interval", poll_interval)
        for name, value in coordinates.items():
            setattr(self, name, value)
        self.zoho_conn_id = zoho_conn_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        # Read by Airflow too: it warns at parse time that listeners are not told about such tasks.
        self.end_from_trigger = bool(end_from_trigger)
        self._raise_for_bad_coordinates(ValueError)

    @property
    def coordinates(self) -> dict[str, str | None]:
        names = self.job_kind.coordinate_names
        return {name: None if (value := getattr(self, name)) is None else str(value).strip() for name in names}

    def _raise_for_bad_coordinates(self, error_class: type[Exception]) -> None:
        raw = {name: getattr(self, name) for name in self.job_kind.coordinate_names}
        problems = coordinate_problems(self.job_kind, raw)
        if problems:
            raise error_class(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    @cached_property
    def hook(self) -> ZohoHook:
        return ZohoHook(self.zoho_conn_id)

    def execute(self, context: Context) -> Any:
        # The deadline counts from now, not from after the first poll below, which can itself be slow.
        started = time.time()
        # Templates are rendered now: a bad value can no longer be skipped over, and no retry would fix it.
        self._raise_for_bad_coordinates(AirflowFailException)
        if not self.deferrable:
            return super().execute(context)
        try:
            done = self.poke(context)
        except AirflowFailException as error:
            self._fail(str(error), error)
        if isinstance(done, PokeReturnValue):
            return done.xcom_value
        end_time = started + float(self.timeout)
        self.defer(
            trigger=ZohoJobTrigger(
                kind=self.job_kind.name,
                coordinates=self.coordinates,
                end_time=end_time,
                zoho_conn_id=self.zoho_conn_id,
                poll_interval=self.poll_interval,
                end_from_trigger=self.end_from_trigger,
                soft_fail=self.soft_fail,
                do_xcom_push=self.do_xcom_push,
            ),
            method_name="execute_complete",
            # A backstop only: the trigger ends the wait at end_time itself. This ends it should the
            # trigger never run (a triggerer down for good), as Airflow's deferral timeout.
            timeout=timedelta(seconds=max(0.0, end_time - time.time()) + DEFERRAL_GRACE_SECONDS),
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        try:
            job = self.hook.get_job_status(self.job_kind, self.coordinates)
        except ZohoTransientError as error:
            self.log.warning("%s %s: %s; poking again", self.job_kind.label, self.coordinates["job_id"], error)
            return False
        except (ZohoError, ZohoConnectionError) as error:
            # Logged here: with soft_fail, Airflow replaces the exception's message when it skips the task.
            self.log.error("%s", error)
            raise AirflowFailException(str(error)) from error
        return self._outcome(job)

    def _outcome(self, job: JobStatus) -> PokeReturnValue | bool:
        if job.phase is Phase.SUCCEEDED:
            self.log.info("%s", job.describe())
            return PokeReturnValue(is_done=True, xcom_value=job.summary())
        if job.phase is Phase.FAILED:
            self.log.error("%s", job.describe())
            raise AirflowFailException(job.describe())
        job.log_progress(self.log)
        return False

    def execute_complete(self, context: Context, event: Any) -> Any:
        """Turn the trigger's event into the same outcome poke mode would have had."""
        try:
            outcome = JobEvent.from_payload(event)
        except ValueError as error:
            raise AirflowException(str(error)) from error
        if outcome.status is EventStatus.SUCCESS:
            self.log.info("%s", outcome.message)
            return outcome.summary
        self.log.error("%s", outcome.message)
        if outcome.status is EventStatus.TIMEOUT:
            if self.soft_fail:
                raise AirflowSkipException(outcome.message)
            raise AirflowSensorTimeout(outcome.message)
        self._fail(outcome.message)

    def _fail(self, message: str, cause: BaseException | None = None) -> NoReturn:
        if self.soft_fail or self.never_fail:
            flag = "soft_fail" if self.soft_fail else "never_fail"
            raise AirflowSkipException(f"Skipping due to {flag}: {message}") from cause
        raise AirflowFailException(message) from cause
