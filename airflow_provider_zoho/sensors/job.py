"""The sensor behind every Zoho job kind: poke, reschedule and deferrable mode in one place."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
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
from airflow_provider_zoho.defaults import DEFAULT_POLL_INTERVAL, DEFERRAL_GRACE_SECONDS
from airflow_provider_zoho.exceptions import ZohoError, ZohoTransientError
from airflow_provider_zoho.hooks.zoho import ZohoHook
from airflow_provider_zoho.jobs import (
    JOB_KINDS,
    EventStatus,
    JobKind,
    JobStatus,
    Phase,
    check_positive_seconds,
    checked_event,
    coordinate_problems,
    get_job_kind,
    importable_elsewhere,
)
from airflow_provider_zoho.links import ZohoLink, job_link, push_link
from airflow_provider_zoho.triggers.job import ZohoJobTrigger


class ZohoJobSensor(BaseSensorOperator):
    """Waits for one Zoho bulk job to finish and returns its summary (so it lands in XCom).

    A subclass is its ``job_kind`` and a docstring: each coordinate of the kind becomes a keyword argument
    (required for path coordinates, optional for header ones) and a templated field.

    :param zoho_conn_id: the ``zoho`` connection to use.
    :param poll_interval: seconds between polls in the triggerer (deferrable mode); ``poke_interval``
        stays the interval of poke and reschedule mode.
    :param deferrable: wait in the triggerer instead of holding a worker slot. Defaults to the
        ``[operators] default_deferrable`` setting.
    :param poke_before_defer: in deferrable mode, poll once on the worker before deferring (the default: a job
        already finished never reaches the triggerer). ``False`` defers at once and the trigger polls
        immediately: the worker then never asks Zoho for a token, so a deployment's token requests are the
        triggerers' (one per connection per process per hour), however many worker processes start sensors,
        with no shared disk needed. Zoho grants 10 token requests per 10 minutes per refresh token.
    :param end_from_trigger: in deferrable mode, let the trigger end the task itself (success with the
        summary as the ``return_value`` XCom, failure, or a skip with ``soft_fail``) instead of waking a
        worker to run ``execute_complete``. Saves a worker start per sensor; the trade-offs: a failure
        ended by the trigger follows Airflow's own handling of ``TaskFailedEvent`` (on Airflow 3 it is
        retried if ``retries`` remain, unlike the worker path, which fails at once), a timeout is a plain
        failure rather than ``AirflowSensorTimeout``, ``execute_complete`` overrides do not run, the outcome
        is logged in the trigger's log, and Airflow listeners are not told. Off by default; ignored in poke
        and reschedule mode.
    :param max_failed_records: fail when more records than this did not land in a completed job (the kind's
        total minus what landed: CRM and Bigin skipped + unprocessed, Analytics total - success rows,
        Creator failed + unprocessed). ``None`` (the default) never fails on them.
    :param coordinates: the job's coordinates as one mapping, for a subclass that writes its own
        ``__init__``; leave it out to pass them as keyword arguments.

    The other keyword arguments go to ``BaseSensorOperator`` (``timeout``, ``poke_interval``, ``mode``,
    ``soft_fail``, ``exponential_backoff``, ``max_wait``...); the backoff settings hold in the triggerer too.

    A job in a failure state and every Zoho error no retry can change (wrong scope, unknown job, revoked
    refresh token...) fail the task at once with Zoho's code and message, without retries. Throttling,
    server errors and network trouble are polled through until ``timeout``. ``soft_fail`` turns both
    into a skip, in every mode.
    """

    job_kind: ClassVar[JobKind]
    # How the trigger names job_kind in the database: a built-in kind's name, else the attribute itself.
    job_kind_reference: ClassVar[str]
    ui_color = "#f0e4e4"
    operator_extra_links = (ZohoLink(),)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Derive what a subclass that sets ``job_kind`` would otherwise repeat: fields and constructor."""
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("job_kind")
        if kind is None:
            return
        if not isinstance(kind, JobKind):
            raise TypeError(
                f"{cls.__qualname__}.job_kind must be a JobKind (airflow_provider_zoho.jobs.JobKind), "
                f"got {type(kind).__name__} {kind!r}"
            )
        builtin = JOB_KINDS.get(kind.name) is kind
        cls.job_kind_reference = kind.name if builtin else f"{cls.__module__}:{cls.__qualname__}.job_kind"
        if "template_fields" not in cls.__dict__:
            cls.template_fields = kind.coordinate_names
        elif missing := [name for name in kind.coordinate_names if name not in cls.template_fields]:
            raise TypeError(
                f"{cls.__qualname__}.template_fields must include every coordinate of {kind.label}: "
                + ", ".join(missing)
            )
        if "__init__" not in cls.__dict__:
            cls.__init__ = _coordinate_constructor(cls, kind)  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        coordinates: Mapping[str, Any] | None = None,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        end_from_trigger: bool = False,
        max_failed_records: int | None = None,
        poke_before_defer: bool = True,
        **kwargs: Any,
    ) -> None:
        """Check the coordinates and the waiting arguments, and keep them; see the class docstring.

        Coordinates not given in ``coordinates`` are taken out of ``kwargs`` by name. A value that is a
        template is checked once rendered, in ``execute``.

        :raises TypeError: no ``job_kind``, a coordinate the kind does not have, or a path coordinate missing.
        :raises ValueError: a wrong known value, an option this Airflow lacks (``end_from_trigger`` before
            2.10), or deferrable mode with a kind the triggerer could not import.
        """
        kind = getattr(self, "job_kind", None)
        if kind is None:
            raise TypeError(f"{type(self).__name__} has no job_kind: subclass ZohoJobSensor with one")
        if coordinates is None:
            coordinates = {name: kwargs.pop(name) for name in kind.coordinate_names if name in kwargs}
        where = f"{kwargs.get('task_id')} ({type(self).__name__})"
        if unknown := [name for name in coordinates if name not in kind.coordinate_names]:
            raise TypeError(
                f"{where}: {kind.label} has no coordinate {', '.join(unknown)}; it takes {', '.join(kind.coordinate_names)}"
            )
        if missing := [name for name in kind.path_coordinates if name not in coordinates]:
            raise TypeError(f"{where}: missing keyword argument {', '.join(repr(name) for name in missing)}")
        super().__init__(**kwargs)
        if end_from_trigger and not SUPPORTS_END_FROM_TRIGGER:
            raise ValueError(
                f"{self.task_id}: end_from_trigger=True needs Airflow 2.10 or later, whose triggers can end a "
                "task; remove it to resume the task on a worker instead."
            )
        check_positive_seconds(f"{self.task_id}: poll_interval", poll_interval)
        # Template fields must be attributes: Airflow renders them in place.
        for name in kind.coordinate_names:
            setattr(self, name, coordinates.get(name))
        self.zoho_conn_id = zoho_conn_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        # Read by Airflow too: it warns at parse time that listeners are not told about such tasks.
        self.end_from_trigger = bool(end_from_trigger)
        self.poke_before_defer = bool(poke_before_defer)
        if max_failed_records is not None and (
            isinstance(max_failed_records, bool) or not isinstance(max_failed_records, int) or max_failed_records < 0
        ):
            raise ValueError(
                f"{self.task_id}: max_failed_records must be a whole number >= 0 or None, got {max_failed_records!r}"
            )
        if max_failed_records is not None and kind.total_count is None:
            raise ValueError(
                f"{self.task_id}: {kind.label} does not say how many records landed: leave max_failed_records None"
            )
        if max_failed_records is not None and end_from_trigger:
            raise ValueError(
                f"{self.task_id}: max_failed_records is checked on a worker: it cannot go with end_from_trigger"
            )
        self.max_failed_records = max_failed_records
        self._raise_for_bad_coordinates(ValueError)
        if deferrable:
            self._check_the_triggerer_can_find_the_kind()

    def _raw_coordinates(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.job_kind.coordinate_names}

    @property
    def coordinates(self) -> dict[str, str | None]:
        """Return the job's coordinates as they are sent: text, without surrounding spaces.

        :return: each coordinate of the kind by name; an optional one not given is None.
        """
        return {name: None if value is None else str(value).strip() for name, value in self._raw_coordinates().items()}

    def _raise_for_bad_coordinates(self, error_class: type[Exception], *, rendered: bool = False) -> None:
        problems = coordinate_problems(self.job_kind, self._raw_coordinates(), rendered=rendered)
        if problems:
            raise error_class(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    def _check_the_triggerer_can_find_the_kind(self) -> None:
        """Refuse now a kind the trigger could not load: the deferred task would fail in the triggerer."""
        reference = self.job_kind_reference
        module = reference.partition(":")[0]
        if ":" in reference and ("<locals>" in reference or not importable_elsewhere(module)):
            raise ValueError(
                f"{self.task_id} ({type(self).__name__}): deferrable mode needs the job kind {reference!r}, but "
                f"module {module!r} cannot be imported by the triggerer (a DAG file or a function is not a "
                "module): define the kind and its sensor in a module on the PYTHONPATH, such as a package or "
                "plugins/, or use poke or reschedule mode."
            )
        if get_job_kind(reference) is not self.job_kind:
            raise ValueError(f"{self.task_id} ({type(self).__name__}): {reference!r} is not this sensor's job_kind.")

    def zoho_url(self) -> str | None:
        """Return the URL of what the job works on in Zoho's UI, from its coordinates and the connection.

        A CRM or Bigin job's link needs the connection's ``crm_org_id``; without it there is none. A connection
        that cannot be read gives none either: the first poll says what is wrong with it, as it always has.

        :return: the URL (the task's "Zoho" button), or None.
        """
        try:
            config = self.hook.config
        except ZohoConnectionError:
            return None
        return job_link(self.job_kind.name, config.data_center, {**self.coordinates, "org_id": config.crm_org_id})

    @cached_property
    def hook(self) -> ZohoHook:
        """Return the sync hook of ``zoho_conn_id``, made once per sensor.

        :return: the ``ZohoHook`` that pokes.
        """
        return ZohoHook(self.zoho_conn_id)

    def execute(self, context: Context) -> Any:
        """Wait for the job: poke or reschedule as ``BaseSensorOperator`` does, or defer to ``ZohoJobTrigger``.

        In deferrable mode the job is polled once here first unless ``poke_before_defer`` is False; the
        deadline is ``timeout`` from the start of this call, and the trigger keeps it.

        :param context: the task's context.
        :return: the job's summary (``JobStatus.summary()``), pushed to XCom.
        """
        # The deadline counts from now, not from after the first poll below, which can itself be slow.
        started = time.time()
        # Templates are rendered now: a bad value can no longer be skipped over, and no retry would fix it.
        self._raise_for_bad_coordinates(AirflowFailException, rendered=True)
        push_link(context, self.zoho_url())
        if not self.deferrable:
            return super().execute(context)
        self._logged_state: str | None = None
        if self.poke_before_defer:
            try:
                done = self.poke(context)
            except AirflowFailException as error:
                self._fail_or_skip(str(error))
            if isinstance(done, PokeReturnValue):
                return done.xcom_value
        end_time = started + float(self.timeout)
        self.defer(
            trigger=ZohoJobTrigger(
                kind=self.job_kind_reference,
                coordinates=self.coordinates,
                end_time=end_time,
                zoho_conn_id=self.zoho_conn_id,
                poll_interval=self.poll_interval,
                end_from_trigger=self.end_from_trigger,
                soft_fail=self.soft_fail,
                do_xcom_push=self.do_xcom_push,
                # Poke mode's own backoff settings, honoured in the triggerer too.
                exponential_backoff=self.exponential_backoff,
                max_wait=_seconds(self.max_wait),
                logged_state=self._logged_state,
                # Nothing was polled here: the trigger's first look is at once, not one interval later.
                first_poll_now=not self.poke_before_defer,
            ),
            method_name="execute_complete",
            # A backstop only: the trigger ends the wait at end_time itself. This ends it should the
            # trigger never run (a triggerer down for good), as Airflow's deferral timeout.
            timeout=timedelta(seconds=max(0.0, end_time - time.time()) + DEFERRAL_GRACE_SECONDS),
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """Poll the job once; transient trouble (throttling, 5xx, network) reads as "not yet".

        :param context: the task's context.
        :return: a ``PokeReturnValue`` with the job's summary once it completed, else False.
        :raises AirflowFailException: the job failed, too many records did not land, or Zoho refused in a way
            no retry can change.
        """
        try:
            job = self.hook.get_job_status(self.job_kind, self.coordinates)
        except ZohoTransientError as error:
            job_id = self.job_kind.job_id_of(self.coordinates)
            self.log.warning("%s %s: %s; poking again", self.job_kind.label, job_id, error)
            return False
        except (ZohoError, ZohoConnectionError) as error:
            self._fail_in_poke(str(error))
        return self._outcome(job)

    def _fail_in_poke(self, message: str) -> NoReturn:
        """Fail a poke with ``message`` said once: no chained copy of it, and no log line repeating it.

        Raised inside ``poke``, where Airflow's sensor turns it into a skip under ``soft_fail`` or
        ``never_fail`` and replaces the message: only then is it logged here first.
        """
        if self.soft_fail or self.never_fail:
            self.log.error("%s", message)
        raise AirflowFailException(message) from None

    def _outcome(self, job: JobStatus) -> PokeReturnValue | bool:
        if job.phase is Phase.SUCCEEDED:
            self.log.info("%s", job.describe())
            self._check_landed(job.counts)
            return PokeReturnValue(is_done=True, xcom_value=job.summary())
        if job.phase is Phase.FAILED:
            self._fail_in_poke(job.describe())
        job.log_progress(self.log)
        # Handed to the trigger when this poke precedes a deferral, so it does not log the same state again.
        self._logged_state = job.state
        return False

    def execute_complete(self, context: Context, event: Any) -> Any:
        """Turn the trigger's event into the same outcome poke mode would have had.

        :param context: the task's context.
        :param event: the trigger's event (``jobs.JobEvent``).
        :return: the job's summary, when it completed.
        :raises AirflowSensorTimeout: the deadline passed first (a skip with ``soft_fail``).
        """
        try:
            status, outcome = checked_event(event)
        except ValueError as error:
            raise AirflowException(str(error)) from error
        if status is EventStatus.SUCCESS:
            self.log.info("%s", outcome["message"])
            try:
                self._check_landed((outcome["summary"] or {}).get("counts") or {})
            except AirflowFailException as error:
                self._fail_or_skip(str(error))
            return outcome["summary"]
        # Not logged first: each exception below carries the message, and Airflow logs it once.
        if status is EventStatus.TIMEOUT:
            if self.soft_fail:
                raise AirflowSkipException(outcome["message"])
            raise AirflowSensorTimeout(outcome["message"])
        self._fail_or_skip(outcome["message"])

    def _check_landed(self, counts: Mapping[str, int]) -> None:
        """Fail a completed job when more records than ``max_failed_records`` did not land."""
        if self.max_failed_records is None:
            return
        not_landed = self.job_kind.not_landed(counts)
        if not_landed is not None and not_landed > self.max_failed_records:
            message = (
                f"{self.job_kind.label} completed, but {not_landed} record(s) did not land, more than "
                f"max_failed_records={self.max_failed_records}: counts {dict(counts)}"
            )
            self._fail_in_poke(message)

    def _fail_or_skip(self, message: str) -> NoReturn:
        """Fail outside ``poke`` (deferred, or before deferring), or skip as ``soft_fail``/``never_fail`` ask.

        Outside ``poke`` Airflow's sensor does not turn a failure into a skip, so this does it itself.
        """
        if self.soft_fail or self.never_fail:
            flag = "soft_fail" if self.soft_fail else "never_fail"
            raise AirflowSkipException(f"Skipping due to {flag}: {message}") from None
        raise AirflowFailException(message) from None


def _seconds(value: timedelta | float | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


def _coordinate_constructor(owner: type[ZohoJobSensor], kind: JobKind) -> Callable[..., None]:
    """Build an ``__init__`` whose signature names the kind's coordinates, for a subclass that only sets its kind.

    Airflow reads that signature: to fill arguments from ``default_args``, to name a missing one, and to
    accept ``partial(...).expand(job_id=[...])``. The body only passes everything on; the base class
    takes the coordinates out of the keyword arguments.
    """

    def __init__(self: ZohoJobSensor, **kwargs: Any) -> None:
        super(owner, self).__init__(**kwargs)

    keyword = inspect.Parameter.KEYWORD_ONLY
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(inspect.Parameter(name, keyword, annotation="str") for name in kind.path_coordinates),
            *(
                inspect.Parameter(name, keyword, default=None, annotation="str | None")
                for name in kind.optional_coordinates
            ),
            inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD, annotation="Any"),
        ],
        return_annotation="None",
    )
    __init__.__qualname__ = f"{owner.__qualname__}.__init__"
    __init__.__module__ = owner.__module__
    return __init__
