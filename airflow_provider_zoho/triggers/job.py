"""One trigger that polls any Zoho job kind in the triggerer until it finishes or its deadline passes."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow_provider_zoho.compat import (
    SUPPORTS_END_FROM_TRIGGER,
    AirflowNotFoundException,
    BaseTrigger,
    TaskFailedEvent,
    TaskSkippedEvent,
    TriggerEvent,
    task_success_event,
)
from airflow_provider_zoho.connection_config import ZohoConnectionError
from airflow_provider_zoho.connection_form import DEFAULT_CONN_ID
from airflow_provider_zoho.defaults import DEFAULT_POLL_INTERVAL
from airflow_provider_zoho.exceptions import ZohoError, ZohoTransientError
from airflow_provider_zoho.hooks.transport import network_error
from airflow_provider_zoho.hooks.zoho_async import ZohoAsyncHook, shared_session_in_use
from airflow_provider_zoho.jobs import (
    EventStatus,
    JobEvent,
    JobStatus,
    Phase,
    check_positive_seconds,
    coordinate_problems,
    error_event,
    finished_event,
    get_job_kind,
    timeout_event,
)

# Each wait is stretched or shrunk by up to this fraction, so that triggers deferred together (a mapped
# sensor, a backfill) spread their polls instead of hitting Zoho in lockstep.
POLL_JITTER = 0.1
DEFAULT_MAX_BACKOFF_SECONDS = 300.0
# A job still in the same state is logged again after this long. A line per poll (Airflow's structlog
# renders each at a real CPU cost) made a triggerer with thousands of jobs spend much of its time logging
# (``make bench`` measures it), and identical lines say no more than one every few minutes.
PROGRESS_LOG_SECONDS = 300.0


def pending_poll_interval(
    poll_interval: float, pending_answers: int, *, exponential: bool, max_wait: float | None
) -> float:
    """Return the seconds until the next look at a job that has answered "still running" ``pending_answers`` times.

    With ``exponential`` the interval doubles with each such answer, from ``poll_interval``, up to
    ``max_wait``: as poke mode's ``exponential_backoff`` does, so a two-hour job polled from every 30 s
    with a ``max_wait`` of 10 minutes costs about 16 of Zoho's API calls instead of 240, and its end is seen
    within ``max_wait``.

    :param poll_interval: the seconds between polls without backoff, and the first wait with it.
    :param pending_answers: the "still running" answers so far, counting the sensor's poll before deferring
        (so 1 for the first wait).
    :param exponential: double the interval with each such answer.
    :param max_wait: the longest interval, or None for no cap but the deadline.
    :return: the seconds to wait.
    """
    if not exponential:
        return poll_interval
    # The exponent is bounded so a long job cannot overflow the float; the deadline caps the wait anyway.
    interval = poll_interval * 2.0 ** min(pending_answers - 1, 32)
    return interval if max_wait is None else min(interval, max_wait)


class ZohoJobTrigger(BaseTrigger):
    """Polls a Zoho bulk job with :class:`~airflow_provider_zoho.hooks.ZohoAsyncHook` until it ends, then yields one event.

    Its serialized form holds the connection id, the job kind and coordinates, and timing only, so it can be
    stored in the database and resumed by any triggerer. ``end_time`` is an absolute wall-clock deadline
    (epoch seconds): a triggerer restart resumes the same deadline instead of starting a new one.
    Transient trouble (throttling, 5xx, network) is retried with exponential backoff that honours
    ``Retry-After``; it never pushes the wait past ``end_time``.

    With ``end_from_trigger`` the trigger ends the task itself instead of resuming it on a worker: success
    pushes the job summary as the ``return_value`` XCom (unless ``do_xcom_push`` is off), anything else
    fails the task, or skips it with ``soft_fail``. Those three fields are serialized only when
    ``end_from_trigger`` is set, so the stored form of a default trigger is unchanged.

    Progress is logged when the job's state changes, and every ``PROGRESS_LOG_SECONDS`` while it does not.
    ``logged_state`` is the state the sensor logged just before deferring (serialized only when given): the
    first answer here is logged only if it differs, instead of repeating the sensor's line. ``first_poll_now``
    (serialized only when set) makes the first poll immediate, for a sensor that deferred without polling.

    ``kind`` is a built-in kind's name or ``"module:attribute"`` naming any importable ``JobKind``; it is
    stored as given. Arguments this version does not know (a row a newer version wrote, read after a
    downgrade or by an older triggerer of a mixed fleet) are ignored with a warning rather than stranding
    the deferred task.

    :param kind: the job kind, a built-in kind's name or ``"module:attribute"``.
    :param coordinates: the job's coordinates, as the kind's sensor takes them.
    :param end_time: the absolute deadline, in epoch seconds.
    :param zoho_conn_id: the ``zoho`` connection.
    :param poll_interval: seconds between polls, and the first step of the backoff after transient trouble.
    :param max_backoff: the longest wait after transient trouble or a throttle pause, whatever Zoho asks for.
    :param end_from_trigger: end the task from the triggerer instead of resuming it on a worker.
    :param soft_fail: with ``end_from_trigger``, skip the task instead of failing it.
    :param do_xcom_push: with ``end_from_trigger``, push the summary as the ``return_value`` XCom.
    :param exponential_backoff: double the interval with each "still running" answer, as poke mode does.
    :param max_wait: with ``exponential_backoff``, the longest interval between polls.
    :param logged_state: the job state the sensor logged just before deferring.
    :param first_poll_now: poll at once instead of one interval after the deferral.
    """

    def __init__(
        self,
        *,
        kind: str,
        coordinates: Mapping[str, str | None],
        end_time: float,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_backoff: float = DEFAULT_MAX_BACKOFF_SECONDS,
        end_from_trigger: bool = False,
        soft_fail: bool = False,
        do_xcom_push: bool = True,
        exponential_backoff: bool = False,
        max_wait: float | None = None,
        logged_state: str | None = None,
        first_poll_now: bool = False,
        **unknown: Any,
    ) -> None:
        """Check the arguments and resolve the kind; see the class docstring for each.

        :param unknown: arguments a newer version wrote; ignored with a warning.
        :raises ValueError: an unknown kind, bad coordinates (a '..' link name), a duration that is not a
            positive number of seconds, or ``end_from_trigger`` on an Airflow before 2.10.
        """
        super().__init__()
        if unknown:
            self.log.warning(
                "Ignoring trigger arguments this version of airflow-provider-zoho does not know: %s "
                "(written by a newer version?)",
                ", ".join(sorted(unknown)),
            )
        if end_from_trigger and not SUPPORTS_END_FROM_TRIGGER:
            raise ValueError("end_from_trigger=True needs an Airflow whose triggers can end tasks (2.10 or later)")
        self.kind = get_job_kind(kind)
        self._kind_reference = kind
        self.coordinates = dict(coordinates)
        # The sensor checked them; a trigger built by hand must not send a '..' link name either.
        if problems := coordinate_problems(self.kind, self.coordinates, rendered=True):
            raise ValueError(f"{self.kind.label}: " + "; ".join(problems))
        self.end_time = float(end_time)
        self.zoho_conn_id = zoho_conn_id
        self.poll_interval = check_positive_seconds("poll_interval", poll_interval)
        self.max_backoff = check_positive_seconds("max_backoff", max_backoff)
        self.exponential_backoff = bool(exponential_backoff)
        self.max_wait = None if max_wait is None else check_positive_seconds("max_wait", max_wait)
        self._job_id = self.kind.job_id_of(self.coordinates)
        self.end_from_trigger = bool(end_from_trigger)
        self.soft_fail = bool(soft_fail)
        self.do_xcom_push = bool(do_xcom_push)
        self.logged_state = None if logged_state is None else str(logged_state)
        self.first_poll_now = bool(first_poll_now)

    def __repr__(self) -> str:
        """Return the kind, the job id and the connection: what tells one trigger from another in a log."""
        return (
            f"{type(self).__name__}(kind={self.kind.name!r}, job_id={self._job_id!r}, "
            f"zoho_conn_id={self.zoho_conn_id!r})"
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the trigger's class path and arguments, as Airflow stores them in the database.

        Optional arguments are written only when set, so the stored form of a default trigger stays what
        older versions wrote and read.

        :return: the class path and its keyword arguments.
        """
        kwargs: dict[str, Any] = {
            "kind": self._kind_reference,
            "coordinates": self.coordinates,
            "end_time": self.end_time,
            "zoho_conn_id": self.zoho_conn_id,
            "poll_interval": self.poll_interval,
            "max_backoff": self.max_backoff,
        }
        if self.end_from_trigger:
            kwargs.update(end_from_trigger=True, soft_fail=self.soft_fail, do_xcom_push=self.do_xcom_push)
        if self.exponential_backoff:
            kwargs.update(exponential_backoff=True, max_wait=self.max_wait)
        if self.logged_state is not None:
            kwargs["logged_state"] = self.logged_state
        if self.first_poll_now:
            kwargs["first_poll_now"] = True
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    @property
    def description(self) -> str:
        """Return the job waited for, as log lines and messages name it (``Zoho CRM bulk write job 123``)."""
        return f"{self.kind.label} {self._job_id}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the job and yield one event: the job's outcome, or the task's end with ``end_from_trigger``.

        :return: an async iterator of that one event; its payload is a ``jobs.JobEvent``.
        """
        async with shared_session_in_use():
            event = await self.wait_for_job(ZohoAsyncHook(self.zoho_conn_id))
        yield await self._task_end_event(event) if self.end_from_trigger else TriggerEvent(dict(event))

    async def _task_end_event(self, event: JobEvent) -> TriggerEvent:
        """Return the event that ends the task from here; the message goes to the log, as execute_complete's would."""
        if event["status"] == EventStatus.SUCCESS:
            self.log.info("%s", event["message"])
            xcoms = {"return_value": event["summary"]} if self.do_xcom_push else None
            return await task_success_event(self.task_instance, xcoms)
        self.log.error("%s", event["message"])
        if self.soft_fail:
            return TaskSkippedEvent()
        return TaskFailedEvent()

    async def wait_for_job(self, hook: ZohoAsyncHook) -> JobEvent:
        """Poll until the job ends, Zoho refuses for good, or the deadline passes.

        :param hook: the async hook to poll with.
        :return: the event of how the wait ended (``finished_event``, ``error_event`` or ``timeout_event``).
        """
        try:
            # Reading the connection now, not after the first interval, tells the hook which connection's
            # throttle pause to honour from the start, and fails a bad connection at once.
            await hook.get_config()
        except (ZohoError, ZohoConnectionError, AirflowNotFoundException) as error:
            return self._stop(error)
        # The sensor usually polled on the worker just before deferring, so the first poll here waits one
        # interval; with ``first_poll_now`` (a sensor told not to poke first) it looks at once, unless the
        # connection is paused (a 429, or Zoho refusing tokens): then as soon as the pause ends.
        pending_answers = 1
        logged: tuple[str | None, float] | None = None  # the state last logged, and when
        if self.logged_state is not None:
            logged = (self.logged_state, time.monotonic())
        if self.first_poll_now:
            await self._sleep(hook, 0.0)
        else:
            await self._pause(hook, self._interval_after(pending_answers))
        while True:
            try:
                job = await self._poll(hook)
            except ZohoTransientError as error:  # retried until the deadline, still failing
                return timeout_event(self.description, error)
            except (ZohoError, ZohoConnectionError, AirflowNotFoundException) as error:
                return self._stop(error)
            if job.phase is not Phase.PENDING:
                return finished_event(job)
            logged = self._log_progress(job, logged)
            if time.time() >= self.end_time:
                return timeout_event(self.description + f" (last state {job.state or 'unknown'})", None)
            pending_answers += 1
            # Not held through the wait: the answer (a JSON tree) would age into the collector's oldest
            # generation, whose full sweeps over every live object grow with the number of triggers.
            del job
            await self._pause(hook, self._interval_after(pending_answers))

    def _log_progress(self, job: JobStatus, logged: tuple[str | None, float] | None) -> tuple[str | None, float]:
        """Log a still-running job if its state changed or ``PROGRESS_LOG_SECONDS`` passed since the last line.

        Returns the state last logged, and when (on the monotonic clock).
        """
        now = time.monotonic()
        if logged is not None and logged[0] == job.state and now - logged[1] < PROGRESS_LOG_SECONDS:
            return logged
        job.log_progress(self.log)
        return job.state, now

    def _interval_after(self, pending_answers: int) -> float:
        return pending_poll_interval(
            self.poll_interval, pending_answers, exponential=self.exponential_backoff, max_wait=self.max_wait
        )

    def _stop(self, error: Exception) -> JobEvent:
        self.log.error("Stopping: %s", error)
        return error_event(error)

    async def _poll(self, hook: ZohoAsyncHook) -> JobStatus:
        """Read the job's status once; transient trouble is retried with exponential backoff until the deadline.

        Each wait is the largest of the backoff (``poll_interval`` doubled per attempt, plus up to
        ``POLL_JITTER`` of an interval), Zoho's ``Retry-After`` and the connection's shared throttle pause,
        capped at ``max_backoff`` whatever Zoho asks for, and never reaches past ``end_time``. A read still
        going at ``end_time`` (a server sending a byte a second) is cut off there, as a timeout of that poll.

        Written out rather than built from tenacity's ``AsyncRetrying``: that object, its wait strategy and
        its per-attempt bookkeeping were made on every poll and cost more CPU than the poll's HTTP request
        in a profile of a triggerer with many triggers (see ``benchmarks/triggerer_scale.py``). Same policy,
        same log line.
        """
        attempt = 0
        last_error: ZohoTransientError | None = None
        while True:
            attempt += 1
            try:
                # Already past the deadline (a triggerer restarted late): one last look, bounded by the hook's
                # own request timeout.
                left = self.end_time - time.time()
                async with asyncio.timeout(left if left > 0 else None):
                    return await hook.get_job_status(self.kind, self.coordinates)
            except TimeoutError as cut_off:
                # The trouble that kept this poll retrying says more than the deadline cutting its last try.
                raise last_error or network_error(self.kind.service, cut_off, timed_out=True) from None
            except ZohoTransientError as error:
                last_error = error
                if time.time() >= self.end_time:
                    raise
                asked = max(self._backoff(attempt), error.retry_after or 0.0, hook.throttle_remaining())
                delay = self._until_deadline(min(asked, self.max_backoff))
                self.log.warning("%s: %s; polling again in %.1f s", self.description, error, delay)
                await self._sleep(hook, delay)

    def _backoff(self, attempt: int) -> float:
        """Return the exponential backoff, with jitter, after failed attempt number ``attempt`` (1 for the first)."""
        jitter = random.uniform(0, self.poll_interval * POLL_JITTER)
        # The exponent is bounded so a long outage cannot overflow the float; max_backoff caps it far earlier.
        wait = self.poll_interval * 2.0 ** min(attempt - 1, 32) + jitter
        return max(0.0, min(wait, self.max_backoff))

    def _until_deadline(self, seconds: float) -> float:
        return max(0.0, min(seconds, self.end_time - time.time()))

    async def _pause(self, hook: ZohoAsyncHook, seconds: float) -> None:
        """Wait between polls, stretched or shrunk by up to ``POLL_JITTER`` so pollers drift apart."""
        await self._sleep(hook, seconds * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER))

    async def _sleep(self, hook: ZohoAsyncHook, seconds: float) -> None:
        """Sleep ``seconds``, then on while the connection is throttled; never past the deadline.

        Another poller of the same connection may meet a 429 while this one sleeps: waking into that pause
        would only earn another 429, so it is honoured on waking too. Each poller adds up to
        ``POLL_JITTER`` of what is left of the pause, so they do not all return the instant it ends. The
        pause can stretch the whole wait to ``max_backoff`` at most, whatever Retry-After Zoho sent.
        """
        latest = time.monotonic() + max(seconds, self.max_backoff)
        await asyncio.sleep(self._until_deadline(max(seconds, min(hook.throttle_remaining(), self.max_backoff))))
        while (held := hook.throttle_remaining()) > 0 and (allowed := latest - time.monotonic()) > 0:
            remaining = self._until_deadline(min(held * random.uniform(1, 1 + POLL_JITTER), allowed))
            if remaining <= 0:
                return
            await asyncio.sleep(remaining)
