"""What every Zoho operator that starts jobs and waits for them shares: reattach, waiting, summary, threshold.

A subclass creates its jobs (``create_jobs``) and says what its result rows hold (``failed_rows``); this
class keeps the job ids where a retry finds them, waits with the sensors' machinery (the same hook status
call in poke mode, the same ``ZohoJobTrigger`` when deferrable, the same absolute deadline and error
table), sums the jobs' counts and fails the task when too many records did not land.

Retry without duplicates follows Airflow's ``ResumableJobMixin`` (Airflow 3.3+): the task's job ids, a plain
list, go to its ``task_state_store`` under ``zoho_job_ids`` as soon as each job exists, before any wait (with
this operator's own record of the parts, ``zoho_job_parts``: each part's first input line, whether every part
has a job). A retry that finds them asks Zoho for their state (``get_job_status``, Zoho's own state of the job
that decides): still running -> wait again, completed -> the summary, failed -> ``submit_job`` creates anew
the parts that failed, and only those. On older Airflow the compat stand-in has no store: a retry creates
new jobs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar, NoReturn, TypeVar

from airflow_provider_zoho.compat import (
    AirflowException,
    AirflowFailException,
    BaseOperator,
    Context,
    ResumableJobMixin,
    TimeDeltaTrigger,
    conf,
)
from airflow_provider_zoho.connection_config import ZohoConnectionError
from airflow_provider_zoho.connection_form import DEFAULT_CONN_ID
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.defaults import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT_SECONDS, DEFERRAL_GRACE_SECONDS
from airflow_provider_zoho.exceptions import ZohoError, ZohoFatalError, ZohoTransientError
from airflow_provider_zoho.hooks.zoho import ZohoHook
from airflow_provider_zoho.jobs import (
    JOB_KINDS,
    EventStatus,
    JobKind,
    JobStatus,
    Phase,
    check_positive_seconds,
    checked_event,
    job_id_problem,
    normalize_state,
)
from airflow_provider_zoho.lineage import file_dataset, operator_lineage, zoho_dataset
from airflow_provider_zoho.links import ZohoLink, job_link, push_link
from airflow_provider_zoho.operators.results import FailedRows, summary_jobs
from airflow_provider_zoho.triggers.job import ZohoJobTrigger

# The SDK's mixin takes ``durable``; the stand-in below Airflow 3.3 warns when it is given at all.
DURABLE_SUPPORTED = ResumableJobMixin.__module__.startswith("airflow.sdk")
# The mixin's ``external_id_key``: the plain list of the task's job ids, one per part (None: to create).
JOB_IDS_KEY = "zoho_job_ids"
# This operator's own record beside it: each part's first input line, and whether every part has a job.
JOB_PARTS_KEY = "zoho_job_parts"
_T = TypeVar("_T")


class ZohoJobOperator(ResumableJobMixin, BaseOperator):  # type: ignore[misc]
    """Creates one or more Zoho jobs of ``job_kind``, waits for them all, and returns their summary.

    :param zoho_conn_id: the ``zoho`` connection.
    :param wait_for_completion: False returns as soon as the jobs exist (their ids are the XCom
        ``zoho_job_ids``), leaving the wait to a sensor.
    :param deferrable: wait in the triggerer. Defaults to ``[operators] default_deferrable``.
    :param poll_interval: seconds between status polls, in poke and deferrable mode.
    :param timeout: seconds the wait may take, counted from the start of the task (an absolute deadline
        that a deferral does not reset); past it the task fails and a retry reattaches.
    :param max_failed_records: records that may fail to land (the kind's total minus what landed) before
        the task fails; ``None`` never fails on them.
    :param reattach_on_retry: keep the job ids in ``task_state_store`` (Airflow 3.3+) so that a retry
        waits for the jobs the last try created instead of creating them again.
    :param preflight: before the first upload, check the input against the product's metadata APIs (the
        module, table or form exists, the file's columns are its fields, mandatory fields are mapped) and fail
        at once on a problem; a metadata API that cannot be read never blocks the load. False skips it.
    """

    job_kind: ClassVar[JobKind]
    external_id_key = JOB_IDS_KEY
    ui_color = "#e4f0e8"
    operator_extra_links = (ZohoLink(),)

    def __init__(
        self,
        *,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_failed_records: int | None = 0,
        reattach_on_retry: bool = True,
        preflight: bool = True,
        **kwargs: Any,
    ) -> None:
        """Check the waiting arguments and keep them; each is described in the class docstring.

        ``reattach_on_retry`` is also the SDK mixin's ``durable`` where the mixin takes it (Airflow 3.3+).
        Everything else in ``kwargs`` goes to ``BaseOperator``.

        :raises ValueError: ``poll_interval`` or ``timeout`` is not a positive number of seconds, or
            ``max_failed_records`` is not a whole number >= 0 or None.
        """
        if DURABLE_SUPPORTED:
            kwargs["durable"] = reattach_on_retry
        super().__init__(**kwargs)
        check_positive_seconds(f"{self.task_id}: poll_interval", poll_interval)
        check_positive_seconds(f"{self.task_id}: timeout", timeout)
        if max_failed_records is not None and (
            isinstance(max_failed_records, bool) or not isinstance(max_failed_records, int) or max_failed_records < 0
        ):
            raise ValueError(
                f"{self.task_id}: max_failed_records must be a whole number >= 0, or None to never fail on "
                f"records that did not land; got {max_failed_records!r}"
            )
        self.zoho_conn_id = zoho_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.max_failed_records = max_failed_records
        self.reattach_on_retry = reattach_on_retry
        self.preflight = preflight
        self._preflight_done = False
        self._result: dict[str, Any] | None = None
        # What ``get_job_status`` found (the state, each stored job's status), for the mixin's next call.
        self._found: tuple[dict[str, Any], list[JobStatus | None]] | None = None
        # The state ``submit_job`` created jobs into, for the ``poll_until_complete`` that follows.
        self._state: dict[str, Any] | None = None
        self._end_time = 0.0
        self._waiting_on: list[str] = []  # the jobs of this try still running, for ``on_kill``
        # The state and job summaries while their results are read, so a "not ready yet" wait can defer.
        self._summarising: tuple[Mapping[str, Any], list[dict[str, Any]]] | None = None
        self._last_summary: dict[str, Any] | None = None  # what this try returned, for OpenLineage

    @cached_property
    def _zoho_hook(self) -> ZohoHook:
        return ZohoHook(self.zoho_conn_id)

    @property
    def hook(self) -> ZohoHook:
        """Return the sync hook, set to wait out trouble until the task's deadline.

        Every call waits out a refused token request, a 429, a 5xx or a network failure until the task's
        deadline, as the trigger does (a status poll excepted: the wait polls again).

        :return: the ``ZohoHook`` of ``zoho_conn_id`` (one per operator), its ``wait_out_until`` the task's
            deadline, or None before ``execute`` has set one.
        """
        hook = self._zoho_hook
        hook.wait_out_until = self._end_time or None
        return hook

    # -- what a subclass provides ---------------------------------------------------------------------------
    def check_rendered(self) -> None:
        """Raise ``AirflowFailException`` for a rendered value no retry can fix (templates are rendered now).

        Nothing by default; a subclass checks the arguments it renders.
        """

    def create_jobs(self, context: Context, state: dict[str, Any]) -> None:
        """Create the jobs ``state`` lacks, calling ``remember(context, state)`` after each one exists.

        ``state["job_ids"]`` holds one entry per part (None: to create); ``state["first_rows"]`` the input
        line of each part's first record; ``state["complete"]`` turns True once every part has a job.

        :param context: the task's context.
        :param state: the task's jobs so far, updated in place.
        """
        raise NotImplementedError

    def preflight_problems(self, context: Context) -> list[str]:
        """Return what Zoho's metadata says is wrong with the task's input, before anything is spent.

        A subclass asks its product's metadata APIs (the module, table or form exists; the file's columns are
        its fields; every mandatory field is mapped) and says what to fix. None by default.

        :param context: the task's context.
        :return: one message per problem; empty when the input looks right.
        """
        return []

    def link_parts(self) -> dict[str, Any]:
        """Return what the task's link to Zoho's UI is built from (``links.job_link``); nothing by default.

        :return: the parts known (``org_id``, ``module``, ``workspace_id``, link names...).
        """
        return {}

    def zoho_url(self) -> str | None:
        """Return the URL of what the task's jobs work on in Zoho's UI, or None when a part is not known.

        :return: the URL (also the task's "Zoho" button, and in the log line of each job created).
        """
        return job_link(self.job_kind.name, self.hook.config.data_center, self.link_parts())

    def created(self, job_id: str, what: str = "") -> None:
        """Log that a job was created, with its id and the task's link to Zoho's UI.

        :param job_id: the new job's id.
        :param what: what the job works on, for the line (``for rows 2-101 of contacts.csv``).
        """
        url = self.zoho_url()
        self.log.info(
            "Created %s %s%s%s",
            self.job_kind.label,
            job_id,
            f" {what}" if what else "",
            f"; in Zoho: {url}" if url else "",
        )

    def job_coordinates(self, job_id: str) -> dict[str, str | None]:
        """Return the coordinates a status poll of ``job_id`` needs (by default the id alone).

        :param job_id: one of this task's job ids.
        :return: the ``job_kind``'s coordinates, as a sensor of that kind would take them.
        """
        return {"job_id": job_id}

    def failed_rows(self, context: Context, state: Mapping[str, Any], jobs: list[dict[str, Any]]) -> FailedRows:
        """Return the records that did not land, read from the jobs' results (none by default: counts only).

        :param context: the task's context.
        :param state: the task's jobs, as stored.
        :param jobs: each job's summary, in the order of ``state["job_ids"]``.
        :return: the failed rows kept for the summary, their total and their error codes.
        """
        return FailedRows()

    def summary_extras(self, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the keys a kind adds to the summary (Analytics: the new table's view id, the import errors).

        :param jobs: each job's summary.
        :return: the extra keys; none by default.
        """
        return {}

    def cancel_jobs(self, job_ids: list[str], why: str) -> None:
        """Cancel jobs still running when the task is killed or its wait times out.

        Nothing by default: CRM, Bigin and Analytics document no cancel, so their jobs run on (and a retry
        reattaches to them). Creator overrides it with its Abort action.

        :param job_ids: the jobs to cancel.
        :param why: the reason, for the log.
        """

    def on_kill(self) -> None:
        """Cancel this try's jobs still running (see ``cancel_jobs``), as Airflow kills the task."""
        if self._waiting_on:
            self.cancel_jobs(list(self._waiting_on), "the task was killed")

    def until_deadline(self, call: Callable[[], _T], codes: Collection[str], what: str) -> _T:
        """Make ``call()``, again every ``poll_interval`` while Zoho answers "busy, try later", until the deadline.

        The "busy" answers are ``codes`` (Analytics' 8134, Creator's 11110); one still coming at the task's
        deadline fails the task (retryable). Any other error is raised as it is.

        While the summary is being built (the jobs have ended, their results are read), a deferrable task
        waits in the triggerer instead of holding a worker slot: it defers on a timer and builds the summary
        again when it resumes.

        :param call: the request to make.
        :param codes: Zoho's error codes that mean "busy, try later".
        :param what: what the call does, for the log and the error.
        :return: what ``call()`` returned.
        """

        def before_waiting() -> None:
            if self.deferrable and self._summarising is not None:
                self._defer_summary(*self._summarising)

        return repeat_while_busy(call, codes, what, self._end_time, self.poll_interval, self.log, before_waiting)

    def _defer_summary(self, state: Mapping[str, Any], jobs: list[dict[str, Any]]) -> NoReturn:
        wait = max(0.0, min(self.poll_interval, self._end_time - time.time()))
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=wait)),
            method_name="resume_summary",
            kwargs={"state": dict(state), "jobs": jobs, "end_time": self._end_time},
            timeout=timedelta(seconds=wait + DEFERRAL_GRACE_SECONDS),
        )

    def resume_summary(
        self, context: Context, event: Any, state: dict[str, Any], jobs: list[dict[str, Any]], end_time: float
    ) -> Any:
        """Build the summary again, back from a timer while the results were not ready (its reads retried).

        :param context: the task's context.
        :param event: the timer's event (unused: the timer only says the wait is over).
        :param state: the task's jobs, as stored.
        :param jobs: each job's summary, in the order of ``state["job_ids"]``.
        :param end_time: the task's absolute deadline, which the deferral does not reset.
        :return: the task's summary.
        """
        self._end_time = end_time
        with permanent_errors_fail_at_once():
            return self._summary(context, _as_state(state), jobs)

    def _create(self, context: Context, state: dict[str, Any]) -> None:
        """Check the input against Zoho's metadata once per task, then create the jobs ``state`` lacks."""
        if self.preflight and not self._preflight_done:
            self._preflight_done = True
            self._check_before_spending(context)
        self.create_jobs(context, state)

    def _check_before_spending(self, context: Context) -> None:
        """Fail the task on what the metadata says is wrong; a metadata API Zoho refuses never blocks a load.

        A bulk write costs Zoho API credits and a Creator job holds the form's one active slot, so a typo in a
        module or a column fails here, before any upload. When the metadata cannot be read (a token without
        its scope, Zoho busy), the load goes on and Zoho's own answers say what is wrong.
        """
        try:
            problems = self.preflight_problems(context)
        except ZohoError as error:
            if error.service == Service.ACCOUNTS.value and isinstance(error, ZohoFatalError):
                raise  # credentials no retry can fix: the load could not go on either
            self.log.warning(
                "%s: could not check the input against Zoho's metadata (%s); going on: Zoho's own answers will "
                "say what is wrong (preflight=False skips the check)",
                self.task_id,
                error,
            )
            return
        if problems:
            message = (
                f"{self.task_id}: " + "; ".join(problems) + "; nothing was uploaded (preflight=False skips this check)"
            )
            self.log.error("%s", message)
            raise AirflowFailException(message)

    # -- execute --------------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Create the jobs and wait for them, or only create them when ``wait_for_completion`` is False.

        An error no retry can fix fails the task without its retries (see ``permanent_errors_fail_at_once``).

        :param context: the task's context.
        :return: the summary (kind, job ids, summed counts, failed records, each job's answer); without
            waiting, only ``kind``, ``job_ids`` and ``state`` None.
        """
        with permanent_errors_fail_at_once():
            return self._execute(context)

    def _execute(self, context: Context) -> Any:
        self._end_time = time.time() + float(self.timeout)
        self.check_rendered()
        if not self.wait_for_completion:
            state = self._stored_state(context) or self._new_state()
            if not state["complete"]:
                self._create(context, state)
            return {"kind": self.job_kind.name, "job_ids": state["job_ids"], "state": None}
        returned = self.execute_resumable(context)
        # Reattached to running jobs, the mixin returns what ``poll_until_complete`` returns (None, as its
        # signature says): the summary that method built is the task's result either way.
        return self._result if self._result is not None else returned

    def remember(self, context: Context, state: dict[str, Any]) -> None:
        """Write the ids to ``task_state_store`` (where a retry looks), then push them to XCom, before any wait.

        The store first: a kill between Zoho's create answer and the store's write is the one window in which
        a retry creates the same work again, so nothing else may stand in it.

        :param context: the task's context.
        :param state: the task's jobs so far.
        """
        store = context.get("task_state_store")
        if store is not None and self.reattach_on_retry:
            # The ids first: should the task die between the two writes, the parts record is the older one,
            # which says no more than that parts remain to create (the ids tell which exist already).
            store.set(self.external_id_key, list(state["job_ids"]))
            store.set(JOB_PARTS_KEY, {"first_rows": list(state["first_rows"]), "complete": state["complete"]})
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key=JOB_IDS_KEY, value=[job_id for job_id in state["job_ids"] if job_id])
        push_link(context, self.zoho_url())

    @staticmethod
    def _new_state() -> dict[str, Any]:
        return {"job_ids": [], "first_rows": [], "complete": False}

    def _state_from_xcom(self, context: Context) -> dict[str, Any] | None:
        """Return the job ids this try pushed to XCom before deferring, or None.

        For a resume that lost the deferral's kwargs where no ``task_state_store`` exists (``airflow dags
        test`` on Airflow 2.11). Each part's first input line is not among them: failed rows of a split file
        are then numbered within their part.
        """
        ids = own_xcom(context, self.task_id, JOB_IDS_KEY)
        return _as_state(ids) if ids else None

    def _stored_state(self, context: Context) -> dict[str, Any] | None:
        store = context.get("task_state_store")
        stored = store.get(self.external_id_key) if store is not None and self.reattach_on_retry else None
        return self._with_parts(stored, context) if stored else None

    def _with_parts(self, job_ids: Any, context: Context) -> dict[str, Any]:
        """Return the task's state from the stored ids and this operator's parts record beside them."""
        store = context.get("task_state_store")
        return _as_state(job_ids, store.get(JOB_PARTS_KEY) if store is not None else None)

    # -- ResumableJobMixin ------------------------------------------------------------------------------------
    def submit_job(self, context: Context) -> Any:
        """Create the task's jobs: all of them on a fresh start, else the parts whose stored job failed.

        The mixin calls this when no ids are stored, or when ``get_job_status`` found a stored job failed. The
        decision of what to keep is this operator's: a part whose job completed or still runs keeps it (a
        split file's other parts are not loaded twice); only the failed parts get a new job.

        :param context: the task's context.
        :return: the job ids, one per part (``create_jobs`` stored them as each job came to exist).
        """
        found, self._found = self._found, None
        if found is None:
            state = self._new_state()
        else:
            state, jobs = found
            state["job_ids"] = [
                None if job is not None and job.phase is Phase.FAILED else job_id
                for job_id, job in zip(state["job_ids"], jobs, strict=True)
            ]
            self.log.info(
                "Creating anew the parts whose job failed: %s", [n for n, i in enumerate(state["job_ids"]) if i is None]
            )
            state["complete"] = False
        self._create(context, state)
        self._state = state
        return list(state["job_ids"])

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """Return Zoho's own state of the stored job that decides the task: a failed one, else a running one.

        Polls each stored job once. When none failed or runs, the state is a completed job's; parts without
        a job yet (the last try stopped while creating them) count as running, since creating them is part
        of the wait.

        :param external_id: the job ids ``task_state_store`` holds under ``zoho_job_ids``.
        :param context: the task's context.
        :return: the state as Zoho spells it (``IN PROGRESS``, ``COMPLETED``, ``1004``...); empty when no stored
            job answered with one.
        """
        state = self._with_parts(external_id, context)
        jobs = [self._poll_once(job_id) if job_id else None for job_id in state["job_ids"]]
        self._found = (state, jobs)
        self.log.info(
            "Found Zoho jobs %s from an earlier try: %s", state["job_ids"], [job and job.state for job in jobs]
        )
        if (ti := context.get("ti")) is not None:
            ti.xcom_push(key=JOB_IDS_KEY, value=[job_id for job_id in state["job_ids"] if job_id])
        polled = [job for job in jobs if job is not None]
        deciding = next((job for job in polled if job.phase is Phase.FAILED), None)
        if deciding is None and (not state["complete"] or None in state["job_ids"]):
            return ""  # parts to create: a state no finished job has, so the mixin reattaches
        deciding = deciding or next((job for job in polled if job.phase is Phase.PENDING), None)
        deciding = deciding or next(iter(polled), None)
        return "" if deciding is None else deciding.state or ""

    def is_job_active(self, status: str) -> bool:
        """Tell the mixin to reattach: Zoho's state is neither a success nor a failure of this kind.

        A state this code does not know counts as running, as the sensors treat it.

        :param status: Zoho's state, from ``get_job_status``.
        :return: True while the job runs.
        """
        state = normalize_state(status)
        return state not in self.job_kind.succeeded and state not in self.job_kind.failed

    def is_job_succeeded(self, status: str) -> bool:
        """Tell the mixin the stored jobs completed, so that only the summary is left to build.

        :param status: Zoho's state, from ``get_job_status``.
        :return: True for one of the kind's success states.
        """
        return normalize_state(status) in self.job_kind.succeeded

    def poll_until_complete(self, external_id: Any, context: Context) -> None:
        """Create the parts still without a job, then wait for every job and build the summary.

        :param external_id: the job ids (as ``submit_job`` returned them, or as stored).
        :param context: the task's context.
        """
        self._result = self._complete_and_wait(external_id, context)

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        """Return the summary: built by ``poll_until_complete``, or now for stored jobs that all completed.

        :param external_id: the job ids.
        :param context: the task's context.
        :return: the task's summary.
        """
        if self._result is None:
            self._result = self._complete_and_wait(external_id, context)
        return self._result

    def _complete_and_wait(self, job_ids: Any, context: Context) -> dict[str, Any]:
        """Create what the task still lacks (a part without a job), wait for every job, build the summary."""
        state = self._state
        if state is None:
            found, self._found = self._found, None
            state = found[0] if found is not None else self._with_parts(job_ids, context)
        self._state = None
        if not state["complete"] or None in state["job_ids"]:
            state["complete"] = False
            self._create(context, state)
        return self._wait(context, state, {})

    # -- waiting ----------------------------------------------------------------------------------------------
    def _poll_once(self, job_id: str) -> JobStatus:
        return poll_job(self.hook, self.job_kind, self.job_coordinates(job_id), self.log)

    def _wait(self, context: Context, state: dict[str, Any], done: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Wait for each job in turn (poke, or defer per job), then build the summary."""
        self._waiting_on = [job_id for job_id in state["job_ids"] if job_id and job_id not in done]
        for job_id in state["job_ids"]:
            while job_id not in done:
                job = self._poll_once(job_id)
                if job.phase is Phase.FAILED:
                    self._job_failed(job.describe())
                if job.phase is Phase.SUCCEEDED:
                    self.log.info("%s", job.describe())
                    done[job_id] = job.summary()
                    break
                job.log_progress(self.log)
                if time.time() >= self._end_time:
                    self._timed_out(job_id)
                if self.deferrable:
                    self._defer(state, done, job_id)
                time.sleep(max(0.0, min(self.poll_interval, self._end_time - time.time())))
            self._waiting_on = [waiting for waiting in self._waiting_on if waiting != job_id]
        return self._summary(context, state, [done[job_id] for job_id in state["job_ids"]])

    def _defer(self, state: dict[str, Any], done: dict[str, dict[str, Any]], job_id: str) -> NoReturn:
        self.defer(
            trigger=job_trigger(self, self.job_coordinates(job_id), self._end_time),
            method_name="execute_complete",
            kwargs={"state": state, "done": done, "end_time": self._end_time},
            timeout=timedelta(seconds=max(0.0, self._end_time - time.time()) + DEFERRAL_GRACE_SECONDS),
        )

    def execute_complete(
        self,
        context: Context,
        event: Any,
        state: dict[str, Any] | None = None,
        done: dict[str, dict[str, Any]] | None = None,
        end_time: float | None = None,
    ) -> Any:
        """Record a job that ended in the triggerer and go on with the next (deferring again if it runs).

        ``airflow dags test`` of Airflow 3.3.2 resumes a task with the trigger's event alone, dropping the
        deferral's other kwargs (a triggerer keeps them): the jobs then come from ``task_state_store``, the
        jobs already done are polled once more, and the deadline restarts.

        :param context: the task's context.
        :param event: the trigger's event (``jobs.JobEvent``).
        :param state: the task's jobs, as the deferral passed them.
        :param done: the summary of each job already ended, by job id.
        :param end_time: the task's absolute deadline.
        :return: the task's summary once every job has ended.
        """
        with permanent_errors_fail_at_once():
            return self._resume(context, event, state, done, end_time)

    def _resume(
        self,
        context: Context,
        event: Any,
        state: dict[str, Any] | None,
        done: dict[str, dict[str, Any]] | None,
        end_time: float | None,
    ) -> Any:
        if state is None:
            state = self._stored_state(context) or self._state_from_xcom(context)
            if state is None:
                raise AirflowException(
                    "resumed without the deferral's kwargs (airflow dags test?), and neither task_state_store "
                    f"nor this try's {JOB_IDS_KEY} XCom holds the job ids"
                )
        done = {} if done is None else done
        self._end_time = time.time() + float(self.timeout) if end_time is None else end_time
        try:
            status, outcome = checked_event(event)
        except ValueError as error:
            raise AirflowException(str(error)) from error
        if status is EventStatus.SUCCESS and outcome["summary"] is not None:
            self.log.info("%s", outcome["message"])
            done[str(outcome["summary"]["job_id"])] = outcome["summary"]
            return self._wait(context, state, done)
        self.log.error("%s", outcome["message"])
        if status is EventStatus.ERROR:
            raise AirflowFailException(outcome["message"])
        if status is EventStatus.FAILED:
            self._job_failed(outcome["message"])
        if status is EventStatus.TIMEOUT:
            self._timed_out(next(job_id for job_id in state["job_ids"] if job_id and job_id not in done))
        raise AirflowException(f"{outcome['message']}: a retry reattaches")

    def _timed_out(self, job_id: str) -> NoReturn:
        self.cancel_jobs([job_id], "the wait timed out")
        raise AirflowException(f"Timed out waiting for {self.job_kind.label} {job_id}: a retry reattaches")

    def _job_failed(self, message: str) -> NoReturn:
        # Retryable on purpose: a retry finds the failed job in task_state_store and creates it anew.
        raise AirflowException(f"{message}; a retry creates the failed job anew")

    # -- the summary ------------------------------------------------------------------------------------------
    def _summary(self, context: Context, state: Mapping[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for job in jobs:
            for name, value in job.get("counts", {}).items():
                counts[name] = counts.get(name, 0) + value
        not_landed = sum(self.job_kind.not_landed(job.get("counts", {})) or 0 for job in jobs)
        self._summarising = (state, jobs)
        try:
            failed = self.failed_rows(context, state, jobs)
        finally:
            self._summarising = None
        summary = {
            "kind": self.job_kind.name,
            "job_ids": list(state["job_ids"]),
            "state": "COMPLETED",
            "counts": self.summary_counts(counts),
            # Rows of a file Zoho (or whatever answered) wrote: an echo of the request must not reach XCom.
            "failed_records": json.loads(self.hook.redact(json.dumps(failed.kept))),
            "jobs": summary_jobs(jobs),  # each answer cut short: the summary is an XCom
            **self.summary_extras(jobs),
        }
        if self.max_failed_records is not None and not_landed > self.max_failed_records:
            codes = ", ".join(f"{code} ({n})" for code, n in list(failed.codes.items())[:5]) or "not known"
            message = (
                f"{not_landed} record(s) did not land, more than max_failed_records={self.max_failed_records}: "
                f"counts {summary['counts']}; first error codes: {codes}"
            )
            self.log.error("%s", message)
            raise AirflowFailException(message)
        self._last_summary = summary
        self._tell_outlets(context, {"job_ids": summary["job_ids"], "counts": summary["counts"]})
        return summary

    def _tell_outlets(self, context: Context, extra: dict[str, Any]) -> None:
        """Put what landed into the asset event of each of the task's outlets, for DAGs scheduled on them."""
        tell_outlets(self, context, extra)

    # -- lineage ------------------------------------------------------------------------------------------------
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Return the task's lineage for Airflow's OpenLineage listener: the file in, the Zoho side out.

        :param task_instance: the finished task instance (unused: the operator kept what it wrote).
        :return: an ``OperatorLineage``, the output with the records that landed.
        """
        return self._lineage(self._last_summary)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Return the task's lineage when it failed: the same datasets, without statistics.

        :param task_instance: the failed task instance (unused).
        :return: an ``OperatorLineage``.
        """
        return self._lineage(None)

    def _lineage(self, summary: Mapping[str, Any] | None) -> Any:
        counts = (summary or {}).get("counts") or {}
        landed = sum(counts.get(name, 0) for name in self.job_kind.landed_counts) if summary else None
        zoho = zoho_dataset(self.job_kind.name, self.hook.config, self.link_parts())
        source = getattr(self, "file", None)
        output = None if zoho is None else dataclasses.replace(zoho, rows=landed)
        return operator_lineage([file_dataset(source) if isinstance(source, str) else None], [output])

    def summary_counts(self, counts: dict[str, int]) -> dict[str, int]:
        """Return the summed counts as the summary shows them (a subclass may derive more).

        :param counts: each count of the kind, summed over the jobs.
        :return: the summary's ``counts``.
        """
        return counts


@contextlib.contextmanager
def permanent_errors_fail_at_once() -> Iterator[None]:
    """Fail the task without its retries on what no retry can fix, as retries would spend Zoho's token budget.

    Such errors are wrong credentials (``invalid_client``, ``invalid_code``), a missing scope, no permission,
    an unknown ``data_center``: a ``ZohoFatalError`` or ``ZohoConnectionError`` becomes an
    ``AirflowFailException``. Transient trouble still raises as it is: a retry may succeed.
    """
    try:
        yield
    except (ZohoFatalError, ZohoConnectionError) as error:
        raise AirflowFailException(f"{error} (no retry can fix this)") from error


def _as_state(stored: Any, parts: Any = None) -> dict[str, Any]:
    """Return the task's state from what a try stored, checked where it enters.

    ``stored`` is the plain id list under ``zoho_job_ids`` (None: a part to create), with ``parts`` this
    operator's record beside it; a list without that record (as a mixin user might write it, or the XCom
    fallback) is a complete set of jobs. The dict version 0.1.0 stored under ``zoho_job_ids`` (ids, first
    rows and completeness together: a task in flight across an upgrade), and the deferral's kwargs, are read
    too.

    What ``task_state_store`` or XCom holds is checked like an answer: each id must be Zoho's digits (it goes
    into URLs and log lines), ``complete`` a real boolean (the text ``"false"`` is not False), each first row a
    line number. A corrupt entry fails the task naming it: a new job would duplicate the stored one's work.
    """
    if isinstance(stored, dict) and isinstance(stored.get("job_ids"), list):
        stored, parts = stored["job_ids"], {key: stored[key] for key in ("first_rows", "complete") if key in stored}
        parts.setdefault("complete", False)
    if not isinstance(stored, list):
        raise _corrupt_state(f"it is not what this operator writes: {_shown(stored)}")
    if parts is None:
        parts = {"complete": None not in stored}
    if not isinstance(parts, dict):
        raise _corrupt_state(f"{JOB_PARTS_KEY} is not what this operator writes: {_shown(parts)}")
    problems = [
        f"job_ids[{n}]: {problem}"
        for n, job_id in enumerate(stored)
        if job_id is not None and (problem := job_id_problem(job_id))
    ]
    complete = parts.get("complete", False)
    if not isinstance(complete, bool):
        problems.append(f"complete must be true or false, got {_shown(complete)}")
    rows = parts.get("first_rows") or []
    if not isinstance(rows, list) or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 2 for r in rows):
        problems.append(f"first_rows must be input line numbers (2 or more), got {_shown(rows)}")
    if problems:
        raise _corrupt_state("; ".join(problems))
    # A part whose first line is not recorded (the task stopped between the two writes) numbers its failed
    # rows within the part.
    rows = [*rows[: len(stored)], *[2] * (len(stored) - len(rows))]
    return {
        "job_ids": [None if job_id is None else str(job_id) for job_id in stored],
        "first_rows": rows,
        "complete": complete,
    }


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _corrupt_state(why: str) -> AirflowFailException:
    return AirflowFailException(
        f"{JOB_IDS_KEY} stored by an earlier try is corrupt ({why}); no job was created or polled. Clear the "
        "task's stored state (or the task instance) once you know what became of the jobs it named"
    )


def own_xcom(context: Context, task_id: str, key: str) -> Any:
    """Return what this task (this map index) pushed under ``key`` during this try, or None.

    :param context: the task's context.
    :param task_id: the task's id.
    :param key: the XCom key.
    :return: the value, or None without a task instance or a push.
    """
    ti = context.get("ti")
    return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=ti.map_index) if ti else None


def repeat_while_busy(
    call: Callable[[], _T],
    codes: Collection[str],
    what: str,
    end_time: float,
    poll_interval: float,
    log: Any,
    before_waiting: Callable[[], None] | None = None,
) -> _T:
    """Make ``call()``, again every ``poll_interval`` while Zoho answers one of ``codes``, until ``end_time``.

    :param call: the request.
    :param codes: Zoho's codes that mean "busy" or "not ready yet, try later".
    :param what: what the call does, for the log and the error.
    :param end_time: the task's absolute deadline; a busy answer still coming then fails the task (retryable).
    :param poll_interval: the seconds between two calls.
    :param log: the task's logger.
    :param before_waiting: called before each wait (a deferrable task defers there instead of sleeping).
    :return: what ``call()`` returned.
    :raises AirflowException: still busy at the deadline; any other error is raised as it is.
    """
    while True:
        try:
            return call()
        except ZohoError as error:
            if error.code not in codes:
                raise
            if time.time() >= end_time:
                raise AirflowException(
                    f"{what}: Zoho still answered {error.code} at the task's deadline ({error.message}); a retry "
                    "tries again"
                ) from None
            log.info("%s: Zoho answered %s (%s); trying again in %ss", what, error.code, error.message, poll_interval)
            if before_waiting is not None:
                before_waiting()
            time.sleep(max(0.0, min(poll_interval, end_time - time.time())))


def tell_outlets(operator: Any, context: Context, extra: dict[str, Any]) -> None:
    """Put ``extra`` into the asset event of each of an operator's outlets (``outlet_events``), for its consumers.

    :param operator: the task's operator (its ``outlets`` and ``log``).
    :param context: the task's context.
    :param extra: what arrived, JSON-safe.
    """
    events = context.get("outlet_events")
    if events is None:
        return
    for outlet in operator.outlets or []:
        try:
            events[outlet].extra.update(extra)
        except (KeyError, TypeError, AttributeError) as error:  # not an asset (Airflow refuses it), or no event
            operator.log.warning("No asset event for outlet %r: %s", outlet, error)


def poll_job(hook: ZohoHook, kind: JobKind, coordinates: dict[str, str | None], log: Any) -> JobStatus:
    """Read one job's status with the sensors' error table; transient trouble reads as still running.

    :param hook: the task's hook.
    :param kind: the job's kind.
    :param coordinates: where the job is.
    :param log: the task's logger.
    :return: the job's status (pending after transient trouble).
    :raises AirflowFailException: an error no poll can change (unknown job, wrong scope, a bad connection).
    """
    try:
        return hook.get_job_status(kind, coordinates)
    except ZohoTransientError as error:
        job_id = kind.job_id_of(coordinates)
        log.warning("%s %s: %s; polling again", kind.label, job_id, error)
        return JobStatus(kind, job_id, None, Phase.PENDING, {}, None, recognized=True)
    except (ZohoError, ZohoConnectionError) as error:
        log.error("%s", error)
        raise AirflowFailException(str(error)) from error


def job_trigger(operator: Any, coordinates: dict[str, str | None], end_time: float) -> ZohoJobTrigger:
    """Return the trigger that waits for one of an operator's jobs, as its sensors' trigger does.

    A kind of the provider's own goes by its name; any other by its import path, which the triggerer imports.

    :param operator: the operator (its ``job_kind``, ``zoho_conn_id`` and ``poll_interval``).
    :param coordinates: the job's coordinates.
    :param end_time: the task's absolute deadline.
    :return: the trigger.
    """
    kind: JobKind = operator.job_kind
    reference = f"{type(operator).__module__}:{type(operator).__qualname__}.job_kind"
    return ZohoJobTrigger(
        kind=kind.name if JOB_KINDS.get(kind.name) is kind else reference,
        coordinates=coordinates,
        end_time=end_time,
        zoho_conn_id=operator.zoho_conn_id,
        poll_interval=operator.poll_interval,
    )
